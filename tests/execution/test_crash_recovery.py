"""A control process killed with SIGKILL mid-workflow resumes on restart and never actuates twice.

The API runs as a real subprocess (`andon api`) against a real simulated plant on loopback.
Scenario 1 kills it from outside while a request waits for approval. The others need the
kill to land just before a step is sent, or between the plant acting and DBOS recording that
step, windows nobody can hit from outside on demand: the process kills itself there when
ANDON_TEST_CRASH_BEFORE_ACTING or ANDON_TEST_CRASH_AFTER_ACTUATION names the step (fault-
injection hooks, see control/execution/workflows.py).
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from control.auth.keys import KeyStore
from control.execution.service import request_id_for
from control.execution.workflows import CRASH_AFTER_ACTUATION, CRASH_BEFORE_ACTING
from simulator.server import SimulatedPlant
from tests.execution.conftest import PLANT, Api, auth

pytestmark = pytest.mark.slow

START_CAMERA = {"action": {"command": "start", "asset": "vision-2"}, "reason": "shift start"}


async def _submit_and_die(
    api: Api,
    keys: dict[str, str],
    key: str,
    crash_point: str,
    submit: tuple[str, dict[str, Any]],
    step: int = 0,
) -> tuple[str, dict[str, str]]:
    """alice posts `submit` (path, body) under `key`; the API kills itself at `crash_point`
    of the request's step `step`. Returns the request id and the headers to retry with."""
    request_id = request_id_for("alice", key)
    await api.start(**{crash_point: f"{request_id}:{step}"})
    headers = {**auth(keys["alice"]), "Idempotency-Key": key}
    path, body = submit
    async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
        with pytest.raises(httpx.TransportError):
            await client.post(path, json=body, headers=headers)
    assert await api.wait_killed() == -signal.SIGKILL
    return request_id, headers


async def _once_settled(
    client: httpx.AsyncClient, request_id: str, headers: dict[str, str]
) -> dict[str, Any]:
    """The request once it is no longer executing (a resumed or recovered workflow runs
    in the background after start-up), or as it is after 10 s."""
    for _ in range(100):
        body: dict[str, Any] = (await client.get(f"/requests/{request_id}", headers=headers)).json()
        if body["status"] != "executing":
            break
        await asyncio.sleep(0.1)
    return body


async def test_killed_after_the_plant_acted_resumes_without_acting_twice(
    api: Api, plant: SimulatedPlant, keys: dict[str, str]
) -> None:
    plan = {
        "plan": {
            "steps": [
                {
                    "command": "set_parameter",
                    "asset": "conveyor-2",
                    "tag": "speed_mps",
                    "value": 1.0,
                },
                {"command": "start", "asset": "conveyor-2"},
            ]
        },
        "reason": "restart the transfer after the die change",
    }
    before = plant.process.snapshot("conveyor-2").actuation_count
    request_id, headers = await _submit_and_die(
        api, keys, "mes-order-4711", CRASH_AFTER_ACTUATION, ("/plans", plan), step=1
    )
    # The plant did act on both steps before the process died...
    acted = plant.process.snapshot("conveyor-2")
    assert acted.run_state == "running" and acted.tags["speed_mps"] == 1.0
    assert acted.actuation_count == before + 2

    await api.start()  # recovery: DBOS replays the workflow, the plant sees the same keys
    async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
        retried = await client.post("/plans", json=plan, headers=headers)
        assert retried.status_code == 200, retried.text
        body = retried.json()
        assert body["id"] == request_id and body["status"] == "executed"
        assert [s["ok"] for s in body["steps"]] == [True, True]
        assert body["steps"][1]["detail"] == "duplicate"  # the replayed start did not act
        audit = await client.get("/audit/verify", headers=auth(keys["bob"]))
        assert audit.json()["ok"] is True
    assert plant.process.snapshot("conveyor-2").actuation_count == before + 2


async def test_a_request_run_at_once_and_killed_after_acting_is_resumed_at_start_up(
    api: Api, plant: SimulatedPlant, keys: dict[str, str]
) -> None:
    # A one-step request allowed at once runs without a DBOS workflow: its row is the
    # durable intent. Killed after the plant started the camera, before the end was
    # recorded: the next start-up finds the row executing with no workflow and resumes it
    # on its own (nobody retries here), judging it again and sending the same key.
    before = plant.process.snapshot("vision-2").actuation_count
    request_id, headers = await _submit_and_die(
        api, keys, "mes-camera-restart", CRASH_AFTER_ACTUATION, ("/actions", START_CAMERA)
    )
    assert plant.process.snapshot("vision-2").run_state == "running"  # the plant did act
    assert plant.process.snapshot("vision-2").actuation_count == before + 1

    await api.start()
    async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
        body = await _once_settled(client, request_id, auth(keys["bob"]))
        assert body["status"] == "executed", body
        (step,) = body["steps"]
        # Sent again with its key and answered "duplicate" by the plant, or found done.
        assert step["ok"] and (step["detail"] == "duplicate" or not step["sent"]), step
        retried = await client.post("/actions", json=START_CAMERA, headers=headers)
        assert retried.json()["id"] == request_id and retried.json()["steps"] == body["steps"]
        audit = await client.get("/audit/verify", headers=auth(keys["bob"]))
        assert audit.json()["ok"] is True
        trail = await client.get(
            "/audit", params={"request_id": request_id}, headers=auth(keys["bob"])
        )
        kinds = [r["kind"] for r in trail.json()]
        assert kinds.count("request") == 1 and kinds.count("result") == 1, kinds
    assert plant.process.snapshot("vision-2").actuation_count == before + 1


