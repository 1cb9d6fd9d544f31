"""What perception hands to control/: one observation per part inspected or window scored."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from control.evidence import Evidence


class Observation(BaseModel):
    """One model result at one asset.

    `abnormal` is the model's finding (a defect, an anomaly); `degraded` says the model could
    not judge at all (not loaded, inputs out of distribution), which rules treat as a reason
    to act, never as "nothing seen".
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["vision", "telemetry"]
    asset: str = Field(min_length=1, max_length=64)
    subject: str = Field(min_length=1, max_length=120)  # part id or window id
    label: str = Field(min_length=1, max_length=64)
    abnormal: bool
    degraded: bool = False
    score: float = Field(allow_inf_nan=False)
    threshold: float | None = Field(default=None, allow_inf_nan=False)
    model: str = Field(min_length=1, max_length=120)  # name@version
    at: datetime
    uri: str | None = Field(default=None, max_length=500)  # stored frame, for images
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    # The station's inspected-part count when this part passed, to bound a held lot.
    part_count: int | None = Field(default=None, ge=0)

    def evidence(self) -> Evidence:
        label = "degraded" if self.degraded else self.label
        return Evidence(
            kind=self.source,
            model=self.model,
            subject=self.subject,
            label=label,
            score=self.score,
            threshold=self.threshold,
            at=self.at,
            uri=self.uri,
            sha256=self.sha256,
        )
