"""Log probabilities of several answers to one prompt, from llama.cpp in one batched pass.

llama-cpp-python's ``Llama`` keeps one sequence per context, so scoring 24 class names meant
24 decodes of a few tokens each (3.5 s per observation on two cores). Here the prompt is
decoded once into sequence 0, each answer's sequence shares that cache (``seq_cp``: no copy
with a unified cache), and every answer decodes in one batch (under 1 s). Several LoRA adapters
(an ensemble's members) share the model and the context: each is applied in turn, one such pass
each. Uses llama.cpp's C API as llama-cpp-python binds it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from andon.logging import logger_level
from retrieval.weights import WeightsError

# Before llama.cpp's library loads (see assistant/llm/embedded.py): steady threads on busy cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import llama_cpp as C

# llama-cpp-python routes llama.cpp's log through this logger, printing every line it lets
# through; Llama(verbose=False) sets the same level (which lets llama.cpp's warnings through).
LLAMA_LOG = "llama-cpp-python"
logging.getLogger(LLAMA_LOG).setLevel(logging.ERROR)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class AnswerScorer:
    """A GGUF model with each of its LoRA adapters applied in turn, scoring fixed answers after
    any prompt.

    Not safe from two threads at once (llama.cpp's context is not): a lock serialises calls.
    """

    def __init__(
        self,
        model: Path,
        adapters: Sequence[Path],
        answers: Sequence[str],
        *,
        prompt_tokens: int,
        threads: int,
    ) -> None:
        C.llama_backend_init()
        self._lock = threading.Lock()
        self._model = self._ctx = None
        self._adapters: list[C.llama_adapter_lora_p] = []
        self._batch: C.llama_batch | None = None
        params = C.llama_model_default_params()
        params.n_gpu_layers = 0
        # Loading warns about the GGUF's tokenizer ("</s>" not marked as control), as it does
        # under Llama(verbose=False), which silences loading altogether.
        with logger_level(LLAMA_LOG, logging.CRITICAL):
            self._model = C.llama_model_load_from_file(str(model).encode(), params)
        if not self._model:
            raise WeightsError(f"llama.cpp could not load {model}")
        self._vocab = C.llama_model_get_vocab(self._model)
        self._n_vocab = C.llama_vocab_n_tokens(self._vocab)
        # llama.cpp warns once per MLP block that the adapter's matrices for weights it
        # repacked for AVX2 stay in plain CPU memory: expected, and 12 lines on every start.
        for adapter in adapters:
            with logger_level(LLAMA_LOG, logging.CRITICAL):
                loaded = C.llama_adapter_lora_init(self._model, str(adapter).encode())
            if not loaded:
                self.close()
                raise WeightsError(
                    f"llama.cpp could not apply the LoRA adapter {adapter} to {model}"
                )
            self._adapters.append(loaded)
        eos = C.llama_vocab_eos(self._vocab)
        # Each answer's tokens, then the end token: the name and nothing after it.
        self.answers = [(*self.tokenize(answer), eos) for answer in answers]
        self.prompt_room = prompt_tokens
        # The prompt, then every answer but its end token (only predicted, never read).
        cells = prompt_tokens + sum(len(a) - 1 for a in self.answers)
        sequences = 1 + len(self.answers)
        if sequences > C.llama_max_parallel_sequences():
            self.close()
            raise WeightsError(f"{len(self.answers)} answers are more than llama.cpp can batch")
        context = C.llama_context_default_params()
        context.n_ctx = context.n_batch = context.n_ubatch = cells
        context.n_seq_max = sequences
        context.kv_unified = True  # the answers share the prompt's cells
        context.n_threads = context.n_threads_batch = threads
        self._ctx = C.llama_init_from_model(self._model, context)
        if not self._ctx:
            self.close()
            raise WeightsError(f"llama.cpp could not create a context for {model}")
        self._batch = C.llama_batch_init(cells, 0, sequences)

    def tokenize(self, text: str) -> list[int]:
        data = text.encode("utf-8")
        room = len(data) + 8  # a token covers at least one byte
        tokens = (C.llama_token * room)()
        count = C.llama_tokenize(self._vocab, data, len(data), tokens, room, False, False)
        if count < 0:
            raise ValueError(f"cannot tokenize {text[:40]!r}")
        return list(tokens[:count])

    def log_likelihoods(self, prompt: Sequence[int]) -> np.ndarray:
        """``(adapters, answers)``: log P(answer, end | prompt) of each answer, with each
        adapter applied."""
        if not 0 < len(prompt) <= self.prompt_room:
            raise ValueError(f"a prompt holds 1 to {self.prompt_room} tokens, got {len(prompt)}")
        with self._lock:
            return np.stack([self._score(adapter, prompt) for adapter in self._adapters])

    def _score(self, adapter: C.llama_adapter_lora_p, prompt: Sequence[int]) -> np.ndarray:
        applied = (C.llama_adapter_lora_p_ctypes * 1)(adapter)
        if C.llama_set_adapters_lora(self._ctx, applied, 1, (ctypes.c_float * 1)(1.0)):
            raise RuntimeError("llama.cpp could not set a LoRA adapter")
        start = len(prompt)
        memory = C.llama_get_memory(self._ctx)
        C.llama_memory_clear(memory, True)
        self._decode([(token, pos, 0, pos == start - 1) for pos, token in enumerate(prompt)])
        first = _log_softmax(self._logits(start - 1))  # predicts every answer's first token
        for seq in range(1, len(self.answers) + 1):
            C.llama_memory_seq_cp(memory, 0, seq, -1, -1)
        rows = [
            (token, start + j, seq, True)
            for seq, answer in enumerate(self.answers, start=1)
            for j, token in enumerate(answer[:-1])
        ]
        self._decode(rows)
        predicted = _log_softmax(np.stack([self._logits(i) for i in range(len(rows))]))
        scores = np.empty(len(self.answers))
        row = 0
        for i, answer in enumerate(self.answers):
            # Row j of this answer predicts its token j + 1 (the last one, the end token).
            rest = predicted[row : row + len(answer) - 1]
            scores[i] = first[answer[0]] + rest[np.arange(len(rest)), list(answer[1:])].sum()
            row += len(answer) - 1
        return scores

    def _decode(self, rows: Sequence[tuple[int, int, int, bool]]) -> None:
        """One batch of (token, position, sequence, wants logits) rows."""
        batch = self._batch
        assert batch is not None
        for i, (token, pos, seq, logits) in enumerate(rows):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits
        batch.n_tokens = len(rows)
        if (code := C.llama_decode(self._ctx, batch)) != 0:
            raise RuntimeError(f"llama.cpp failed to decode a batch (code {code})")

    def _logits(self, index: int) -> np.ndarray:
        pointer = C.llama_get_logits_ith(self._ctx, index)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).copy()

    def close(self) -> None:
        if self._batch is not None:
            C.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx:
            C.llama_free(self._ctx)
            self._ctx = None
        for adapter in self._adapters:
            C.llama_adapter_lora_free(adapter)
        self._adapters.clear()
        if self._model:
            C.llama_model_free(self._model)
            self._model = None
