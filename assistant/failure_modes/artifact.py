"""The shipped model: LoRA adapters for the 1.5B language model (GGUF) and their manifest.

The model is an ensemble: the same training with different seeds, one adapter each (a single
seed's figure moves by several observations on a 62-row split). The manifest (JSON) names the
base model by sha256, every member's adapter file by sha256 with its settings, the classes in
the order training used and the training rows. Only the manifest's own sha256 is pinned in code
(``classifier.MANIFEST_SHA256``); it pins the rest, so one pin vets every file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from assistant.llm.weights import QWEN_CODER_1_5B
from retrieval.weights import WeightsError

from .labels import CLASS_MODES

# The model the adapter is trained on and applied to.
BASE_MODEL = QWEN_CODER_1_5B
FORMAT = "andon-failure-modes/3"
# The seeds of the shipped ensemble (README, "Session 15": chosen before any figure).
SEEDS = (0, 1, 2)

# The projections of every transformer block that LoRA adapts: attention and MLP.
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class TrainingSettings(BaseModel):
    """Fixed before any figure was seen (assistant/failure_modes/README.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rank: int = Field(default=16, ge=1)
    alpha: float = Field(default=32.0, gt=0)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    epochs: int = Field(default=3, ge=1)
    batch_size: int = Field(default=8, ge=1)
    learning_rate: float = Field(default=3e-4, gt=0)
    warmup_steps: int = Field(default=20, ge=0)
    seed: int = 0


class Member(BaseModel):
    """One trained adapter of the ensemble."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # A file beside the manifest: a bare name, so a manifest cannot point elsewhere on disk.
    adapter: str = Field(pattern=r"^[A-Za-z0-9_.-]+\.gguf$")
    adapter_sha256: str
    settings: TrainingSettings


class AdapterManifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["andon-failure-modes/3"] = FORMAT
    base_model: str  # the GGUF file name of assistant.llm.weights' model it adapts
    base_sha256: str
    labels: tuple[str, ...]  # data-set class names, in training's order
    train_rows: int
    train_sha256: str  # the rows every member was trained on (data set, then plant records)
    members: tuple[Member, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_file_per_member(self) -> AdapterManifest:
        if len({m.adapter for m in self.members}) != len(self.members):
            raise ValueError("two members name the same adapter file")
        return self


def adapter_file(seed: int) -> str:
    return f"adapter-seed{seed}.gguf"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def write(manifest: AdapterManifest, folder: Path) -> str:
    """Writes ``folder/<manifest name>`` beside the adapter and returns the manifest's sha256."""
    data = (json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode()
    (folder / "manifest.json").write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def read(path: Path, sha256: str | None) -> AdapterManifest:
    """The manifest at ``path`` once it, and the adapter it names, hash to what is pinned."""
    if not path.is_file():
        raise WeightsError(f"failure-mode model manifest {path} is missing")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256:
        raise WeightsError(
            f"{path} has sha256 {digest}, expected {sha256}: refusing to load a failure-mode "
            "model that is not the vetted one (retrain with `andon train failure-modes`)"
        )
    try:
        manifest = AdapterManifest.model_validate_json(data)
    except ValidationError as exc:
        raise WeightsError(f"{path} is not a failure-mode model manifest: {exc}") from None
    unknown = set(manifest.labels) - set(CLASS_MODES)
    if unknown:
        raise WeightsError(f"{path} predicts unknown classes {sorted(unknown)}")
    for member, adapter in zip(manifest.members, adapter_paths(path, manifest), strict=True):
        if not adapter.is_file():
            raise WeightsError(f"failure-mode adapter {adapter} is missing")
        if (found := sha256_of(adapter)) != member.adapter_sha256:
            raise WeightsError(
                f"{adapter} has sha256 {found}, but its manifest pins {member.adapter_sha256}"
            )
    return manifest


def adapter_paths(manifest_path: Path, manifest: AdapterManifest) -> list[Path]:
    """Each member's adapter file, in the manifest's order."""
    return [manifest_path.with_name(member.adapter) for member in manifest.members]
