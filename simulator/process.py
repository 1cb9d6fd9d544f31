"""The simulated plant's process: deterministic, seeded, no I/O.

Commands here enforce the plant's own refusals (the PLC's last line of defence), not the
control plane's interlocks: control/ decides what to ask; this decides what moves.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from control.plant.models import Command, PlantModel, RunState, TagKind
from simulator.asset_process import AssetProcess, AssetSnapshot, Fault
from simulator.idempotency import KeyMemory, Outcome
from simulator.physics import advance_line


class Refused(Exception):
    """The plant refused a request on its own; the message says why."""


class InvalidState(Refused):
    """The request does not fit the asset's current state (start while locked out, ...)."""


class InvalidArgument(Refused):
    """The request names something that does not exist (unknown asset, alarm, lock, ...)."""


class OutOfRange(Refused):
    """A setpoint write outside the tag's engineering range."""


class ProcessModel:
    def __init__(self, plant: PlantModel, seed: int = 0) -> None:
        self.plant = plant
        self.seed = seed
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        """Back to the plant file's initial state, as if just started (a new shift)."""
        if seed is not None:
            self.seed = seed
        self.sim_time = 0.0
        self._rng = random.Random(self.seed)
        self._keys = KeyMemory()
        self._assets = {a.id: AssetProcess.initial(a) for a in self.plant.assets}
        self._refresh_alarms()

    # --- reading ---------------------------------------------------------------

    def snapshot(self, asset_id: str) -> AssetSnapshot:
        return self._asset(asset_id).snapshot()

    def reading(self, asset_id: str, tag_id: str) -> float:
        asset = self._asset(asset_id)
        if not asset.has(tag_id):
            raise InvalidArgument(f"{asset_id} has no tag {tag_id!r}")
        return asset.reading(tag_id)

    def active_faults(self) -> tuple[str, ...]:
        """`fault:asset:severity` for every active fault, in plant-file order."""
        return tuple(
            f"{fault}:{asset_id}:{severity:g}"
            for asset_id, asset in self._assets.items()
            for fault, severity in asset.faults.items()
        )

    # --- time ------------------------------------------------------------------

    def step(self, dt: float) -> None:
        """Advance the whole plant by `dt` simulated seconds."""
        if not (math.isfinite(dt) and dt >= 0):
            raise ValueError(f"step needs a finite dt >= 0, got {dt}")
        for line in self.plant.lines:
            advance_line(
                [self._assets[a.id] for a in self.plant.line_assets(line.id)], dt, self._rng
            )
        self.sim_time += dt
        self._refresh_alarms()

    # --- run commands ----------------------------------------------------------

    def start(self, asset_id: str, key: str = "") -> Outcome:
        asset = self._accepting(asset_id, Command.start)

        def act() -> None:
            if asset.lockouts:
                raise InvalidState(f"{asset_id} is locked out by {', '.join(asset.lockouts)}")
            if asset.state is RunState.faulted:
                raise InvalidState(f"{asset_id} is faulted: stop it to reset, then start")
            if asset.state is RunState.paused:
                raise InvalidState(f"{asset_id} is paused: resume it instead")
            self._set_state(asset, RunState.running)

        return self._once(key, act)

    def stop(self, asset_id: str, key: str = "") -> Outcome:
        """Stop; on a faulted asset this is the reset that clears a strip jam."""
        asset = self._accepting(asset_id, Command.stop)

        def act() -> None:
            if asset.state is RunState.faulted:
                asset.faults.pop(Fault.feeder_jam, None)
                asset.set("jam_detected", 0.0)
            self._set_state(asset, RunState.stopped)

        return self._once(key, act)

    def pause(self, asset_id: str, key: str = "") -> Outcome:
        asset = self._accepting(asset_id, Command.pause)

        def act() -> None:
            if asset.state is not RunState.running:
                raise InvalidState(f"{asset_id} is {asset.state}: only a running asset pauses")
            self._set_state(asset, RunState.paused)

        return self._once(key, act)

    def resume(self, asset_id: str, key: str = "") -> Outcome:
        asset = self._accepting(asset_id, Command.resume)

        def act() -> None:
            if asset.state is not RunState.paused:
                raise InvalidState(f"{asset_id} is {asset.state}: only a paused asset resumes")
            self._set_state(asset, RunState.running)

        return self._once(key, act)

    def emergency_stop(self, line_id: str, key: str = "") -> Outcome:
        """Stop every moving asset of the line at once; faulted ones stay faulted."""
        if all(line.id != line_id for line in self.plant.lines):
            raise InvalidArgument(f"unknown line {line_id!r}")

        def act() -> None:
            for spec in self.plant.line_assets(line_id):
                asset = self._assets[spec.id]
                if asset.state in (RunState.running, RunState.paused):
                    self._set_state(asset, RunState.stopped)

        return self._once(key, act)

    # --- lockout, alarms, manual -----------------------------------------------

    def apply_lockout(self, asset_id: str, holder: str, key: str = "") -> Outcome:
        asset = self._accepting(asset_id, Command.apply_lockout)
        if not holder:
            raise InvalidArgument("a lockout needs a holder")

        def act() -> None:
            # A jammed (faulted) feeder has stopped moving and is locked out to clear it.
            if asset.state not in (RunState.stopped, RunState.faulted):
                raise InvalidState(f"{asset_id} is {asset.state}: lock out only stopped equipment")
            if holder in asset.lockouts:
                raise InvalidState(f"{holder} already holds a lock on {asset_id}")
            asset.lockouts.append(holder)
            asset.actuations += 1

        return self._once(key, act)

    def remove_lockout(self, asset_id: str, holder: str, key: str = "") -> Outcome:
        asset = self._accepting(asset_id, Command.remove_lockout)

        def act() -> None:
            if holder not in asset.lockouts:
                raise InvalidArgument(f"{holder!r} holds no lock on {asset_id}")
            asset.lockouts.remove(holder)
            asset.actuations += 1

        return self._once(key, act)

    def acknowledge_alarm(self, asset_id: str, alarm_id: str, key: str = "") -> Outcome:
        asset = self._accepting(asset_id, Command.acknowledge_alarm)
        if alarm_id not in asset.alarm_ids():
            raise InvalidArgument(f"{asset_id} has no alarm {alarm_id!r}")

        def act() -> None:
            if alarm_id in asset.unacknowledged:
                asset.unacknowledged.discard(alarm_id)
                asset.actuations += 1
            elif alarm_id not in asset.active_alarms:
                raise InvalidState(f"alarm {alarm_id} on {asset_id} is neither active nor unacked")

        return self._once(key, act)

    def set_manual_override(self, asset_id: str, enabled: bool, key: str = "") -> Outcome:
        asset = self._asset(asset_id)

        def act() -> None:
            if asset.manual_override != enabled:
                asset.manual_override = enabled
                asset.actuations += 1

        return self._once(key, act)

    # --- setpoints ---------------------------------------------------------------

    def write_setpoint(self, asset_id: str, tag_id: str, value: float) -> bool:
        """Write a setpoint inside its engineering range; True when the value changed."""
        asset = self._asset(asset_id)
        tag = asset.spec.tag(tag_id)
        if tag is None or tag.kind is not TagKind.setpoint:
            raise InvalidArgument(f"{asset_id}.{tag_id} is not a setpoint")
        er = tag.engineering_range
        if not (math.isfinite(value) and er.contains(value)):
            raise OutOfRange(f"{asset_id}.{tag_id} = {value} is outside [{er.low}, {er.high}]")
        if asset.values[tag_id] == value:
            return False
        asset.values[tag_id] = value
        asset.actuations += 1
        self._refresh_alarms()
        return True

    # --- fault injection ---------------------------------------------------------

    def inject_fault(self, fault: str, asset_id: str, severity: float) -> None:
        try:
            kind = Fault(fault)
        except ValueError:
            raise InvalidArgument(
                f"unknown fault {fault!r}; one of {', '.join(f.value for f in Fault)}"
            ) from None
        asset = self._asset(asset_id)
        if not math.isfinite(severity):
            raise InvalidArgument(f"severity must be a finite number, got {severity}")
        match kind:
            case Fault.bearing_wear:
                if not asset.has("vibration_rms_mm_s") or severity <= 0:
                    raise InvalidArgument("bearing_wear needs a press with vibration, severity > 0")
            case Fault.sensor_miscalibration:
                if asset.first_measurement() is None:
                    raise InvalidArgument(f"{asset_id} has no measurement to miscalibrate")
            case Fault.feeder_jam:
                if asset.spec.type != "coil_feeder":
                    raise InvalidArgument(f"{asset_id} is not a coil feeder")
                self._jam(asset)
            case Fault.lighting_drift | Fault.coil_material | Fault.defect_burst:
                _check_camera_fault(kind, asset, severity)
        asset.faults[kind] = severity
        self._refresh_alarms()

    def faults_of(self, asset_id: str) -> dict[Fault, float]:
        """The faults active on an asset, with their severities."""
        return dict(self._asset(asset_id).faults)

    def clear_faults(self) -> None:
        """Remove every fault and its wear; a jammed feeder stays faulted until Stop resets it."""
        for asset in self._assets.values():
            asset.faults.clear()
            asset.wear = 0.0
        self._refresh_alarms()

    def _jam(self, feeder: AssetProcess) -> None:
        """The misfeed sensor trips: the feeder faults and its press stops."""
        feeder.state = RunState.faulted
        feeder.set("jam_detected", 1.0)
        for spec in self.plant.line_assets(feeder.spec.line):
            press = self._assets[spec.id]
            if spec.type == "mechanical_press" and press.state is not RunState.faulted:
                press.state = RunState.stopped

    # --- helpers -------------------------------------------------------------------

    def _asset(self, asset_id: str) -> AssetProcess:
        asset = self._assets.get(asset_id)
        if asset is None:
            raise InvalidArgument(f"unknown asset {asset_id!r}")
        return asset

    def _accepting(self, asset_id: str, command: Command) -> AssetProcess:
        asset = self._asset(asset_id)
        if command not in asset.spec.commands:
            raise InvalidArgument(f"{asset_id} does not accept {command}")
        return asset

    def _once(self, key: str, action: Callable[[], None]) -> Outcome:
        outcome = self._keys.run_once(key, action)
        self._refresh_alarms()
        return outcome

    @staticmethod
    def _set_state(asset: AssetProcess, state: RunState) -> None:
        """A command moved the asset; only a real change counts as an actuation."""
        if asset.state is not state:
            asset.state = state
            asset.actuations += 1

    def _refresh_alarms(self) -> None:
        for asset in self._assets.values():
            asset.refresh_alarms()


# The asset each camera fault belongs on: the lamp, the coil, the die that marks parts.
_CAMERA_FAULT_ASSET = {
    Fault.lighting_drift: "vision_station",
    Fault.coil_material: "coil_feeder",
    Fault.defect_burst: "mechanical_press",
}


def _check_camera_fault(kind: Fault, asset: AssetProcess, severity: float) -> None:
    wanted = _CAMERA_FAULT_ASSET[kind]
    if asset.spec.type != wanted:
        raise InvalidArgument(f"{kind} goes on a {wanted}, not on {asset.spec.id}")
    if not 0 < severity <= 1:
        raise InvalidArgument(f"{kind} needs a severity in (0, 1], got {severity}")
