"""What must be true after an actuation: the driver reads the plant back to prove it."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from asyncua import ua

from control.opcua.errors import ActuationError
from control.opcua.nodes import Value, decode
from control.plant.models import Command, RunState

SETPOINT_REL_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Effect:
    field: str  # AssetState field to read back
    holds: Callable[[Value], bool]
    expected: str  # for the error message


def _state_is(*states: RunState) -> Callable[[Value], bool]:
    return lambda value: value in states


def command_effect(command: Command, args: tuple[str, ...]) -> Effect:
    match command:
        case Command.start | Command.resume:
            return Effect("run_state", _state_is(RunState.running), "running")
        case Command.stop:
            return Effect("run_state", _state_is(RunState.stopped), "stopped")
        case Command.pause:
            return Effect("run_state", _state_is(RunState.paused), "paused")
        case Command.acknowledge_alarm:
            (alarm,) = args
            return Effect(
                "unacknowledged_alarms", lambda v: alarm not in _strings(v), f"without {alarm!r}"
            )
        case Command.apply_lockout:
            (holder,) = args
            return Effect("lockouts", lambda v: holder in _strings(v), f"holding {holder!r}")
        case Command.remove_lockout:
            (holder,) = args
            return Effect("lockouts", lambda v: holder not in _strings(v), f"without {holder!r}")
        case _:
            raise ValueError(f"{command} has no plant effect")


def manual_override_effect(enabled: bool) -> Effect:
    return Effect("manual_override", lambda v: v is enabled, str(enabled))


# An emergency stop leaves every asset of the line not moving; a faulted one stays faulted.
EMERGENCY_STOP_EFFECT = Effect(
    "run_state", _state_is(RunState.stopped, RunState.faulted), "stopped or faulted"
)


def confirm_setpoint(readback: ua.DataValue, written: float, what: str) -> float:
    """The read-back value of a setpoint write, if it is the value written."""
    if not readback.StatusCode.is_good():
        raise ActuationError(
            f"{what}: written, but the read-back returned {readback.StatusCode.name}: "
            "outcome not confirmed",
            readback.StatusCode.name,
            outcome_unknown=True,
        )
    value = readback.Value.Value if readback.Value else None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isclose(value, written, rel_tol=SETPOINT_REL_TOLERANCE, abs_tol=0.0)
    ):
        raise ActuationError(
            f"{what}: the plant reads back {value!r}, not the value written", "ReadBackMismatch"
        )
    return float(value)


def confirm_effect(effect: Effect, name: str, readback: ua.DataValue, what: str) -> None:
    """Raise unless the read-back status variable `name` shows the command's effect."""
    if not readback.StatusCode.is_good():
        raise ActuationError(
            f"{what}: the plant answered 'done' but reading {name} back returned "
            f"{readback.StatusCode.name}: outcome not confirmed",
            readback.StatusCode.name,
            outcome_unknown=True,
        )
    try:
        value = decode(effect.field, readback.Value.Value if readback.Value else None)
    except ValueError as exc:
        raise ActuationError(
            f"{what}: cannot read {name} back ({exc}): outcome not confirmed",
            "BadTypeMismatch",
            outcome_unknown=True,
        ) from exc
    if not effect.holds(value):
        raise ActuationError(
            f"{what}: the plant answered 'done' but {name} reads {value!r}, "
            f"expected {effect.expected}",
            "ReadBackMismatch",
        )


def _strings(value: Value) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else ()
