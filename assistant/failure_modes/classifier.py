"""``classify(text)``: the ISO 14224 failure mode of a symptom, from the shipped model.

The model (``model.npz`` beside this file) is loaded once, after its sha256 matches the pin below;
retraining (``andon train failure-modes``) prints the new file's sha256 to pin here.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from control.workorders.models import FailureMode
from retrieval.embedding import MODEL_ID, MiniLMEmbedder
from retrieval.weights import WeightsError

from . import artifact
from .artifact import ModelArtifact
from .features import clean, features
from .labels import CLASS_MODES, DESCRIPTIONS

MODEL_PATH = Path(__file__).with_name("model.npz")
MODEL_SHA256 = "f3f44748912fd21a6edba08aff38100f2b40247a50030de2c97a1bdbb68cb592"


class FailureModeGuess(BaseModel):
    model_config = ConfigDict(frozen=True)

    mode: FailureMode
    label: str  # the ISO 14224 description of mode
    confidence: float = Field(ge=0.0, le=1.0)  # the model's probability of its class


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class FailureModeClassifier:
    """A loaded model and the embedder its features need."""

    def __init__(self, model: ModelArtifact, embedder: MiniLMEmbedder) -> None:
        if model.embedder_id != MODEL_ID:
            # Weights fitted on other embeddings would read this embedder's vectors as noise.
            raise WeightsError(
                f"the failure-mode model was trained on embeddings {model.embedder_id!r}, "
                f"but this embedder is {MODEL_ID!r}: retrain with `andon train failure-modes`"
            )
        self.model = model
        self.embedder = embedder

    @classmethod
    def load(
        cls,
        path: Path = MODEL_PATH,
        sha256: str | None = MODEL_SHA256,
        embedder: MiniLMEmbedder | None = None,
    ) -> FailureModeClassifier:
        return cls(artifact.read(path, sha256), embedder or MiniLMEmbedder(threads=1))

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), classes)``: each row a distribution over ``model.labels``."""
        rows = features(texts, self.model.tfidf, self.embedder)
        return softmax(rows @ self.model.weights + self.model.bias)

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The data-set class name of each text (what evaluation compares)."""
        best = self.probabilities(texts).argmax(axis=1)
        return [self.model.labels[i] for i in best]

    def classify(self, text: str) -> FailureModeGuess:
        if not clean(text):
            return FailureModeGuess(
                mode=FailureMode.UNK, label=DESCRIPTIONS[FailureMode.UNK], confidence=0.0
            )
        (row,) = self.probabilities([text])
        best = int(row.argmax())
        mode = CLASS_MODES[self.model.labels[best]]
        # Classes that file as the same mode (Fail to function, Failure to rotate) pool their odds.
        same = [i for i, name in enumerate(self.model.labels) if CLASS_MODES[name] == mode]
        confidence = min(1.0, float(row[same].sum()))
        return FailureModeGuess(mode=mode, label=DESCRIPTIONS[mode], confidence=confidence)


@cache
def default_classifier() -> FailureModeClassifier:
    """The shipped model, verified and loaded on first use."""
    return FailureModeClassifier.load()


def classify(text: str) -> FailureModeGuess:
    """The failure mode of a free-text symptom, e.g. "press 3 bearing running hot" -> OHE."""
    return default_classifier().classify(text)
