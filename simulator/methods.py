"""OPC-UA method callbacks: unpack the arguments, ask the process model, answer.

A refusal answers with BadInvalidState / BadInvalidArgument and carries the plant's
reason as the result's one output argument (asyncua clients raise on the status code; a
client reading the raw CallMethodResult gets the text). The reason is logged as well.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from functools import partial

import structlog
from asyncua import ua

from control.plant.models import Asset, Command, Line
from simulator.address_space import MethodArg, MethodSpec
from simulator.process import InvalidArgument, InvalidState, OutOfRange, ProcessModel, Refused

log = structlog.get_logger("simulator")

KEY = MethodArg("key", ua.VariantType.String, "idempotency key; empty disables the dedup")
_STRING = ua.VariantType.String
_DOUBLE = ua.VariantType.Double
_INTEGERS = frozenset(
    {
        ua.VariantType.SByte,
        ua.VariantType.Byte,
        ua.VariantType.Int16,
        ua.VariantType.UInt16,
        ua.VariantType.Int32,
        ua.VariantType.UInt32,
        ua.VariantType.Int64,
        ua.VariantType.UInt64,
    }
)
_RUN_METHODS = {
    Command.start: "Start",
    Command.stop: "Stop",
    Command.pause: "Pause",
    Command.resume: "Resume",
}


def status_for(refusal: Refused) -> ua.StatusCode:
    match refusal:
        case OutOfRange():
            return ua.StatusCode(ua.StatusCodes.BadOutOfRange)
        case InvalidState():
            return ua.StatusCode(ua.StatusCodes.BadInvalidState)
        case _:
            return ua.StatusCode(ua.StatusCodes.BadInvalidArgument)


class PlantMethods:
    """The methods of every plant object, bound to one process model."""

    def __init__(
        self,
        process: ProcessModel,
        after_change: Callable[[Collection[str] | None], Awaitable[None]],
        restart_later: Callable[[float], None],
    ) -> None:
        self._process = process
        # Publish the assets a call changed (None: the whole plant), so a read right after
        # the call sees it.
        self._after_change = after_change
        self._restart_later = restart_later

    def for_asset(self, asset: Asset) -> list[MethodSpec]:
        p, a = self._process, asset.id
        runs = {
            Command.start: p.start,
            Command.stop: p.stop,
            Command.pause: p.pause,
            Command.resume: p.resume,
        }
        specs = [
            self._method(a, _RUN_METHODS[command], (KEY,), partial(_keyed, run, a))
            for command, run in runs.items()
            if command in asset.commands
        ]
        holder = MethodArg("holder", _STRING, "person the lock belongs to")
        if Command.acknowledge_alarm in asset.commands:
            alarm = MethodArg("alarm", _STRING, "alarm id")
            ack = partial(_keyed, p.acknowledge_alarm, a)
            specs.append(self._method(a, "AckAlarm", (KEY, alarm), ack))
        if Command.apply_lockout in asset.commands:
            apply = partial(_keyed, p.apply_lockout, a)
            specs.append(self._method(a, "ApplyLockout", (KEY, holder), apply))
        if Command.remove_lockout in asset.commands:
            remove = partial(_keyed, p.remove_lockout, a)
            specs.append(self._method(a, "RemoveLockout", (KEY, holder), remove))
        enabled = MethodArg("enabled", ua.VariantType.Boolean, "true: manual, false: automatic")
        manual = partial(_keyed, p.set_manual_override, a)
        specs.append(self._method(a, "SetManualOverride", (KEY, enabled), manual))
        return specs

    def for_line(self, line: Line) -> list[MethodSpec]:
        actor = MethodArg("actor", _STRING, "who pressed the emergency stop")

        def emergency_stop(key: str, actor: str) -> str:
            log.warning("simulator.emergency_stop", line=line.id, actor=actor)
            return self._process.emergency_stop(line.id, key)

        return [self._method(line.id, "EmergencyStop", (KEY, actor), emergency_stop)]

    def for_simulator(self) -> list[MethodSpec]:
        p = self._process

        def inject(fault: str, asset: str, severity: float) -> str:
            p.inject_fault(fault, asset, severity)
            return "done"

        def clear() -> str:
            p.clear_faults()
            return "done"

        def restart(down_seconds: float) -> str:
            self._restart_later(down_seconds)
            return "done"

        fault_args = (
            MethodArg(
                "fault",
                _STRING,
                "bearing_wear, sensor_miscalibration, feeder_jam, lighting_drift, coil_material "
                "or defect_burst",
            ),
            MethodArg("asset", _STRING, "asset id"),
            MethodArg("severity", _DOUBLE, "wear rate factor, sensor offset, or camera fault"),
        )
        down = MethodArg("down_seconds", _DOUBLE, "how long the server stays down")
        return [
            self._method("simulator", "InjectFault", fault_args, inject),
            self._method("simulator", "ClearFaults", (), clear),
            self._method("simulator", "RestartServer", (down,), restart),
        ]

    def _changed_by(self, owner: str) -> Collection[str] | None:
        """The assets a method of `owner` can change: the asset itself, a line's assets, or
        (None) anything, for the simulator's own methods."""
        plant = self._process.plant
        if plant.asset(owner) is not None:
            return (owner,)
        if any(line.id == owner for line in plant.lines):
            return tuple(a.id for a in plant.line_assets(owner))
        return None

    def _method(
        self, owner: str, name: str, inputs: tuple[MethodArg, ...], action: Callable[..., str]
    ) -> MethodSpec:
        changes = self._changed_by(owner)

        async def callback(_parent: ua.NodeId, *args: ua.Variant) -> object:
            try:
                values = _unpack(args, inputs)
                result = action(*values)
            except Refused as exc:
                log.info("simulator.refused", target=owner, method=name, reason=str(exc))
                return ua.CallMethodResult(
                    StatusCode=status_for(exc), OutputArguments=[ua.Variant(str(exc), _STRING)]
                )
            log.info("simulator.method", target=owner, method=name, args=values, result=result)
            await self._after_change(changes)
            return [ua.Variant(result, _STRING)]

        return MethodSpec(name, inputs, callback)


def _keyed(action: Callable[..., str], asset_id: str, key: str, *args: object) -> str:
    """Model commands take the asset first and the key last; methods take the key first."""
    return action(asset_id, *args, key=key)


def _unpack(args: tuple[ua.Variant, ...], inputs: tuple[MethodArg, ...]) -> list[object]:
    if len(args) != len(inputs):
        names = ", ".join(arg.name for arg in inputs) or "none"
        raise InvalidArgument(f"expects {len(inputs)} argument(s) ({names}), got {len(args)}")
    values: list[object] = []
    for variant, arg in zip(args, inputs, strict=True):
        if variant.VariantType is arg.type:
            value = variant.Value
        elif arg.type is _DOUBLE and variant.VariantType in _INTEGERS:
            value = float(variant.Value)
        elif arg.type is _STRING and variant.VariantType is ua.VariantType.Null:
            value = None
        else:
            raise InvalidArgument(
                f"argument {arg.name!r} must be {arg.type.name}, got {variant.VariantType.name}"
            )
        values.append("" if arg.type is _STRING and value is None else value)
    return values
