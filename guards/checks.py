"""The guards' validators: plain, deterministic functions of a proposal and its context.

Each returns the reasons it fails, worded for the operator ("step 1 (set press-3.speed_spm to
35): ... is outside the safe range [8, 30] strokes/min"); an empty list is a pass. They judge
what a model may *propose*: that it names real equipment the request is about, stays inside the
plant's limits, cites what was retrieved, and asks for nothing the requester's role may not
request. Whether it may run now (interlocks, lockouts, approvals) is control's `evaluate`'s to
decide, after the guards.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator

from control.plant.models import Asset, Command, Permission, Tag, TagKind

from .injection import screen_request
from .models import (
    ACTING_KINDS,
    AcknowledgeStep,
    GuardContext,
    LockoutStep,
    PlanProposal,
    ProposedStep,
    SetParameterStep,
    WorkOrderStep,
)

Check = Callable[[PlanProposal, GuardContext], list[str]]

# Relative tolerance when comparing a proposed value with one the operator said.
_SAME = 1e-6


def describe(step: ProposedStep) -> str:
    match step:
        case SetParameterStep():
            return f"set {step.asset}.{step.tag} to {step.value:g}"
        case LockoutStep(holder=str(holder)):
            return f"{step.command} on {step.asset} for {holder}"
        case AcknowledgeStep():
            return f"acknowledge {step.alarm} on {step.asset}"
        case WorkOrderStep():
            return f"work order on {step.asset}"
        case _:
            return f"{step.command} {step.asset}"


def _steps(proposal: PlanProposal) -> Iterator[tuple[str, ProposedStep]]:
    """Each step with its label, for proposals that act (questions and refusals carry none)."""
    if proposal.kind in ACTING_KINDS:
        for index, step in enumerate(proposal.steps):
            yield f"step {index + 1} ({describe(step)})", step


# --- The request itself ------------------------------------------------------------------


def request_problems(ctx: GuardContext) -> list[str]:
    """Why the request itself must not be planned: it instructs the assistant, asks to get
    around a safety function, or names a line or machine the plant lacks. Needs no model."""
    reasons = [f"the request {finding}" for finding in screen_request(ctx.request)]
    reasons += [f"the plant has no {ref}" for ref in ctx.aliases.unknown_references(ctx.request)]
    return reasons


def check_request(proposal: PlanProposal, ctx: GuardContext) -> list[str]:
    return request_problems(ctx)


# --- Equipment ---------------------------------------------------------------------------


def check_has_steps(proposal: PlanProposal, ctx: GuardContext) -> list[str]:
    if proposal.kind in ACTING_KINDS and not proposal.steps:
        return [f"a {proposal.kind} proposal needs at least one step"]
    return []


def check_steps_once(proposal: PlanProposal, ctx: GuardContext) -> list[str]:
    """No step repeats an earlier one on the same asset with nothing done to that asset in
    between (a small model loops: stop, stop; the same order twice). "Stop, start, stop" is
    not a repeat."""
    reasons = []
    last_on_asset: dict[str, ProposedStep] = {}
    for label, step in _steps(proposal):
        if last_on_asset.get(step.asset) == step:
            reasons.append(f"{label}: repeats the step before it on {step.asset}; plan it once")
        last_on_asset[step.asset] = step
    return reasons


def check_assets_exist(proposal: PlanProposal, ctx: GuardContext) -> list[str]:
    known = ", ".join(a.id for a in ctx.plant.assets)
    return [
        f"{label}: the plant has no asset {step.asset!r} (it has: {known})"
        for label, step in _steps(proposal)
        if ctx.plant.asset(step.asset) is None
    ]


def check_assets_named(proposal: PlanProposal, ctx: GuardContext) -> list[str]:
    """Each step acts on equipment the request names, or on the line of equipment it names:
    a model must not pick a machine the operator did not speak of."""
    aliases = ctx.aliases
    mentioned = aliases.mentioned_assets(ctx.request)
    lines = aliases.mentioned_lines(ctx.request) | {aliases.line_of[a] for a in mentioned}
    allowed = mentioned | aliases.on_lines(lines)
    reasons = []
    for label, step in _steps(proposal):
        if ctx.plant.asset(step.asset) is None or step.asset in allowed:
            continue
        if not allowed:
            reasons.append(f"{label}: the request names no machine or line; say which one")
        else:
            reasons.append(f"{label}: the request is not about {aliases.label(step.asset)}")
    return reasons


def check_commands_accepted(proposal: PlanProposal, ctx: GuardContext) -> list[str]:
    reasons = []
    for label, step in _steps(proposal):
        asset = ctx.plant.asset(step.asset)
        if asset is not None and Command(step.command) not in asset.commands:
            accepted = ", ".join(sorted(asset.commands))
            reasons.append(f"{label}: {asset.id} does not accept {step.command} ({accepted})")
    return reasons


def check_role(proposal: PlanProposal, ctx: GuardContext) -> list[str]:
    role = ctx.plant.role(ctx.requester.role)
    if role is None:
        return [f"role {ctx.requester.role!r} is not defined for this plant"]
    return [
        f"{label}: role {role.id} may not request {step.command}"
        for label, step in _steps(proposal)
        if not role.may(Permission.request, Command(step.command))
    ]


# --- Only what was asked ---------------------------------------------------------------

# Words by which a request asks for each command. A step whose command the request does not ask
# for (a lockout added to a shutdown, an alarm acknowledged beside a work order) is refused: a
# model must not add actions, however plausible.
_ASKS: dict[Command, re.Pattern[str]] = {
    Command.start: re.compile(r"\b(start|restart|run|get \w+ going|switch on|turn on|power up)"),
    Command.stop: re.compile(r"\b(stop|halt|turn off|switch off)|\bshut (\w+ )?(down|off)\b"),
    Command.pause: re.compile(r"\bpaus"),
    Command.resume: re.compile(r"\b(resume|restart|continue|carry on)"),
    Command.apply_lockout: re.compile(
        r"\block(ed)?[ -]?(\w+ )?out\b|\blockout|\bloto\b|\bisolate|\b(put|place|hang) \w+ lock"
    ),
    Command.remove_lockout: re.compile(
        r"\b(remove|take|release|pull|clear)\b[^.]{0,40}\block|\bunlock|\block\b[^.]{0,30}\boff\b"
    ),
    Command.acknowledge_alarm: re.compile(r"\back\b|\backnowledg|\bsilence"),
    Command.place_quality_hold: re.compile(r"\b(quality )?hold\b|\bquarantin"),
}
# An explicit ask for maintenance work. Without one, a work order is what a request asks for
# only when it asks for no other command: a fault report ("the gearmotor is dead").
_ASKS_WORK = re.compile(
    r"work ?order|\bwrite (it|this|that) up|\b(raise|open|make|create|log) (a|an)\b|\brepair|"
    r"\breplac|\bfix|\binspect|\bcheck\b|\blook at|\bmaintenance\b|\border\b"
)
# Work on the machine itself: such an order needs its lockout marked.
_HANDS_ON = re.compile(r"\b(replac|repair|change|fit|install|dismantl|overhaul|swap)")


def requested_commands(ctx: GuardContext) -> frozenset[Command]:
    """The commands the request asks for, by its words; set_parameter when it says a value."""
    text = ctx.request.lower()
    asked = {command for command, pattern in _ASKS.items() if pattern.search(text)}
    if requested_numbers(ctx):
        asked.add(Command.set_parameter)
    asked.update(demanded_commands(ctx))  # "file a ticket": given as an instruction
    if _ASKS_WORK.search(text) or not asked:
        asked.add(Command.create_work_order)
    return frozenset(asked)


def check_commands_requested(proposal: PlanProposal, ctx: GuardContext) -> list[str]:
    asked = requested_commands(ctx)
    return [
        f"{label}: the request does not ask for {step.command}; plan only the steps asked for"
        for label, step in _steps(proposal)
        if Command(step.command) not in asked
    ]


# Commands a request gives as instructions: an imperative verb opening a clause ("Stop
# feeder 2, lock it out and open a work order"). Stricter than _ASKS, whose loose words also
# catch mentions ("in order", "88 °C", "it stopped"): a plan must contain every command
# demanded here, and may contain any asked for above.
_CLAUSE = r"(?:^|[.,:;!?]\s*|\b(?:and|then|please|also|now|first|so|just|you)\s+)"
_DEMANDS: dict[Command, re.Pattern[str]] = {
    command: re.compile(_CLAUSE + verb)
    for command, verb in {
        Command.stop: r"(?:stop|halt|shut (?:\S+ ){0,3}?(?:down|off))\b",
        Command.start: r"(?:start|switch on|power up)\b",
        Command.pause: r"pause\b",
        Command.resume: r"resume\b",
        Command.apply_lockout: (
            r"(?:lock (?:\S+ ){0,2}?out"
            r"|(?:apply|put|hang|place) (?:\S+ ){0,2}?(?:lock|lockout|loto))\b"
        ),
        Command.remove_lockout: (
            r"(?:(?:remove|release|clear) (?:\S+ ){0,3}?lock(?:out)?"
            r"|take (?:\S+ ){0,3}?lock(?:out)? off)\b"
        ),
        Command.acknowledge_alarm: r"(?:ack|acknowledge|silence)\b",
        Command.place_quality_hold: (
            r"(?:(?:put|place) (?:\S+ ){0,5}?on (?:quality )?hold|quarantine)\b"
        ),
        Command.set_parameter: (
            r"(?:set|drop|lower|reduce|raise|increase|bring|slow|change|turn|take|run)\b"
            r"[^.;:]{0,50}?\bto \d"
        ),
        Command.create_work_order: (
            r"(?:open|raise|create|make|log|write|file|book) (?:up )?(?:a |an )?(?:new )?"
            r"(?:\S+ ){0,2}?(?:work ?order|wo|job|ticket)\b"
        ),
    }.items()
}


def demanded_commands(ctx: GuardContext) -> tuple[Command, ...]:
    """The commands the request gives as instructions, in the order it gives them; the plan
    must carry each."""
    text = ctx.request.lower()
    found = {c: m.start() for c, p in _DEMANDS.items() if (m := p.search(text)) is not None}
    return tuple(sorted(found, key=found.__getitem__))


def check_commands_planned(proposal: PlanProposal, ctx: GuardContext) -> list[str]:
    """Every command the request gives is in the plan, those that act first done in the order
    the request gives them: a small model folds "drop it to 16" into a work order's tasks, or
    keeps only the order of "stop, lock out and open an order"."""
    if proposal.kind not in ACTING_KINDS:
        return []
    demanded = demanded_commands(ctx)
    every = ", ".join(command.value for command in demanded)
    planned = [Command(step.command) for step in proposal.steps]
    missing = [command.value for command in demanded if command not in planned]
    if missing:
        return [f"the plan lacks {', '.join(missing)}: the request asks for {every}, plan each"]
    # A work order moves nothing, so only the order of the commands that act is kept.
    acting = [command for command in demanded if command is not Command.create_work_order]
    first = [planned.index(command) for command in acting]
    if first != sorted(first):
        asked = ", ".join(command.value for command in acting)
        return [f"the steps are out of order: the request asks for {asked}, in that order"]
    return []


# --- Setpoints ---------------------------------------------------------------------------


def check_setpoints(proposal: PlanProposal, ctx: GuardContext) -> list[str]:
    """Each value is finite, inside the safe range, and at most one maximum step away from the
    value before it (the live value, or the plan's own previous step on the same tag)."""
    reasons: list[str] = []
    projected: dict[tuple[str, str], float | None] = {}
    for label, step in _steps(proposal):
        if not isinstance(step, SetParameterStep):
            continue
        asset = ctx.plant.asset(step.asset)
        if asset is None:
            continue
        tag = asset.tag(step.tag)
        problem = _not_settable(asset, step.tag, tag)
        if problem or tag is None:
            reasons.append(f"{label}: {problem}")
            continue
        assert tag.safe_range is not None and tag.max_step is not None  # setpoint invariant
        unit, safe = tag.unit, tag.safe_range
        if not math.isfinite(step.value):
            reasons.append(f"{label}: {step.value} is not a number a plant can be set to")
            continue
        if not safe.contains(step.value):
            reasons.append(
                f"{label}: {step.value:g} {unit} is outside the safe range "
                f"[{safe.low:g}, {safe.high:g}] {unit}"
            )
        key = (asset.id, tag.id)
        before = projected.get(key, ctx.state.asset(asset.id).tags.get(tag.id))
        if before is None or not math.isfinite(before):
            reasons.append(f"{label}: the current value is unknown, so the change cannot be sized")
        elif abs(step.value - before) > tag.max_step + _SAME * tag.max_step:
            reasons.append(
                f"{label}: a change from {before:g} to {step.value:g} {unit} is larger than the "
                f"maximum step of {tag.max_step:g} {unit}; go in steps"
            )
        projected[key] = step.value
    return reasons


def _not_settable(asset: Asset, tag_id: str, tag: Tag | None) -> str:
    if tag is None:
        settable = ", ".join(t.id for t in asset.setpoints()) or "none"
        return f"{asset.id} has no tag {tag_id!r} (its setpoints: {settable})"
    if tag.kind is not TagKind.setpoint:
        return f"{asset.id}.{tag.id} is a {tag.kind} ({tag.description}), it cannot be set"
    return ""


_WORD = re.compile(r"[a-z]+")
# Words of tag descriptions that say nothing about which tag is meant.
_VAGUE = frozenset({"setpoint", "per", "the", "which", "above", "part", "strip", "press", "min"})
_RATE_WORDS = frozenset({"speed", "slow", "slower", "faster", "fast", "rate"})


def tag_words(tag: Tag) -> frozenset[str]:
    """Words by which a request names a tag: its id, its description and its unit."""
    text = f"{tag.id.replace('_', ' ')} {tag.description} {tag.unit.replace('/', ' ')}"
    words = {w for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in _VAGUE}
    if "speed" in words:  # "slow press 3 to 16", "run the belt faster"
        words |= _RATE_WORDS
    return frozenset(words)


def check_tags_named(proposal: PlanProposal, ctx: GuardContext) -> list[str]:
    """A setpoint is changed only when the request speaks of it: constrained decoding always
    picks *some* setpoint, even for "set the oil temperature to 50"."""
    said = set(_WORD.findall(ctx.request.lower()))
    reasons = []
    for label, step in _steps(proposal):
        if not isinstance(step, SetParameterStep):
            continue
        asset = ctx.plant.asset(step.asset)
        tag = asset.tag(step.tag) if asset is not None else None
        if tag is None or tag.kind is not TagKind.setpoint:
            continue  # check_setpoints says why
        unit_said = tag.unit not in {"1", "mm"} and tag.unit.lower() in ctx.request.lower()
        if not (tag_words(tag) & said or unit_said):
            reasons.append(
                f"{label}: the request does not speak of {step.tag} ({tag.description.lower()})"
            )
    return reasons


# Mentions of equipment carry numbers that are not values: "press 3", "P-400", "line 2".
_CODE = re.compile(r"\b[a-z]{1,4}-?\d+\b(?!\s*(mm|m/s|%|strokes|spm|t\b))", re.IGNORECASE)
_SIZE = re.compile(r"\b\d+\s*(t|tons?|tonnes?)\s+press\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])[-−]?\d+(?:\.\d+)?")


def requested_numbers(ctx: GuardContext) -> list[float]:
    """Numbers in the request that can be values, equipment names taken out."""
    text = _SIZE.sub(" ", ctx.request)
    kinds = "|".join(sorted(ctx.aliases.numbered_kinds))
    if kinds:
        text = re.sub(rf"\b({kinds})[ -]?\d+\b", " ", text, flags=re.IGNORECASE)
    text = _CODE.sub(" ", text)
    return [float(n.replace("−", "-")) for n in _NUMBER.findall(text)]


def check_values_requested(proposal: PlanProposal, ctx: GuardContext) -> list[str]:
    """When the operator says numbers, each tag the plan sets ends on a value they asked for
    (the number itself, or the current value moved by it, or by it in percent), passing only
    through values between. A plan that quietly sets 30 when 35 was asked is refused, not run."""
    numbers = requested_numbers(ctx)
    if not numbers:
        return []
    by_tag: dict[tuple[str, str], list[tuple[str, SetParameterStep]]] = {}
    for label, step in _steps(proposal):
        if isinstance(step, SetParameterStep) and math.isfinite(step.value):
            by_tag.setdefault((step.asset, step.tag), []).append((label, step))
    reasons = []
    for (asset_id, tag_id), steps in by_tag.items():
        start = ctx.state.asset(asset_id).tags.get(tag_id)
        label, last = steps[-1]
        if not _asked(last.value, start, numbers):
            said = ", ".join(f"{n:g}" for n in numbers)
            reasons.append(
                f"{label}: {last.value:g} is not a value the request asked for (it says {said})"
            )
        elif start is not None:
            low, high = sorted((start, last.value))
            reasons += [
                f"{lbl}: {s.value:g} is not on the way from {start:g} to {last.value:g}"
                for lbl, s in steps[:-1]
                if not low <= s.value <= high
            ]
    return reasons


def _asked(value: float, start: float | None, numbers: list[float]) -> bool:
    candidates = list(numbers)
    if start is not None and math.isfinite(start):
        for n in numbers:
            candidates += [start + n, start - n, start * (1 + n / 100), start * (1 - n / 100)]
    return any(math.isclose(value, c, rel_tol=_SAME, abs_tol=1e-9) for c in candidates)


# --- Alarms and locks --------------------------------------------------------------------


def check_alarms_exist(proposal: PlanProposal, ctx: GuardContext) -> list[str]:
    reasons = []
    for label, step in _steps(proposal):
        asset = ctx.plant.asset(step.asset)
        if not isinstance(step, AcknowledgeStep) or asset is None:
            continue
        alarms = [alarm.id for tag in asset.tags for alarm in tag.alarms]
        if step.alarm not in alarms:
            reasons.append(
                f"{label}: {asset.id} has no alarm {step.alarm!r} ({', '.join(alarms) or 'none'})"
            )
    return reasons


def check_lock_holders(proposal: PlanProposal, ctx: GuardContext) -> list[str]:
    """A lock is applied by the person it protects; removing one names a lock that exists.
    (Removing someone else's lock is for control to route to a second person's approval.)"""
    reasons = []
    for label, step in _steps(proposal):
        if not isinstance(step, LockoutStep) or step.holder in (None, ctx.requester.user):
            continue
        if step.command == Command.apply_lockout:
            reasons.append(
                f"{label}: a lock is personal; {ctx.requester.user} cannot apply one for "
                f"{step.holder}"
            )
        elif step.holder not in ctx.state.asset(step.asset).lockouts:
            reasons.append(f"{label}: {step.holder} holds no lock on {step.asset}")
    return reasons


# --- Sources -----------------------------------------------------------------------------


def check_citations(proposal: PlanProposal, ctx: GuardContext) -> list[str]:
    """A plan cites what it stands on, and only sources retrieved for this request; a source
    withheld for trying to instruct the assistant can never be a plan's ground."""
    if proposal.kind not in ACTING_KINDS:
        return []
    if not proposal.citations:
        return ["the plan cites no source"]
    reasons = []
    for cited in proposal.citations:
        if cited in ctx.flagged:
            reasons.append(
                f"the plan cites {cited}, a source withheld because it tries to instruct the "
                "assistant"
            )
        elif cited not in ctx.sources:
            reasons.append(f"the plan cites {cited!r}, which was not retrieved for this request")
    return reasons


def check_parts_known(proposal: PlanProposal, ctx: GuardContext) -> list[str]:
    """Part numbers come from the request or the retrieved passages, never from the model."""
    texts = [ctx.request, *(ctx.sources[c] for c in ctx.citable)]
    reasons = []
    for label, step in _steps(proposal):
        if not isinstance(step, WorkOrderStep):
            continue
        reasons += [
            f"{label}: part {part!r} is listed more than once"
            for part in dict.fromkeys(p for p in step.parts if step.parts.count(p) > 1)
        ]
        for part in dict.fromkeys(step.parts):
            pattern = re.compile(rf"(?<![\w-]){re.escape(part)}(?![\w-])", re.IGNORECASE)
            if not any(pattern.search(text) for text in texts):
                reasons.append(
                    f"{label}: part {part!r} appears in neither the request nor its sources"
                )
    return reasons


def check_work_order_lockout(proposal: PlanProposal, ctx: GuardContext) -> list[str]:
    """An order to fit parts or to repair, replace or change something marks that the machine
    must be locked out for it: the planner says so, nobody finds out at the machine."""
    reasons = []
    for label, step in _steps(proposal):
        if not isinstance(step, WorkOrderStep) or step.lockout_required:
            continue
        if step.parts or _HANDS_ON.search(" ".join([ctx.request, *step.tasks]).lower()):
            reasons.append(f"{label}: work that fits parts or repairs needs lockout_required true")
    return reasons


# Every validator, in the order their reasons are reported.
CHECKS: dict[str, Check] = {
    "request": check_request,
    "has_steps": check_has_steps,
    "steps_once": check_steps_once,
    "assets_exist": check_assets_exist,
    "assets_named": check_assets_named,
    "commands_accepted": check_commands_accepted,
    "role": check_role,
    "commands_requested": check_commands_requested,
    "commands_planned": check_commands_planned,
    "setpoints": check_setpoints,
    "tags_named": check_tags_named,
    "values_requested": check_values_requested,
    "alarms_exist": check_alarms_exist,
    "lock_holders": check_lock_holders,
    "citations": check_citations,
    "parts_known": check_parts_known,
    "work_order_lockout": check_work_order_lockout,
}
