"""Contracts of the perception package: model metadata (shipped inside every signed artifact),
inference results and the registry's view of a model.

Conventions every artifact follows (the runtime relies on them):
- exactly one input, shape (-1, fixed sizes...): its first dimension is the batch;
- vision models: outputs[0] is (batch, len(classes)) class *probabilities* (softmax in the
  graph); `thresholds["min_confidence"]` (default 0.5): below it the frame goes to manual
  inspection;
- telemetry models: outputs[0] is (batch,) or (batch, 1) anomaly scores, higher is more
  anomalous; `thresholds["anomaly"]` is the score above which a window is an anomaly;
- `reference_stats` holds, per input statistic named by `perception.runtime.drift`, the
  histogram of that statistic over the training inputs (the drift monitor's PSI baseline).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Lower-case names safe as directory names and metric labels ("vision-defects").
ModelName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
# Versions sort as text: date-based "2026.11.26-1" is the convention.
ModelVersion = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")]
ModelKind = Literal["vision", "telemetry"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Strict):
    name: str = Field(min_length=1)
    shape: tuple[int, ...]  # -1 for a dynamic dimension (the batch)
    dtype: Literal["float32", "float16", "float64", "int64", "int32", "uint8"] = "float32"


class TrainingData(_Strict):
    source: str  # e.g. "../shared/data/neu-det" or "simulator camera renders, seed 7"
    samples: int = Field(ge=0)
    split: str  # how the held-out split was made, e.g. "stratified 80/20, seed 0"
    file_list_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")  # over the sorted file list


class FeatureHistogram(_Strict):
    """Distribution of one input statistic over the training inputs."""

    edges: tuple[float, ...] = Field(min_length=2)  # ascending bin edges, len(fractions)+1
    fractions: tuple[float, ...] = Field(min_length=1)  # share of samples per bin, sums to 1

    @model_validator(mode="after")
    def _consistent(self) -> FeatureHistogram:
        if len(self.edges) != len(self.fractions) + 1:
            raise ValueError("a histogram needs one more edge than fractions")
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError("histogram edges must be strictly ascending")
        if any(f < 0 for f in self.fractions) or abs(sum(self.fractions) - 1) > 1e-3:
            raise ValueError("histogram fractions must be non-negative and sum to 1")
        return self


class ModelMetadata(_Strict):
    name: ModelName
    version: ModelVersion
    kind: ModelKind
    inputs: tuple[TensorSpec, ...] = Field(min_length=1, max_length=1)
    outputs: tuple[TensorSpec, ...] = Field(min_length=1)
    classes: tuple[str, ...] = ()  # vision: one per output column; telemetry: empty
    thresholds: dict[str, float] = Field(default_factory=dict)
    # How raw data becomes the input tensor: image size, mean/std, window length, feature tags.
    preprocessing: dict[str, Any] = Field(default_factory=dict)
    training_data: TrainingData
    metrics: dict[str, float] = Field(default_factory=dict)  # held-out evaluation
    reference_stats: dict[str, FeatureHistogram] = Field(default_factory=dict)
    created_at: datetime
    trainer: str  # git commit or package version of the code that trained it

    @model_validator(mode="after")
    def _kind_rules(self) -> ModelMetadata:
        if self.kind == "vision" and len(self.classes) < 2:
            raise ValueError("a vision model needs at least two classes")
        if self.kind == "telemetry" and "anomaly" not in self.thresholds:
            raise ValueError("a telemetry model needs thresholds['anomaly']")
        shape = self.inputs[0].shape
        if shape[:1] != (-1,) or any(d <= 0 for d in shape[1:]):
            raise ValueError("the input's shape must be (-1, fixed sizes...): -1 the batch")
        return self


class Outcome(StrEnum):
    ok = "ok"  # the model's answer, fit to act on
    fallback = "fallback"  # no trustworthy answer: route to manual inspection / unknown


class Prediction(_Strict):
    """What the runtime answers for one input. Control treats a fallback as not-OK."""

    model: str
    version: str | None  # None when no version could be loaded
    stream: str
    outcome: Outcome
    label: str | None = None  # vision: a class; telemetry: "anomaly" or "normal"
    confidence: float | None = None  # vision: top class probability
    score: float | None = None  # telemetry: anomaly score
    probabilities: dict[str, float] = Field(default_factory=dict)  # vision, per class
    fallback_reason: str | None = None  # why the answer is "route to manual inspection"
    latency_ms: float = 0.0


class Health(StrEnum):
    ok = "ok"
    degraded = "degraded"  # answers are fallbacks until the cause clears
    unloaded = "unloaded"  # no version could be loaded: every answer is a fallback


class VersionInfo(_Strict):
    version: str
    created_at: datetime | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    key_id: str | None = None
    problem: str | None = None  # why the artifact is refused (unsigned, tampered, ...)


class ShadowSummary(_Strict):
    version: str
    comparisons: int
    disagreements: int
    disagreement_rate: float | None  # over the recent window; None before any comparison


class ModelStatus(_Strict):
    name: str
    kind: ModelKind | None
    active: str | None
    shadow: ShadowSummary | None
    previous: tuple[str, ...]  # rollback targets, newest last
    health: Health
    health_reasons: tuple[str, ...] = ()
    provider: str | None = None  # execution provider the active session runs on
    drift_psi: dict[str, float] = Field(default_factory=dict)
    versions: tuple[VersionInfo, ...] = ()


class PromoteBody(_Strict):
    version: ModelVersion
    reason: str = Field(min_length=3, max_length=500)


class ShadowBody(_Strict):
    version: ModelVersion | None  # None stops shadowing
    reason: str = Field(min_length=3, max_length=500)


class RollbackBody(_Strict):
    reason: str = Field(min_length=3, max_length=500)
