"""The plant model: assets, tags, limits, commands, interlocks and roles of one site.

Loaded from one YAML file (the single source of truth); the simulator serves it over
OPC-UA and control/ decides against it. Cross-references are checked at load time so a
bad file fails with a clear message instead of at the first request.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from control.workorders.models import FailureMode, Priority

Ident = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Risk(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"

    @property
    def rank(self) -> int:
        return ("low", "medium", "high").index(self.value)


class Command(StrEnum):
    """Everything a plan step or a direct request can ask control/ to do."""

    set_parameter = "set_parameter"
    start = "start"
    stop = "stop"
    pause = "pause"
    resume = "resume"
    apply_lockout = "apply_lockout"
    remove_lockout = "remove_lockout"
    acknowledge_alarm = "acknowledge_alarm"
    create_work_order = "create_work_order"
    # Puts the parts inspected at a station on quality hold; records, never moves anything.
    place_quality_hold = "place_quality_hold"


# Commands that put energy into equipment: blocked by lockout and start interlocks.
ENERGIZING_COMMANDS = frozenset({Command.start, Command.resume})


class Permission(StrEnum):
    request = "request"
    execute = "execute"
    approve = "approve"


class RunState(StrEnum):
    stopped = "stopped"
    running = "running"
    paused = "paused"
    faulted = "faulted"


class TagKind(StrEnum):
    setpoint = "setpoint"  # writable by control/
    measurement = "measurement"  # read-only process value
    counter = "counter"  # read-only, monotonically increasing


class Range(Strict):
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise ValueError(f"range low {self.low} is above high {self.high}")
        return self

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


class Alarm(Strict):
    """A limit alarm on a tag: active while the value is above `high` (or below `low`)."""

    id: Ident
    high: float | None = None
    low: float | None = None
    message: str

    @model_validator(mode="after")
    def _has_limit(self) -> Alarm:
        if self.high is None and self.low is None:
            raise ValueError(f"alarm {self.id!r} needs a high or a low limit")
        return self

    def is_active(self, value: float) -> bool:
        return (self.high is not None and value > self.high) or (
            self.low is not None and value < self.low
        )


class Tag(Strict):
    id: Ident
    node_id: str = Field(pattern=r"^ns=\d+;s=[A-Za-z0-9_.\-]+$")
    description: str
    kind: TagKind
    unit: str
    engineering_range: Range
    safe_range: Range | None = None  # setpoints only: what control/ may write
    max_step: float | None = Field(default=None, gt=0)  # setpoints: largest change per request
    risk: Risk = Risk.medium  # risk of writing this setpoint
    initial: float
    alarms: tuple[Alarm, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Tag:
        if self.kind is TagKind.setpoint:
            if self.safe_range is None or self.max_step is None:
                raise ValueError(f"setpoint {self.id!r} needs safe_range and max_step")
            er, sr = self.engineering_range, self.safe_range
            if not (er.low <= sr.low and sr.high <= er.high):
                raise ValueError(
                    f"setpoint {self.id!r}: safe_range [{sr.low}, {sr.high}] must lie inside "
                    f"engineering_range [{er.low}, {er.high}]"
                )
            if not sr.contains(self.initial):
                raise ValueError(f"setpoint {self.id!r}: initial {self.initial} outside safe_range")
        elif self.safe_range is not None or self.max_step is not None:
            raise ValueError(f"tag {self.id!r} is not a setpoint: safe_range/max_step not allowed")
        if not self.engineering_range.contains(self.initial):
            raise ValueError(f"tag {self.id!r}: initial {self.initial} outside engineering_range")
        return self


class CommandSpec(Strict):
    risk: Risk


class Asset(Strict):
    id: Ident
    name: str
    type: Literal["coil_feeder", "mechanical_press", "transfer_conveyor", "vision_station"]
    line: Ident
    description: str
    # Object node under which the simulator places the asset's tags and methods.
    node_id: str = Field(pattern=r"^ns=\d+;s=[A-Za-z0-9_.\-]+$")
    commands: dict[Command, CommandSpec]
    # Requests at or above this risk wait for a second person's approval.
    approval_from: Risk = Risk.high
    tags: tuple[Tag, ...]

    @model_validator(mode="after")
    def _unique_tags(self) -> Asset:
        ids = [t.id for t in self.tags]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"asset {self.id!r}: duplicate tag ids {sorted(dupes)}")
        if Command.set_parameter in self.commands and not self.setpoints():
            raise ValueError(f"asset {self.id!r} accepts set_parameter but has no setpoint tag")
        return self

    def tag(self, tag_id: str) -> Tag | None:
        return next((t for t in self.tags if t.id == tag_id), None)

    def setpoints(self) -> tuple[Tag, ...]:
        return tuple(t for t in self.tags if t.kind is TagKind.setpoint)

    def status_node(self, name: str) -> str:
        """Node id of a standard status variable or method (State, Lockout, Start, ...)."""
        return f"{self.node_id}.{name}"


class Line(Strict):
    id: Ident
    name: str
    node_id: str = Field(pattern=r"^ns=\d+;s=[A-Za-z0-9_.\-]+$")


# --- Interlocks: data here, decided by pure code in control.decisions ---------------


class NoStartUnderLockout(Strict):
    """Nothing on the line may start or resume while any asset of the line is locked out."""

    kind: Literal["no_start_under_lockout"]
    id: Ident
    line: Ident
    description: str


class SetpointLimitWhileAlarm(Strict):
    """While `alarm` on `alarm_asset` is active, `asset`.`tag` may not be set above `max_value`."""

    kind: Literal["setpoint_limit_while_alarm"]
    id: Ident
    asset: Ident
    tag: Ident
    max_value: float
    alarm_asset: Ident
    alarm: Ident
    description: str


class StopBefore(Strict):
    """`first` must be stopped before `then` may stop (e.g. feeder before press)."""

    kind: Literal["stop_before"]
    id: Ident
    first: Ident
    then: Ident
    description: str


class RunningBefore(Strict):
    """`upstream` may only start while `required` is running (press before feeder)."""

    kind: Literal["start_requires_running"]
    id: Ident
    asset: Ident
    required: Ident
    description: str


class LockoutRequiresStopped(Strict):
    """Lockout may only be applied to equipment that is stopped."""

    kind: Literal["lockout_requires_stopped"]
    id: Ident
    description: str


Interlock = Annotated[
    NoStartUnderLockout
    | SetpointLimitWhileAlarm
    | StopBefore
    | RunningBefore
    | LockoutRequiresStopped,
    Field(discriminator="kind"),
]


class Role(Strict):
    id: Ident
    description: str
    # Per permission, the commands this role holds it for ("emergency_stop" and
    # "manual_override" are role rights outside plans).
    request: frozenset[Command] = frozenset()
    execute: frozenset[Command] = frozenset()
    approve: frozenset[Command] = frozenset()
    emergency_stop: bool = False
    manual_override: bool = False
    admin: bool = False  # fault injection, key management
    # Held by Andon's own detection rules, never by a person: no API key is issued for it.
    automated: bool = False
    # Document access groups whose passages this role may read (retrieval filters on them).
    document_groups: frozenset[Ident] = frozenset({"general"})

    def may(self, permission: Permission, command: Command) -> bool:
        return command in getattr(self, permission.value)


# --- Detection rules: perception results -> deterministic actions, decided by control ----


class WorkOrderTemplate(Strict):
    """The work order a rule opens; the observations it acted on are attached as evidence."""

    asset: Ident
    symptom: str = Field(min_length=3, max_length=300)
    failure_mode: FailureMode = FailureMode.UNK
    priority: Priority = Priority.high
    tasks: tuple[Annotated[str, Field(max_length=200)], ...] = ()
    lockout_required: bool = False
    due_in_hours: float | None = Field(default=None, gt=0)


class DetectionRule(Strict):
    """When `count` of the last `window` observations at `asset` match, act once.

    `match: abnormal` counts the model's findings (a defect, an anomaly); `match: degraded` counts
    results the model could not give (unavailable, out of distribution), so a blind model
    leads to conservative action instead of silence.
    """

    id: Ident
    description: str
    source: Literal["vision", "telemetry"]
    asset: Ident
    match: Literal["abnormal", "degraded"] = "abnormal"
    count: int = Field(default=1, ge=1)
    window: int = Field(default=1, ge=1)
    # After firing, the rule stays quiet this long: the line is paused and a person is on it.
    cooldown_s: float = Field(default=600, ge=0)
    pause: tuple[Ident, ...] = ()
    stop: tuple[Ident, ...] = ()
    hold_parts: bool = False  # place a quality hold on the parts inspected at `asset`
    work_order: WorkOrderTemplate | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DetectionRule:
        if self.count > self.window:
            raise ValueError(f"rule {self.id!r}: count {self.count} exceeds window {self.window}")
        if not (self.pause or self.stop or self.hold_parts or self.work_order):
            raise ValueError(
                f"rule {self.id!r} does nothing: give pause, stop, hold_parts or work_order"
            )
        return self


class Site(Strict):
    id: Ident
    name: str
    namespace_uri: str


class PlantModel(Strict):
    site: Site
    lines: tuple[Line, ...]
    assets: tuple[Asset, ...]
    interlocks: tuple[Interlock, ...] = ()
    roles: tuple[Role, ...]
    approval_ttl_s: float = Field(default=900, gt=0)
    detection_rules: tuple[DetectionRule, ...] = ()
    rules_role: Ident = "automation"  # the role detection rules request their actions as

    @model_validator(mode="after")
    def _references(self) -> PlantModel:
        errors: list[str] = []
        for kind, items in (("line", self.lines), ("asset", self.assets), ("role", self.roles)):
            ids = [i.id for i in items]
            errors += [
                f"duplicate {kind} id {i!r}" for i in sorted({i for i in ids if ids.count(i) > 1})
            ]
        line_ids = {line.id for line in self.lines}
        assets = {a.id: a for a in self.assets}
        for a in self.assets:
            if a.line not in line_ids:
                errors.append(f"asset {a.id!r} is on unknown line {a.line!r}")
        node_ids = [line.node_id for line in self.lines] + [a.node_id for a in self.assets]
        node_ids += [t.node_id for a in self.assets for t in a.tags]
        errors += [
            f"duplicate node id {n!r}"
            for n in sorted({n for n in node_ids if node_ids.count(n) > 1})
        ]
        for il in self.interlocks:
            errors += _interlock_errors(il, line_ids, assets)
        rule_ids = [r.id for r in self.detection_rules]
        errors += [
            f"duplicate detection rule id {i!r}"
            for i in sorted({i for i in rule_ids if rule_ids.count(i) > 1})
        ]
        for rule in self.detection_rules:
            errors += _rule_errors(rule, assets, self.role(self.rules_role))
        if errors:
            raise ValueError("; ".join(errors))
        return self

    def asset(self, asset_id: str) -> Asset | None:
        return next((a for a in self.assets if a.id == asset_id), None)

    def role(self, role_id: str) -> Role | None:
        return next((r for r in self.roles if r.id == role_id), None)

    def people_roles(self) -> tuple[Role, ...]:
        """The roles a person may hold (and so an API key may carry)."""
        return tuple(r for r in self.roles if not r.automated)

    def line_assets(self, line_id: str) -> tuple[Asset, ...]:
        return tuple(a for a in self.assets if a.line == line_id)


def _rule_errors(rule: DetectionRule, assets: dict[str, Asset], role: Role | None) -> list[str]:
    """Every action a rule would request must name a real asset that accepts it, and the
    rules' role must be allowed to ask for it: a rule that cannot act is a configuration
    error, found at load time rather than when a defect burst happens."""
    wanted: list[tuple[str, Command]] = [(rule.asset, Command.place_quality_hold)] * rule.hold_parts
    wanted += [(a, Command.pause) for a in rule.pause] + [(a, Command.stop) for a in rule.stop]
    if rule.work_order is not None:
        wanted.append((rule.work_order.asset, Command.create_work_order))
    errors = [] if rule.asset in assets else [f"rule {rule.id!r}: unknown asset {rule.asset!r}"]
    if role is None:
        return [*errors, f"rule {rule.id!r}: the rules role is not defined under roles"]
    for asset_id, command in wanted:
        asset = assets.get(asset_id)
        if asset is None:
            errors.append(f"rule {rule.id!r}: unknown asset {asset_id!r}")
        elif command not in asset.commands:
            errors.append(f"rule {rule.id!r}: {asset_id} does not accept {command}")
        if not (role.may(Permission.request, command) and role.may(Permission.execute, command)):
            errors.append(f"rule {rule.id!r}: role {role.id!r} may not {command}")
    return errors


def _interlock_errors(il: Interlock, line_ids: set[str], assets: dict[str, Asset]) -> list[str]:
    def need_asset(asset_id: str) -> list[str]:
        return [] if asset_id in assets else [f"interlock {il.id!r}: unknown asset {asset_id!r}"]

    match il:
        case NoStartUnderLockout():
            return [] if il.line in line_ids else [f"interlock {il.id!r}: unknown line {il.line!r}"]
        case SetpointLimitWhileAlarm():
            errs = need_asset(il.asset) + need_asset(il.alarm_asset)
            if not errs:
                tag = assets[il.asset].tag(il.tag)
                if tag is None or tag.kind is not TagKind.setpoint:
                    errs.append(f"interlock {il.id!r}: {il.asset}.{il.tag} is not a setpoint")
                alarms = {al.id for t in assets[il.alarm_asset].tags for al in t.alarms}
                if il.alarm not in alarms:
                    errs.append(f"interlock {il.id!r}: {il.alarm_asset} has no alarm {il.alarm!r}")
            return errs
        case StopBefore():
            return need_asset(il.first) + need_asset(il.then)
        case RunningBefore():
            return need_asset(il.asset) + need_asset(il.required)
        case LockoutRequiresStopped():
            return []
