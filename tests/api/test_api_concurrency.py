"""Requests that arrive together: each is decided on the plant the other left, never on one
read both shared, and an emergency stop overtakes what was judged before it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from control.actions.models import Requester
from control.safety.service import emergency_stop, manual_override

from .api_helpers import LiveSystem, command

ROUNDS = 8


async def _together(live: LiveSystem, *posts: tuple[str, dict[str, Any]]) -> list[httpx.Response]:
    """POST the actions at once, one connection each, as separate MES clients would."""

    async def post(user: str, action: dict[str, Any]) -> httpx.Response:
        async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as client:
            return await client.post(
                "/actions",
                headers=live.auth(user),
                json={"action": action, "reason": "two people at once"},
            )

    return list(await asyncio.gather(*(post(user, action) for user, action in posts)))


def _write_seq(live: LiveSystem, response: httpx.Response) -> int:
    (write,) = live.audit(request_id=response.json()["id"], kind="write")
    return int(write["seq"])


def test_a_start_and_a_lockout_on_one_line_are_decided_one_after_the_other(
    live: LiveSystem,
) -> None:
    # Without claims both were judged on one read showing no lockout, so both were allowed
    # and the start could reach the plant after the lockout: equipment started on a line
    # under lockout. Now whichever comes second sees the first's effect.
    for _ in range(ROUNDS):
        live.sim_reset()
        lockout, start = asyncio.run(
            _together(
                live,
                ("carol", command("apply_lockout", "conveyor-2")),
                ("alice", command("start", "vision-2")),
            )
        )
        assert lockout.status_code == 200, lockout.text  # a stopped belt may always be locked
        assert live.snapshot("conveyor-2").lockouts == ("carol",)
        if start.status_code == 403:  # judged after the lockout
            assert "line-2-lockout" in start.json()["message"], start.text
            assert live.snapshot("vision-2").run_state == "stopped"
        else:  # judged and carried out before it
            assert start.status_code == 200, start.text
            assert start.json()["status"] == "executed"
            assert _write_seq(live, start) < _write_seq(live, lockout)


def test_a_feeder_start_and_its_press_stop_never_leave_the_feeder_running_alone(
    live: LiveSystem,
) -> None:
    # feeder-2 may start only while press-3 runs; press-3 may stop only once feeder-2 has.
    # Judged on one shared read, both passed and left strip feeding into a stopped press.
    for _ in range(ROUNDS):
        live.sim_reset()
        live.sim_do(lambda p: p.start("press-3"))
        start, stop = asyncio.run(
            _together(
                live,
                ("alice", command("start", "feeder-2")),
                ("bob", command("stop", "press-3")),
            )
        )
        assert {start.status_code, stop.status_code} <= {200, 403}, (start.text, stop.text)
        assert 200 in {start.status_code, stop.status_code}, (start.text, stop.text)
        feeder, press = live.snapshot("feeder-2"), live.snapshot("press-3")
        assert not (feeder.run_state == "running" and press.run_state == "stopped"), (
            start.text,
            stop.text,
        )


SAFETY_ACTIONS = {
    "emergency stop": lambda svc, bob: emergency_stop(svc, "line-2", bob, "jam"),
    "manual takeover": lambda svc, bob: manual_override(svc, "vision-2", True, bob, "by hand"),
}


@pytest.mark.parametrize("safety", sorted(SAFETY_ACTIONS))
def test_a_safety_action_overtakes_the_rest_of_a_plan_judged_before_it(
    live: LiveSystem, safety: str
) -> None:
    # The safety action must land between the plan's two steps. The test fires the real one
    # from the event bus the moment the first step's actuation is published; that hook is
    # only the timing, the action goes through the real service to the plant.
    svc = live.app.state.services
    publish = svc.events.publish
    fired: list[asyncio.Task[Any]] = []

    def publish_and_intervene(kind: str, data: dict[str, Any]) -> None:
        publish(kind, data)
        if kind == "actuation" and data.get("asset") == "conveyor-2" and not fired:
            bob = Requester(user="bob", role="supervisor")
            fired.append(asyncio.ensure_future(SAFETY_ACTIONS[safety](svc, bob)))

    svc.events.publish = publish_and_intervene
    try:
        response = live.plan(
            "bob",
            [command("start", "conveyor-2"), command("start", "vision-2")],
            "start the belt, then the camera",
        )
    finally:
        svc.events.publish = publish
        if fired:
            live.run(_settled(fired[0]))
    assert fired, "the first step never reached the plant"
    body = response.json()
    assert body["status"] == "failed", body
    assert "emergency stop or manual takeover of vision-2" in body["message"], body["message"]
    assert [step["sent"] for step in body["steps"]] == [True, False]
    # Nothing judged before the intervention was sent after it.
    assert live.snapshot("vision-2").run_state == "stopped"


async def _settled(task: asyncio.Task[Any]) -> None:
    await task
