"""The validators run through guardrails-ai: every reason comes back, nothing is altered, and
nothing tries the network."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guards.checks import CHECKS
from guards.models import PlanProposal
from guards.rails import CONTEXT_KEY, VALIDATORS, plan_guard, run_guard
from guards.verdict import validate

from .helpers import FACT, MANUAL, context, plan, run, setpoint

ROOT = Path(__file__).resolve().parents[2]


def direct(proposal: PlanProposal, request: str) -> set[str]:
    """What the checks say when called as plain functions."""
    ctx = context(request)
    return {reason for check in CHECKS.values() for reason in check(proposal, ctx)}


def test_a_valid_plan_passes_unchanged() -> None:
    proposal = plan(setpoint("press-3", "speed_spm", 24))
    verdict = validate(proposal, context("Set press 3 to 24 strokes per minute."))
    assert verdict.passed and verdict.reasons == ()


def test_every_reason_of_every_failing_check_comes_back() -> None:
    proposal = plan(setpoint("press-3", "speed_spm", 35), run("pause", "vision-2"), cite=())
    request = "Set press 3 to 35 strokes per minute."
    verdict = validate(proposal, context(request))
    assert not verdict.passed
    assert set(verdict.reasons) == direct(proposal, request)
    # Safe range, step size, a command vision-2 does not accept and the request does not ask
    # for, no source.
    assert len(verdict.reasons) == 5
    assert any("does not ask for pause" in r for r in verdict.reasons)


STEPS = st.one_of(
    st.builds(
        setpoint,
        st.sampled_from(["press-3", "press-1", "conveyor-2", "press-9"]),
        st.sampled_from(["speed_spm", "speed_mps", "shut_height_mm", "tonnage_t"]),
        st.floats(min_value=-50, max_value=700, allow_nan=False),
    ),
    st.builds(
        run,
        st.sampled_from(["start", "stop", "pause", "resume"]),
        st.sampled_from(["press-3", "vision-2", "feeder-1"]),
    ),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(STEPS, min_size=0, max_size=4),
    cite=st.sampled_from([(), (FACT,), (MANUAL,), ("invented#x:0",)]),
    request=st.sampled_from(
        ["Set press 3 to 24 strokes per minute.", "Stop line 2.", "Pause the vision station."]
    ),
)
def test_the_guard_agrees_with_the_checks(steps: list, cite: tuple, request: str) -> None:
    proposal = plan(*steps, cite=cite)
    reasons = run_guard(plan_guard(), proposal, context(request))
    assert set(reasons) == direct(proposal, request)


def test_our_validators_never_fix_or_reask() -> None:
    validators = plan_guard()._validator_map["$"]
    assert {type(v) for v in validators} == set(VALIDATORS.values())
    assert {v.on_fail_descriptor for v in validators} == {"noop"}


def test_a_guard_missing_a_check_fails_closed() -> None:
    from guardrails import Guard

    guard = Guard.for_pydantic(PlanProposal)
    guard.configure(allow_metrics_collection=False)
    guard.use(*(cls() for name, cls in VALIDATORS.items() if name != "citations"), on="$")
    reasons = run_guard(guard, plan(run("start", "press-3")), context("Start press 3."))
    assert reasons == ["the citations check did not run"]


def test_a_fix_or_exhausted_reask_cannot_change_a_value() -> None:
    """guardrails' FIX, and a REASK with no re-asks left, hand back the validator's fix value
    (here a speed clamped to 30) and report the output as passed. `run_guard` reads that as
    what it is: a failure, with the validator's reason, and the proposal altered."""
    from guardrails import Guard, OnFailAction
    from guardrails.validators import FailResult, PassResult, Validator, register_validator

    @register_validator(name="test/clamp-speed", data_type="object")
    class ClampSpeed(Validator):
        def validate(self, value: Any, metadata: dict[str, Any]) -> Any:
            step = value["steps"][0]
            if step["value"] <= 30:
                return PassResult()
            clamped = {**value, "steps": [{**step, "value": 30.0}]}
            return FailResult(error_message="speed above 30, clamped", fix_value=clamped)

    proposal = plan(setpoint("press-3", "speed_spm", 35))
    ctx = context("Set press 3 to 35 strokes per minute.")
    for action in (OnFailAction.FIX, OnFailAction.REASK, OnFailAction.FIX_REASK):
        guard = Guard.for_pydantic(PlanProposal)
        guard.configure(allow_metrics_collection=False)
        guard.use(*(cls() for cls in VALIDATORS.values()), ClampSpeed(on_fail=action), on="$")

        given = json.dumps(proposal.model_dump(mode="json"))
        raw = guard.parse(llm_output=given, metadata={CONTEXT_KEY: ctx}, num_reasks=0)
        assert raw.validation_passed and raw.validated_output["steps"][0]["value"] == 30.0, action

        reasons = run_guard(guard, proposal, ctx)
        assert "speed above 30, clamped" in reasons, action
        assert "the guard altered the proposal instead of passing it unchanged" in reasons
        assert proposal.steps[0].value == 35  # what would reach control is never the clamp


