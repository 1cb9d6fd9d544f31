"""``classify(text)``: the ISO 14224 failure mode of a symptom, from the fine-tuned 1.5B model.

llama.cpp runs the pinned Qwen2.5-Coder-1.5B GGUF with each of the shipped LoRA adapters (an
ensemble of seeds, ``adapter-seed*.gguf`` beside this file, vetted through ``manifest.json``,
whose sha256 is pinned below; retraining with ``andon train failure-modes`` prints the new one).
Under each adapter, each class scores the log probability that the model continues the
observation's prompt with the class's name and its end token; the members' class probabilities
are averaged and the most probable class wins. No torch at run time, nothing downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import structlog
from pydantic import BaseModel, ConfigDict, Field

from assistant.llm.weights import model_file
from control.workorders.models import FailureMode
from retrieval.weights import WeightsError

from . import artifact
from .artifact import BASE_MODEL, AdapterManifest
from .labels import CLASS_MODES, DESCRIPTIONS
from .prompt import continuation, has_words, observation, prompt
from .scorer import AnswerScorer

log = structlog.get_logger()

MANIFEST_PATH = Path(__file__).with_name("manifest.json")
MANIFEST_SHA256 = "f6e39637ae6fb5638b016138c52cd57f47c9a36243a4c03eccdd7f76c2e8d2d0"
# Room for a 500-character work-order symptom; longer observations are classified on their
# first words.
PROMPT_TOKENS = 192
DEFAULT_THREADS = 2


class FailureModeGuess(BaseModel):
    model_config = ConfigDict(frozen=True)

    mode: FailureMode
    label: str  # the ISO 14224 description of mode
    confidence: float = Field(ge=0.0, le=1.0)  # the model's probability of its class


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class FailureModeClassifier:
    """The base model with each adapter applied, scoring the class names after an observation."""

    def __init__(
        self, manifest: AdapterManifest, adapters: Sequence[Path], base: Path, *, threads: int
    ) -> None:
        if manifest.base_sha256 != BASE_MODEL.sha256:
            # An adapter trained on other weights would shift them in meaningless directions.
            raise WeightsError(
                f"the failure-mode adapter was trained on {manifest.base_model} "
                f"(sha256 {manifest.base_sha256}), not on {BASE_MODEL.file_name}: "
                "retrain with `andon train failure-modes`"
            )
        self.manifest = manifest
        self.labels = manifest.labels
        self._scorer = AnswerScorer(
            base,
            adapters,
            [continuation(label) for label in self.labels],
            prompt_tokens=PROMPT_TOKENS,
            threads=threads,
        )
        log.info(
            "failure_modes.loaded",
            adapters=[str(a) for a in adapters],
            classes=len(self.labels),
        )

    @classmethod
    def load(
        cls,
        manifest_path: Path = MANIFEST_PATH,
        sha256: str | None = MANIFEST_SHA256,
        *,
        models_dir: Path,
        threads: int = DEFAULT_THREADS,
    ) -> FailureModeClassifier:
        manifest = artifact.read(manifest_path, sha256)
        base = model_file(BASE_MODEL, models_dir)
        adapters = artifact.adapter_paths(manifest_path, manifest)
        return cls(manifest, adapters, base, threads=threads)

    def prompt_tokens(self, text: str) -> list[int]:
        """The prompt's tokens, the observation cut to its first words if it would not fit."""
        words = observation(text).split(" ")
        tokens = self._scorer.tokenize(prompt(" ".join(words)))
        while len(tokens) > PROMPT_TOKENS and len(words) > 1:
            words = words[: len(words) * 3 // 4]
            tokens = self._scorer.tokenize(prompt(" ".join(words)))
        return tokens

    def log_likelihoods(self, text: str) -> np.ndarray:
        """``(members, classes)``: log P(class name, end | prompt) for each of ``labels``,
        under each member's adapter."""
        return self._scorer.log_likelihoods(self.prompt_tokens(text))

    def probabilities(self, text: str) -> np.ndarray:
        """``(classes,)``: the members' class probabilities, averaged."""
        return _softmax(self.log_likelihoods(text)).mean(axis=0)

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The data-set class name of each text (what evaluation compares)."""
        return [self.labels[int(self.probabilities(text).argmax())] for text in texts]

    def classify(self, text: str) -> FailureModeGuess:
        if not has_words(text):
            return FailureModeGuess(
                mode=FailureMode.UNK, label=DESCRIPTIONS[FailureMode.UNK], confidence=0.0
            )
        probabilities = self.probabilities(text)
        mode = CLASS_MODES[self.labels[int(probabilities.argmax())]]
        # Classes that file as the same mode (Fail to function, Failure to rotate) pool their odds.
        same = [i for i, name in enumerate(self.labels) if CLASS_MODES[name] == mode]
        confidence = min(1.0, float(probabilities[same].sum()))
        return FailureModeGuess(mode=mode, label=DESCRIPTIONS[mode], confidence=confidence)

    def close(self) -> None:
        self._scorer.close()


@cache
def default_classifier() -> FailureModeClassifier:
    """The shipped model, verified and loaded on first use, with the site's model cache."""
    from andon.settings import Settings  # settings read the environment: only when needed

    settings = Settings()
    return FailureModeClassifier.load(models_dir=settings.models_dir, threads=settings.llm_threads)


def classify(text: str) -> FailureModeGuess:
    """The failure mode of a free-text symptom, e.g. "press 3 bearing running hot" -> OHE."""
    return default_classifier().classify(text)
