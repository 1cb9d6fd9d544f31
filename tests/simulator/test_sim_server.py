"""The real OPC-UA server on 127.0.0.1, read and driven by an asyncua client."""

from __future__ import annotations

import pytest
from asyncua import Client, ua

from control.plant.models import PlantModel, TagKind
from simulator.server import SimulatedPlant

STATUS_TYPES = {
    "State": (ua.VariantType.String, False),
    "Lockouts": (ua.VariantType.String, True),
    "ActiveAlarms": (ua.VariantType.String, True),
    "UnacknowledgedAlarms": (ua.VariantType.String, True),
    "ManualOverride": (ua.VariantType.Boolean, False),
    "ActuationCount": (ua.VariantType.UInt64, False),
}
pytestmark = pytest.mark.asyncio(loop_scope="module")

RUN_METHODS = {"start": "Start", "stop": "Stop", "pause": "Pause", "resume": "Resume"}


async def read(client: Client, node: str) -> object:
    return await client.get_node(node).read_value()


async def call(client: Client, obj: str, method: str, *args: object) -> object:
    return await client.get_node(f"ns=2;s={obj}").call_method(f"2:{method}", *args)


async def test_address_space_matches_the_plant_model(
    client: Client, plant_model: PlantModel
) -> None:
    assert await client.get_namespace_index(plant_model.site.namespace_uri) == 2
    site = await client.nodes.objects.get_child("2:Site")
    assert site.nodeid == ua.NodeId("site", 2)
    for line in plant_model.lines:
        line_node = client.get_node(line.node_id)
        assert (await line_node.read_browse_name()).Name == line.id
        assert (await line_node.get_parent()).nodeid == site.nodeid
        await line_node.get_child("2:EmergencyStop")
    for asset in plant_model.assets:
        asset_node = client.get_node(asset.node_id)
        assert (await asset_node.get_parent()).nodeid == ua.NodeId.from_string(
            next(line.node_id for line in plant_model.lines if line.id == asset.line)
        )
        for tag in asset.tags:
            node = client.get_node(tag.node_id)
            dv = await node.read_data_value()
            assert dv.Value.VariantType is ua.VariantType.Double
            assert dv.Value.Value == tag.initial
            eu_range = await (await node.get_child("0:EURange")).read_value()
            assert (eu_range.Low, eu_range.High) == (
                tag.engineering_range.low,
                tag.engineering_range.high,
            )
            units = await (await node.get_child("0:EngineeringUnits")).read_value()
            assert units.DisplayName.Text == tag.unit
            access = await node.read_attribute(ua.AttributeIds.UserAccessLevel)
            writable = bool(access.Value.Value & ua.AccessLevel.CurrentWrite.mask)
            assert writable == (tag.kind is TagKind.setpoint), tag.node_id
        for name, (vtype, is_array) in STATUS_TYPES.items():
            dv = await client.get_node(asset.status_node(name)).read_data_value()
            assert (dv.Value.VariantType, dv.Value.is_array) == (vtype, is_array), name
        methods = {
            (await m.read_browse_name()).Name
            for m in await asset_node.get_children(nodeclassmask=ua.NodeClass.Method)
        }
        expected = {RUN_METHODS[c.value] for c in asset.commands if c.value in RUN_METHODS}
        expected |= {"AckAlarm", "ApplyLockout", "RemoveLockout", "SetManualOverride"}
        assert methods == expected, asset.id
    assert await read(client, "ns=2;s=simulator.ActiveFaults") == []
    assert await read(client, "ns=2;s=simulator.SimTime") == 0.0


async def test_setpoint_writes_are_range_checked_by_the_plant(
    client: Client, sim: SimulatedPlant
) -> None:
    speed = client.get_node("ns=2;s=press-3.speed_spm")
    with pytest.raises(ua.uaerrors.BadOutOfRange):
        await speed.write_value(ua.Variant(41.0, ua.VariantType.Double))
    assert await speed.read_value() == 20.0
    assert await read(client, "ns=2;s=press-3.ActuationCount") == 0
    await speed.write_value(ua.Variant(24.0, ua.VariantType.Double))
    assert await speed.read_value() == 24.0
    assert sim.process.reading("press-3", "speed_spm") == 24.0
    assert await read(client, "ns=2;s=press-3.ActuationCount") == 1
    with pytest.raises(ua.uaerrors.BadTypeMismatch):
        await speed.write_value(ua.Variant(22, ua.VariantType.Int32))


async def test_measurements_counters_and_status_are_not_writable(client: Client) -> None:
    for node in (
        "ns=2;s=press-3.vibration_rms_mm_s",
        "ns=2;s=press-3.part_count",
        "ns=2;s=press-3.ActuationCount",
    ):
        before = await client.get_node(node).read_data_value()
        with pytest.raises(ua.uaerrors.BadNotWritable):
            await client.get_node(node).write_value(before.Value)
    with pytest.raises(ua.uaerrors.BadNotWritable):
        await client.get_node("ns=2;s=press-3.State").write_value("running")
    assert await read(client, "ns=2;s=press-3.State") == "stopped"


async def test_run_commands_over_opcua(client: Client) -> None:
    assert await call(client, "press-3", "Start", "") == "done"
    assert await read(client, "ns=2;s=press-3.State") == "running"
    await call(client, "press-3", "Pause", "")
    assert await read(client, "ns=2;s=press-3.State") == "paused"
    with pytest.raises(ua.uaerrors.BadInvalidState):
        await call(client, "press-3", "Pause", "")
    await call(client, "press-3", "Resume", "")
    await call(client, "press-3", "Stop", "")
    assert await read(client, "ns=2;s=press-3.State") == "stopped"
    with pytest.raises(ua.uaerrors.BadInvalidState):
        await call(client, "press-3", "Resume", "")
    assert await read(client, "ns=2;s=press-3.ActuationCount") == 4


