"""What a detection leaves behind for people to check: the model, its score, the image."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Evidence(BaseModel):
    """One observation a rule acted on, attached to the work order or hold it opened."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["vision", "telemetry"]
    model: str = Field(min_length=1, max_length=120)  # name@version of the model that saw it
    subject: str = Field(min_length=1, max_length=120)  # part id or telemetry window
    label: str = Field(min_length=1, max_length=64)  # defect class, "anomaly", "degraded"
    score: float = Field(allow_inf_nan=False)
    threshold: float | None = Field(default=None, allow_inf_nan=False)
    at: datetime
    # Where the frame is kept (relative to the evidence store) and its digest, for images.
    uri: str | None = Field(default=None, max_length=500)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
