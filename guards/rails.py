"""Our validators run by guardrails-ai over a proposal, with nothing leaving this machine.

Each check of `guards.checks` is a registered guardrails validator on the whole proposal
(`Guard.for_pydantic(PlanProposal)`), with ``on_fail=NOOP``: guardrails records every failure in
``validation_summaries`` and changes nothing. Its FIX and REASK actions are never used, because
an exhausted REASK or a FIX hands back a corrected value (a clamped setpoint) while reporting
success. As a second line, `run_guard` treats any difference between what went in and what
guardrails hands back as a failure, so a value guardrails altered can never pass as validated.

guardrails-ai would phone home at import and at first use: its telemetry is on unless a
``~/.guardrailsrc`` says otherwise (switched off here, in process, before any guard exists),
it downloads nltk's "punkt" tokenizer at import when that is absent (refused here), and
litellm (not installed, never imported on this path) would fetch a price map
(``LITELLM_LOCAL_MODEL_COST_MAP``). Its import also registers process-wide sqlite3 adapters
(every ``datetime`` bound to any SQLite connection becomes whole epoch seconds): they are undone.
"""

from __future__ import annotations

import json
import os
import sqlite3
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@contextmanager
def _contained_import() -> Iterator[None]:
    """While guardrails imports: nltk.download refuses (it asks for "punkt", never needed here),
    and sqlite3's adapters and converters are put back as they were afterwards."""
    import nltk

    real = nltk.download
    adapters = dict(sqlite3.adapters)
    converters = dict(sqlite3.converters)

    def refuse(*args: object, **kwargs: object) -> bool:
        return False

    nltk.download = refuse
    try:
        yield
    finally:
        nltk.download = real
        sqlite3.adapters.clear()
        sqlite3.adapters.update(adapters)
        sqlite3.converters.clear()
        sqlite3.converters.update(converters)


with _contained_import():
    from guardrails import Guard, OnFailAction
    from guardrails.classes.rc import RC
    from guardrails.settings import settings
    from guardrails.validators import (
        FailResult,
        PassResult,
        ValidationResult,
        Validator,
        register_validator,
    )

# Called from async code, guardrails validates synchronously (what we want) and warns each time.
warnings.filterwarnings("ignore", "Could not obtain an event loop", UserWarning, "guardrails")

# Before any Guard or Validator exists: both read these when they are built.
settings.rc = RC(enable_metrics=False, use_remote_inferencing=False)
settings.use_server = False
settings.disable_tracing = True

from .checks import CHECKS  # noqa: E402
from .models import GuardContext, PlanProposal  # noqa: E402

CONTEXT_KEY = "andon_guard_context"
_SEPARATOR = "\n"  # between the reasons of one validator (reasons are one line each)


class _AndonCheck(Validator):
    """Runs one of our checks; subclasses name which (``check``)."""

    check: str = ""

    def __init__(self, on_fail: OnFailAction = OnFailAction.NOOP, **kwargs: Any) -> None:
        super().__init__(on_fail=on_fail, use_local=True, **kwargs)

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        ctx: GuardContext = metadata[CONTEXT_KEY]
        reasons = CHECKS[self.check](PlanProposal.model_validate(value), ctx)
        if reasons:
            return FailResult(error_message=_SEPARATOR.join(reasons))
        return PassResult()


def _validator_class(name: str) -> type[_AndonCheck]:
    cls = type(f"Andon_{name}", (_AndonCheck,), {"check": name})
    return register_validator(name=f"andon/{name}", data_type="object")(cls)  # type: ignore[return-value]


VALIDATORS: dict[str, type[_AndonCheck]] = {name: _validator_class(name) for name in CHECKS}


@cache
def plan_guard() -> Guard:
    """The one guard for plan proposals (validators are stateless; the context travels in the
    call's metadata)."""
    guard = Guard.for_pydantic(PlanProposal, name="andon-plan-proposal")
    guard.configure(allow_metrics_collection=False, num_reasks=0)
    guard.use(*(cls() for cls in VALIDATORS.values()), on="$")
    return guard


def run_guard(guard: Guard, proposal: PlanProposal, ctx: GuardContext) -> list[str]:
    """Every reason ``guard`` finds against ``proposal``; empty only when all its validators
    passed and the output is the proposal unchanged."""
    given = proposal.model_dump(mode="json")
    try:
        outcome = guard.parse(
            llm_output=json.dumps(given), metadata={CONTEXT_KEY: ctx}, num_reasks=0
        )
    except Exception as exc:  # a validator that crashed has validated nothing: fail closed
        return [f"the guard could not run: {exc.__class__.__name__}: {exc}"]
    reasons = [
        reason
        for summary in outcome.validation_summaries or []
        if summary.failure_reason
        for reason in summary.failure_reason.split(_SEPARATOR)
    ]
    if outcome.error:
        reasons.append(f"the guard could not run: {outcome.error}")
    # Fail closed: a validator guardrails skipped has passed nothing.
    ran = {log.registered_name for log in guard.history.last.iterations.last.validator_logs}
    missing = [name for name in VALIDATORS if f"andon/{name}" not in ran]
    reasons += [f"the {name} check did not run" for name in missing]
    if not _same(outcome.validated_output, proposal):
        reasons.append("the guard altered the proposal instead of passing it unchanged")
    if not outcome.validation_passed and not reasons:
        reasons.append("the guard rejected the proposal without a reason")
    return reasons


def _same(output: Any, proposal: PlanProposal) -> bool:
    """Whether guardrails handed back the proposal itself (it drops keys whose value is null,
    so the comparison is of the parsed proposals, not of the dicts)."""
    try:
        return PlanProposal.model_validate(output) == proposal
    except ValueError:  # pydantic's ValidationError included: not even a proposal any more
        return False
