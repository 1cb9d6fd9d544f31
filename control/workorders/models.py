"""Work-order contracts shared by the API, plans and the store."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from control.evidence import Evidence


class Priority(StrEnum):
    emergency = "emergency"  # P1: now, production or safety at stake
    high = "high"  # P2: this shift
    medium = "medium"  # P3: this week
    low = "low"  # P4: next planned stop


class WorkOrderStatus(StrEnum):
    open = "open"
    planned = "planned"
    in_progress = "in_progress"
    on_hold = "on_hold"
    completed = "completed"
    cancelled = "cancelled"


class FailureMode(StrEnum):
    """ISO 14224 failure-mode codes (Annex B, Tables B.6 to B.9), plus two extensions.

    ELE and CTM are not ISO 14224 failure modes: the standard files electrical faults and
    contamination as failure mechanisms (Table B.2, groups 4 and 5.2). The failure-mode data set
    the classifier learns from (assistant/failure_modes/) uses them as classes, and a work order
    is better routed to an electrician as ELE than filed as OTH.
    """

    AIR = "AIR"  # abnormal instrument reading
    BRD = "BRD"  # breakdown
    ELP = "ELP"  # external leakage - process medium
    ELU = "ELU"  # external leakage - utility medium
    ERO = "ERO"  # erratic output
    FTS = "FTS"  # fail to start on demand
    STP = "STP"  # fail to stop on demand
    HIO = "HIO"  # high output
    LOO = "LOO"  # low output
    NOI = "NOI"  # noise
    OHE = "OHE"  # overheating
    PDE = "PDE"  # parameter deviation
    SER = "SER"  # minor in-service problems
    STD = "STD"  # structural deficiency
    VIB = "VIB"  # vibration
    PLU = "PLU"  # plugged / choked
    UST = "UST"  # spurious stop
    FTF = "FTF"  # fail to function on demand
    FTO = "FTO"  # fail to open on demand
    FTC = "FTC"  # fail to close on demand
    INL = "INL"  # internal leakage
    ELE = "ELE"  # electrical (extension: ISO 14224 failure mechanism 4)
    CTM = "CTM"  # contamination (extension: ISO 14224 failure mechanism 5.2)
    OTH = "OTH"  # other
    UNK = "UNK"  # unknown


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid")
    part_number: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=200)
    quantity: int = Field(default=1, ge=1, le=1000)


class WorkOrderDraft(BaseModel):
    """What a person, a rule or a model asks for; the store adds id, status and times."""

    model_config = ConfigDict(extra="forbid")
    asset: str = Field(min_length=1, max_length=64)
    symptom: str = Field(min_length=3, max_length=500)
    failure_mode: FailureMode = FailureMode.UNK
    priority: Priority = Priority.medium
    tasks: list[str] = Field(default_factory=list, max_length=30)
    parts: list[Part] = Field(default_factory=list, max_length=30)
    lockout_required: bool = False
    due: datetime | None = None
    # What a detection rule saw (images, scores, model versions); empty for people's orders.
    evidence: list[Evidence] = Field(default_factory=list, max_length=50)

    @field_validator("evidence", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return [] if value is None else value  # rows written before evidence existed


class WorkOrder(WorkOrderDraft):
    id: str
    status: WorkOrderStatus
    created_by: str
    created_at: datetime
    updated_at: datetime
    source_request: str | None = None  # id of the plan request that opened it, if any
    status_note: str | None = None