async def test_killed_while_waiting_for_approval_resumes_and_executes_once(
    api: Api, plant: SimulatedPlant, keys: dict[str, str]
) -> None:
    before = plant.process.snapshot("press-3").actuation_count
    await api.start()
    start = {"action": {"command": "start", "asset": "press-3"}, "reason": "shift start"}
    async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
        waiting = await client.post("/actions", json=start, headers=auth(keys["alice"]))
        assert waiting.status_code == 202, waiting.text
        request_id = waiting.json()["id"]
    api.kill()
    await api.wait_killed()
    assert plant.process.snapshot("press-3").run_state == "stopped"

    await api.start()
    async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
        still = await client.get(f"/requests/{request_id}", headers=auth(keys["bob"]))
        assert still.json()["status"] == "waiting_approval"
        approved = await client.post(
            f"/approvals/{request_id}/approve",
            json={"reason": "die checked"},
            headers=auth(keys["bob"]),
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "executed"
    assert plant.process.snapshot("press-3").run_state == "running"
    assert plant.process.snapshot("press-3").actuation_count == before + 1


async def test_a_step_not_yet_sent_when_killed_is_judged_again_on_the_plant_it_finds(
    api: Api, plant: SimulatedPlant, keys: dict[str, str]
) -> None:
    # Allowed at 10:00, killed before it reached the plant, restarted after someone locked
    # out the belt at its panel: the recovered request must not start the camera on a line
    # under lockout on the strength of its 10:00 judgement.
    before = plant.process.snapshot("vision-2").actuation_count
    request_id, headers = await _submit_and_die(
        api, keys, "mes-camera-start", CRASH_BEFORE_ACTING, ("/actions", START_CAMERA)
    )
    plant.process.apply_lockout("conveyor-2", "carol")  # at the panel, while Andon was down

    await api.start()
    async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
        retried = await client.post("/actions", json=START_CAMERA, headers=headers)
        body = retried.json()
        assert body["id"] == request_id and body["status"] == "failed", body
        assert "line-2-lockout" in body["message"], body["message"]
        assert [s["sent"] for s in body["steps"]] == [False]
    assert plant.process.snapshot("vision-2").run_state == "stopped"
    assert plant.process.snapshot("vision-2").actuation_count == before


async def test_a_step_the_plant_already_shows_done_is_not_failed_after_a_restart(
    api: Api, plant: SimulatedPlant, keys: dict[str, str], tmp_path: Path
) -> None:
    # Killed right after the plant removed the lock: judged again on restart, removing a
    # lock bob no longer holds is refused, yet the plant shows the step done. The request
    # is executed, nothing is sent twice, and the record says what happened.
    dave = KeyStore(tmp_path / "api_keys.json", roles={r.id for r in PLANT.roles}).create(
        "dave", "engineer"
    )
    plant.process.apply_lockout("conveyor-2", "bob")
    key = "belt-tracking-done"
    request_id = request_id_for("bob", key)
    await api.start(**{CRASH_AFTER_ACTUATION: f"{request_id}:0"})
    remove = {
        "action": {"command": "remove_lockout", "asset": "conveyor-2"},
        "reason": "belt tracking repaired",
    }
    async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
        waiting = await client.post(
            "/actions", json=remove, headers={**auth(keys["bob"]), "Idempotency-Key": key}
        )
        assert waiting.status_code == 202, waiting.text
        before = plant.process.snapshot("conveyor-2").actuation_count
        with pytest.raises(httpx.TransportError):
            await client.post(
                f"/approvals/{request_id}/approve",
                json={"reason": "belt checked"},
                headers=auth(dave),
            )
    assert await api.wait_killed() == -signal.SIGKILL
    assert plant.process.snapshot("conveyor-2").lockouts == ()  # the plant did act

    await api.start()
    async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
        body = await _once_settled(client, request_id, auth(dave))
        assert body["status"] == "executed", body
        assert body["steps"][0]["ok"] and not body["steps"][0]["sent"]
        assert "already in effect" in body["steps"][0]["detail"]
        audit = await client.get("/audit/verify", headers=auth(keys["bob"]))
        assert audit.json()["ok"] is True
    assert plant.process.snapshot("conveyor-2").actuation_count == before + 1
