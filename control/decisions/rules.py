"""Ids of the built-in checks, as reported in `StepVerdict.rules`.

Interlocks report their own ids from the plant model; these are the checks that hold
for every plant.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Rule(StrEnum):
    # Denials
    plant_disconnected = "plant_disconnected"
    unknown_role = "unknown_role"
    role_may_not_request = "role_may_not_request"
    unknown_asset = "unknown_asset"
    command_not_accepted = "command_not_accepted"
    manual_override = "manual_override"
    unknown_tag = "unknown_tag"
    not_a_setpoint = "not_a_setpoint"
    outside_safe_range = "outside_safe_range"
    current_value_unknown = "current_value_unknown"
    step_too_large = "step_too_large"
    asset_locked_out = "asset_locked_out"
    unknown_alarm = "unknown_alarm"
    alarm_not_pending = "alarm_not_pending"
    lock_not_held = "lock_not_held"
    work_order_asset_mismatch = "work_order_asset_mismatch"
    no_approver = "no_approver"
    # Approvals
    risk_requires_approval = "risk_requires_approval"
    role_may_not_execute = "role_may_not_execute"
    foreign_lock = "foreign_lock"


@dataclass(frozen=True)
class Finding:
    """One check that fired: its rule id and a sentence a person can act on."""

    rule: str
    reason: str