NO_NETWORK = """
import os, socket, sys

def audit(event, args):
    # Reported at once on stderr: telemetry exporters also try at exit, after any print.
    if event == "socket.connect":
        address = args[1]
        host = address[0] if isinstance(address, tuple) else str(address)
        if not (host.startswith("127.") or host in {"::1", "localhost"} or host.startswith("/")):
            os.write(2, f"NETWORK-ATTEMPT connect {address}\\n".encode())
            raise OSError(f"network blocked by the test: {address}")
    elif event == "socket.getaddrinfo" and args[0] not in (None, "localhost", "127.0.0.1"):
        os.write(2, f"NETWORK-ATTEMPT lookup {args[0]}\\n".encode())
        raise OSError(f"name lookup blocked by the test: {args[0]}")

sys.addaudithook(audit)
sys.path.insert(0, ROOT)
from guards import validate
from tests.guards.helpers import context, plan, setpoint
good = validate(plan(setpoint("press-3", "speed_spm", 24)), context("press 3 to 24 strokes"))
bad = validate(plan(setpoint("press-3", "speed_spm", 35)), context("press 3 to 35 strokes"))
print("RESULT", good.passed, bad.passed)
try:  # the canary: proves the hook sees a lookup
    socket.getaddrinfo("canary.invalid", 443)
except OSError:
    pass
"""


def test_nothing_tries_the_network() -> None:
    """Import, guard construction and validation in a fresh process whose every connection
    or name lookup beyond loopback is recorded and refused."""
    script = f"ROOT = {str(ROOT)!r}\n" + textwrap.dedent(NO_NETWORK)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT / "var" / "no-home")}  # no ~/.guardrailsrc
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = next(line for line in done.stdout.splitlines() if line.startswith("RESULT"))
    assert result == "RESULT True False", done.stderr[-2000:]
    attempts = [line for line in done.stderr.splitlines() if line.startswith("NETWORK-ATTEMPT")]
    assert attempts == ["NETWORK-ATTEMPT lookup canary.invalid"], done.stderr[-2000:]


def test_fields_left_empty_do_not_count_as_altered() -> None:
    """guardrails drops keys whose value is null (a work order without a due time, a lock
    without a named holder); the proposal is still the one that went in."""
    order = {
        "command": "create_work_order",
        "asset": "press-3",
        "symptom": "squealing on the down stroke",
        "tasks": ["Check the main bearing"],
        "lockout_required": True,
    }
    proposal = plan(order, {"command": "apply_lockout", "asset": "press-3"}, kind="work_order")
    request = "Press 3 is squealing on the down stroke, lock it out and check the bearing."
    assert validate(proposal, context(request)).reasons == ()


def test_importing_guardrails_leaves_sqlite_datetimes_as_text() -> None:
    # guardrails registers a process-wide adapter turning datetimes into epoch seconds; our
    # SQLite stores (and the audit chain's hashes) would then see another value than was meant.
    import sqlite3
    from datetime import datetime

    with sqlite3.connect(":memory:") as conn:
        conn.execute("CREATE TABLE t (ts)")
        conn.execute("INSERT INTO t VALUES (?)", (datetime(2026, 1, 2, 3, 4, 5, 678900),))
        (stored,) = conn.execute("SELECT ts FROM t").fetchone()
    assert stored == "2026-01-02 03:04:05.678900"
