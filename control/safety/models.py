from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EmergencyStopRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="emergency stop", min_length=1, max_length=500)


class ManualOverrideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool
    reason: str = Field(min_length=3, max_length=500)


class SafetyResult(BaseModel):
    target: str
    done: bool
    detail: str
    elapsed_ms: float
