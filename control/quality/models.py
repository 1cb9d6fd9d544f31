"""Quality holds: parts kept from shipping until a person releases or scraps them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from control.evidence import Evidence


class HoldStatus(StrEnum):
    held = "held"
    released = "released"  # checked and found good
    scrapped = "scrapped"  # checked and found bad

    @property
    def final(self) -> bool:
        return self is not HoldStatus.held


class QualityHoldDraft(BaseModel):
    """What a rule or a person asks to hold; the store adds id, status and times."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(min_length=3, max_length=500)
    # The suspect lot as a range of the station's inspected-part count, where known.
    parts_from: int | None = Field(default=None, ge=0)
    parts_to: int | None = Field(default=None, ge=0)
    evidence: tuple[Evidence, ...] = Field(default=(), max_length=50)

    @model_validator(mode="after")
    def _ordered(self) -> QualityHoldDraft:
        if (
            self.parts_from is not None
            and self.parts_to is not None
            and self.parts_from > self.parts_to
        ):
            raise ValueError(f"parts_from {self.parts_from} is after parts_to {self.parts_to}")
        return self


class QualityHold(QualityHoldDraft):
    id: str  # QH-000001
    asset: str
    line: str
    status: HoldStatus
    placed_by: str
    placed_at: datetime
    updated_at: datetime
    resolved_by: str | None = None
    resolution_note: str | None = None
    source_request: str | None = None  # <request id>:<step> of the plan step that placed it
