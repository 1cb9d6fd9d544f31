"""Fine-tunes the 1.5B language model with LoRA to name the failure mode of an observation.

The model reads ``prompt.prompt(observation)`` and learns to continue it with the class name and
its end-of-text token (``prompt.continuation``); the loss is that continuation's negative log
likelihood, each row weighted by the square root of its class's balanced weight (so the rare
classes count, without letting one-example classes dominate). Base: the pinned Qwen2.5-Coder-
1.5B-Instruct Q4_K_M GGUF, dequantised to float32 by transformers; LoRA on every attention and
MLP projection; AdamW with linear warm-up and decay. Settings: ``artifact.TrainingSettings``,
fixed before any figure was seen. torch, transformers and PEFT come with the ``train`` extra; the
classifier needs none of them.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .artifact import (
    BASE_MODEL,
    PROJECTIONS,
    AdapterManifest,
    Member,
    TrainingSettings,
    adapter_file,
    sha256_of,
)
from .dataset import Observation
from .export import write_lora_gguf
from .prompt import continuation, prompt

if TYPE_CHECKING:
    import torch

# Read by huggingface_hub and transformers when first imported: nothing may reach for a hub.
for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    os.environ.setdefault(_name, "1")

# step, total steps, that step's loss
Progress = Callable[[int, int, float], None]


@dataclass(frozen=True)
class Example:
    prompt: tuple[int, ...]  # the prompt's tokens
    answer: tuple[int, ...]  # the class name's tokens, then end-of-text
    weight: float


def class_weights(labels: Sequence[str]) -> dict[str, float]:
    """sqrt(n / (classes * count)): balanced weights, softened."""
    counts = Counter(labels)
    return {
        label: math.sqrt(len(labels) / (len(counts) * count)) for label, count in counts.items()
    }


def rows_sha256(rows: Sequence[Observation]) -> str:
    """Names the training rows: one ``text,label`` line each, in order."""
    lines = "".join(f"{row.text},{row.label}\n" for row in rows)
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def load_base(gguf_path: Path) -> tuple[Any, Any]:
    """The base model in float32 and its tokenizer, both read from the GGUF file."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
    )
    return model, tokenizer


def encode(tokenizer: Any, text: str, label: str, weight: float = 1.0) -> Example:
    def tokens(s: str) -> tuple[int, ...]:
        return tuple(tokenizer(s, add_special_tokens=False)["input_ids"])

    answer = (*tokens(continuation(label)), tokenizer.eos_token_id)
    return Example(tokens(prompt(text)), answer, weight)


def answer_log_probs(causal_lm: Any, batch: Sequence[Example]) -> torch.Tensor:
    """log P(answer | prompt) of each example, one forward pass for the batch.

    The vocabulary projection runs only where an answer token is predicted: the rest of the
    positions would cost most of the compute and feed no loss.
    """
    import torch

    # The end token is never an input: only the logits that predict it are needed.
    inputs = [[*e.prompt, *e.answer[:-1]] for e in batch]
    width = max(map(len, inputs))
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    rows, positions, targets = [], [], []
    for i, (example, tokens) in enumerate(zip(batch, inputs, strict=True)):
        ids[i, : len(tokens)] = torch.tensor(tokens)
        mask[i, : len(tokens)] = 1
        start = len(example.prompt) - 1  # the last prompt token predicts the first answer token
        for j, target in enumerate(example.answer):
            rows.append(i)
            positions.append(start + j)
            targets.append(target)
    hidden = causal_lm.model(input_ids=ids, attention_mask=mask).last_hidden_state
    logits = causal_lm.lm_head(hidden[torch.tensor(rows), torch.tensor(positions)])
    token_log_probs = torch.log_softmax(logits.float(), dim=-1)[
        torch.arange(len(targets)), torch.tensor(targets)
    ]
    return torch.zeros(len(batch)).index_add(0, torch.tensor(rows), token_log_probs)


def fit(
    model: Any,
    examples: Sequence[Example],
    settings: TrainingSettings,
    *,
    progress: Progress | None = None,
) -> Any:
    """``model`` with a LoRA adapter trained on ``examples``; returns the PEFT model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(settings.seed)  # the adapter's initial A matrices
    order = random.Random(settings.seed)
    lora = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(PROJECTIONS),
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, lora)
    causal_lm = peft_model.base_model.model
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=0.0)
    per_epoch = math.ceil(len(examples) / settings.batch_size)
    total = per_epoch * settings.epochs
    schedule = get_linear_schedule_with_warmup(optimiser, settings.warmup_steps, total)
    peft_model.train()
    step = 0
    for _ in range(settings.epochs):
        indices = list(range(len(examples)))
        order.shuffle(indices)
        for first in range(0, len(indices), settings.batch_size):
            batch = [examples[i] for i in indices[first : first + settings.batch_size]]
            weights = torch.tensor([e.weight for e in batch])
            log_probs = answer_log_probs(causal_lm, batch)
            loss = -(weights * log_probs).sum() / weights.sum()
            loss.backward()
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            step += 1
            if progress is not None:
                progress(step, total, loss.item())
    peft_model.eval()
    return peft_model


def lora_matrices(peft_model: Any) -> dict[str, np.ndarray]:
    """The adapter's A and B matrices by PEFT key, as float32 arrays."""
    from peft import get_peft_model_state_dict

    state = get_peft_model_state_dict(peft_model, save_embedding_layers=False)
    return {key: tensor.detach().float().numpy() for key, tensor in state.items()}


def train(
    rows: Sequence[Observation],
    base_gguf: Path,
    out_dir: Path,
    settings: TrainingSettings,
    *,
    threads: int = 2,
    progress: Progress | None = None,
) -> tuple[Member, Any]:
    """Fits one adapter on ``rows`` and writes it to ``out_dir`` (named by its seed); returns
    it as an ensemble member and the trained PEFT model."""
    import torch

    torch.set_num_threads(threads)
    weights = class_weights([row.label for row in rows])
    model, tokenizer = load_base(base_gguf)
    examples = [encode(tokenizer, row.text, row.label, weights[row.label]) for row in rows]
    peft_model = fit(model, examples, settings, progress=progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    adapter = out_dir / adapter_file(settings.seed)
    write_lora_gguf(lora_matrices(peft_model), settings.alpha, adapter)
    member = Member(adapter=adapter.name, adapter_sha256=sha256_of(adapter), settings=settings)
    return member, peft_model


def manifest(rows: Sequence[Observation], members: Sequence[Member]) -> AdapterManifest:
    """The manifest of adapters trained on ``rows`` (not yet written)."""
    return AdapterManifest(
        base_model=BASE_MODEL.file_name,
        base_sha256=BASE_MODEL.sha256,
        labels=tuple(sorted({row.label for row in rows})),
        train_rows=len(rows),
        train_sha256=rows_sha256(rows),
        members=tuple(members),
    )