async def test_plant_refuses_start_under_lockout(client: Client) -> None:
    await call(client, "press-3", "ApplyLockout", "k-1", "maria")
    assert await read(client, "ns=2;s=press-3.Lockouts") == ["maria"]
    with pytest.raises(ua.uaerrors.BadInvalidState):
        await call(client, "press-3", "Start", "k-2")
    assert await read(client, "ns=2;s=press-3.State") == "stopped"
    with pytest.raises(ua.uaerrors.BadInvalidArgument):
        await call(client, "press-3", "RemoveLockout", "k-3", "eve")
    await call(client, "press-3", "RemoveLockout", "k-4", "maria")
    await call(client, "press-3", "Start", "k-2")  # the refused key was not used up
    assert await read(client, "ns=2;s=press-3.State") == "running"


async def test_refusal_carries_the_plant_reason(client: Client) -> None:
    request = ua.CallMethodRequest(
        ObjectId=ua.NodeId("press-3", 2),
        MethodId=ua.NodeId("press-3.Resume", 2),
        InputArguments=[ua.Variant("", ua.VariantType.String)],
    )
    (result,) = await client.uaclient.call([request])
    assert result.StatusCode.value == ua.StatusCodes.BadInvalidState
    assert result.OutputArguments[0].Value == "press-3 is stopped: only a paused asset resumes"


async def test_repeated_key_returns_duplicate_without_acting(client: Client) -> None:
    assert await call(client, "press-3", "Start", "key-1") == "done"
    assert await read(client, "ns=2;s=press-3.ActuationCount") == 1
    assert await call(client, "press-3", "Start", "key-1") == "duplicate"
    await call(client, "press-3", "Stop", "key-2")
    assert await call(client, "press-3", "Start", "key-1") == "duplicate"
    assert await read(client, "ns=2;s=press-3.State") == "stopped"
    assert await read(client, "ns=2;s=press-3.ActuationCount") == 2


async def test_bad_method_arguments_are_refused(client: Client) -> None:
    with pytest.raises(ua.uaerrors.BadInvalidArgument):
        await call(client, "press-3", "Start")
    with pytest.raises(ua.uaerrors.BadInvalidArgument):
        await call(client, "press-3", "SetManualOverride", "k", "yes")


async def test_alarms_and_acknowledgement(client: Client) -> None:
    await call(client, "simulator", "InjectFault", "sensor_miscalibration", "press-1", 6.0)
    assert await read(client, "ns=2;s=simulator.ActiveFaults") == [
        "sensor_miscalibration:press-1:6"
    ]
    assert await read(client, "ns=2;s=press-1.ActiveAlarms") == ["vibration_high"]
    assert await read(client, "ns=2;s=press-1.UnacknowledgedAlarms") == ["vibration_high"]
    assert await call(client, "press-1", "AckAlarm", "ack-1", "vibration_high") == "done"
    assert await read(client, "ns=2;s=press-1.UnacknowledgedAlarms") == []
    assert await read(client, "ns=2;s=press-1.ActiveAlarms") == ["vibration_high"]
    with pytest.raises(ua.uaerrors.BadInvalidArgument):
        await call(client, "press-1", "AckAlarm", "ack-2", "no_such_alarm")


async def test_bearing_wear_shows_up_over_opcua(client: Client, sim: SimulatedPlant) -> None:
    await call(client, "press-3", "Start", "")
    await call(client, "simulator", "InjectFault", "bearing_wear", "press-3", 2.0)
    for _ in range(300):
        sim.step(1.0)
    await sim.publish()
    assert await read(client, "ns=2;s=press-3.vibration_rms_mm_s") > 7.1
    assert "vibration_high" in await read(client, "ns=2;s=press-3.ActiveAlarms")
    assert await read(client, "ns=2;s=simulator.SimTime") == 300.0


async def test_feeder_jam_stops_the_press(client: Client) -> None:
    await call(client, "press-3", "Start", "")
    await call(client, "feeder-2", "Start", "")
    await call(client, "simulator", "InjectFault", "feeder_jam", "feeder-2", 1.0)
    assert await read(client, "ns=2;s=feeder-2.State") == "faulted"
    assert await read(client, "ns=2;s=feeder-2.jam_detected") == 1.0
    assert await read(client, "ns=2;s=press-3.State") == "stopped"
    await call(client, "feeder-2", "Stop", "")
    assert await read(client, "ns=2;s=feeder-2.State") == "stopped"
    assert await read(client, "ns=2;s=feeder-2.jam_detected") == 0.0
    with pytest.raises(ua.uaerrors.BadInvalidArgument):
        await call(client, "simulator", "InjectFault", "feeder_jam", "press-3", 1.0)


async def test_emergency_stop_stops_the_line(client: Client) -> None:
    for asset in ("press-3", "feeder-2", "conveyor-2", "press-1"):
        await call(client, asset, "Start", "")
    assert await call(client, "line-2", "EmergencyStop", "e-1", "maria") == "done"
    for asset in ("press-3", "feeder-2", "conveyor-2"):
        assert await read(client, f"ns=2;s={asset}.State") == "stopped"
    assert await read(client, "ns=2;s=press-1.State") == "running"
