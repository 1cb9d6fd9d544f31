"""The live state of one simulated asset: run state, locks, alarms, tag values, faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from control.plant.models import Asset, RunState, TagKind


class Fault(StrEnum):
    bearing_wear = "bearing_wear"
    sensor_miscalibration = "sensor_miscalibration"
    feeder_jam = "feeder_jam"
    # What the inspection camera sees (simulator/camera): severities are fractions in (0, 1].
    lighting_drift = "lighting_drift"
    coil_material = "coil_material"
    defect_burst = "defect_burst"


@dataclass(frozen=True)
class AssetSnapshot:
    """What the plant shows of an asset: tag readings as the sensors report them."""

    run_state: RunState
    lockouts: tuple[str, ...]
    active_alarms: tuple[str, ...]
    unacknowledged_alarms: tuple[str, ...]
    manual_override: bool
    actuation_count: int
    tags: dict[str, float]


@dataclass
class AssetProcess:
    spec: Asset
    state: RunState = RunState.stopped
    lockouts: list[str] = field(default_factory=list)  # holders, in the order they locked
    values: dict[str, float] = field(default_factory=dict)  # true values by tag id
    active_alarms: tuple[str, ...] = ()
    unacknowledged: set[str] = field(default_factory=set)
    manual_override: bool = False
    actuations: int = 0
    faults: dict[Fault, float] = field(default_factory=dict)  # fault -> severity
    # Physics memory, used by the asset types that need it.
    levels: dict[str, float] = field(default_factory=dict)  # noise-free lagged quantities
    stroke_phase: float = 0.0  # fraction of the next press stroke already done
    wear: float = 0.0  # extra bearing vibration (mm/s) a worn bearing has built up
    backlog: int = 0  # parts waiting to be conveyed or inspected
    belt_carry: float = 0.0  # fraction of the next part the belt has already moved

    @classmethod
    def initial(cls, spec: Asset) -> AssetProcess:
        values = {t.id: t.initial for t in spec.tags}
        return cls(spec=spec, values=values, levels=dict(values))

    def has(self, tag_id: str) -> bool:
        return tag_id in self.values

    def set(self, tag_id: str, value: float) -> None:
        """Set a tag the asset has, kept inside its engineering range; ignore tags it lacks."""
        tag = self.spec.tag(tag_id)
        if tag is not None:
            er = tag.engineering_range
            self.values[tag_id] = min(max(value, er.low), er.high)

    def add(self, tag_id: str, amount: float) -> None:
        if self.has(tag_id):
            self.set(tag_id, self.values[tag_id] + amount)

    def reading(self, tag_id: str) -> float:
        """The value as the sensor reports it (a miscalibrated first measurement is offset)."""
        tag = self.spec.tag(tag_id)
        if tag is None:
            raise KeyError(tag_id)
        value = self.values[tag_id]
        if tag_id == self.first_measurement():
            value += self.faults.get(Fault.sensor_miscalibration, 0.0)
        er = tag.engineering_range
        return min(max(value, er.low), er.high)

    def first_measurement(self) -> str | None:
        return next((t.id for t in self.spec.tags if t.kind is TagKind.measurement), None)

    def refresh_alarms(self) -> None:
        """Recompute active alarms from the readings; a newly active alarm needs an ack."""
        active = tuple(
            alarm.id
            for tag in self.spec.tags
            for alarm in tag.alarms
            if alarm.is_active(self.reading(tag.id))
        )
        self.unacknowledged |= set(active) - set(self.active_alarms)
        self.active_alarms = active

    def alarm_ids(self) -> tuple[str, ...]:
        return tuple(alarm.id for tag in self.spec.tags for alarm in tag.alarms)

    def snapshot(self) -> AssetSnapshot:
        return AssetSnapshot(
            run_state=self.state,
            lockouts=tuple(self.lockouts),
            active_alarms=self.active_alarms,
            unacknowledged_alarms=tuple(a for a in self.alarm_ids() if a in self.unacknowledged),
            manual_override=self.manual_override,
            actuation_count=self.actuations,
            tags={t.id: self.reading(t.id) for t in self.spec.tags},
        )
