"""The driver's pure parts, no server needed: node resolution, decoding, read-back checks."""

from __future__ import annotations

import pytest
from asyncua import ua

from control.opcua.effects import (
    EMERGENCY_STOP_EFFECT,
    command_effect,
    confirm_effect,
    confirm_setpoint,
    manual_override_effect,
)
from control.opcua.errors import ActuationError, DriverError
from control.opcua.nodes import decode, resolve_nodes
from control.plant.models import Command, PlantModel, RunState


def test_nodes_come_from_the_plant_model(plant: PlantModel) -> None:
    nodes = resolve_nodes(plant)

    press = nodes.asset("press-3")
    assert press.tags["speed_spm"] == ua.NodeId("press-3.speed_spm", 2)
    assert press.status["run_state"] == ua.NodeId("press-3.State", 2)
    assert press.methods[Command.acknowledge_alarm].method == ua.NodeId("press-3.AckAlarm", 2)
    # Only the commands an asset accepts exist as methods on it.
    assert Command.pause not in nodes.asset("vision-2").methods
    assert nodes.emergency_stops["line-2"].method == ua.NodeId("line-2.EmergencyStop", 2)
    assert nodes.line_assets["line-1"] == ("feeder-1", "press-1")
    assert nodes.names[ua.NodeId("feeder-2.Lockouts", 2)] == ("feeder-2", "lockouts")
    assert nodes.namespace_indexes == {2}
    with pytest.raises(DriverError, match="unknown asset"):
        nodes.asset("press-9")


def test_a_tag_named_like_a_status_field_is_refused(plant: PlantModel) -> None:
    press = plant.assets[1]
    clashing = press.tags[0].model_copy(update={"id": "run_state"})
    bad = plant.model_copy(
        update={"assets": (press.model_copy(update={"tags": (clashing, *press.tags[1:])}),)}
    )
    with pytest.raises(DriverError, match="clash"):
        resolve_nodes(bad)


@pytest.mark.parametrize(
    ("name", "raw", "decoded"),
    [
        ("run_state", "running", RunState.running),
        ("lockouts", ["alice", "bob"], ("alice", "bob")),
        ("active_alarms", None, ()),
        ("manual_override", True, True),
        ("speed_spm", 20, 20.0),
    ],
)
def test_decode(name: str, raw: object, decoded: object) -> None:
    assert decode(name, raw) == decoded


@pytest.mark.parametrize(
    ("name", "raw"),
    [("run_state", "exploded"), ("lockouts", "alice"), ("manual_override", 1), ("speed", True)],
)
def test_decode_refuses_what_does_not_fit(name: str, raw: object) -> None:
    with pytest.raises(ValueError):
        decode(name, raw)


def reading(
    value: object, variant: ua.VariantType, status: int = ua.StatusCodes.Good
) -> ua.DataValue:
    return ua.DataValue(ua.Variant(value, variant), StatusCode=ua.StatusCode(status))


def test_a_setpoint_is_confirmed_only_by_the_value_written() -> None:
    assert confirm_setpoint(reading(24.0, ua.VariantType.Double), 24.0, "w") == 24.0
    assert confirm_setpoint(reading(0.1 + 0.2, ua.VariantType.Double), 0.3, "w") == 0.1 + 0.2

    with pytest.raises(ActuationError, match=r"reads back 24\.5") as mismatch:
        confirm_setpoint(reading(24.5, ua.VariantType.Double), 24.0, "w")
    assert (mismatch.value.status, mismatch.value.outcome_unknown) == ("ReadBackMismatch", False)

    bad = reading(None, ua.VariantType.Null, ua.StatusCodes.BadNodeIdUnknown)
    with pytest.raises(ActuationError, match="not confirmed") as unknown:
        confirm_setpoint(bad, 24.0, "w")
    assert (unknown.value.status, unknown.value.outcome_unknown) == ("BadNodeIdUnknown", True)


def test_command_effects_are_checked_on_the_read_back() -> None:
    running = reading("running", ua.VariantType.String)
    confirm_effect(command_effect(Command.start, ()), "press-3.run_state", running, "start")
    with pytest.raises(ActuationError, match="expected stopped") as mismatch:
        confirm_effect(command_effect(Command.stop, ()), "press-3.run_state", running, "stop")
    assert mismatch.value.status == "ReadBackMismatch"

    locks = reading(["alice"], ua.VariantType.String)
    confirm_effect(command_effect(Command.apply_lockout, ("alice",)), "l", locks, "lock")
    with pytest.raises(ActuationError):
        confirm_effect(command_effect(Command.remove_lockout, ("alice",)), "l", locks, "unlock")
    confirm_effect(manual_override_effect(True), "m", reading(True, ua.VariantType.Boolean), "m")
    faulted = reading("faulted", ua.VariantType.String)
    confirm_effect(EMERGENCY_STOP_EFFECT, "feeder-2.run_state", faulted, "estop")
