"""A control process killed with SIGKILL mid-workflow resumes on restart and never actuates twice.

The API runs as a real subprocess (`andon api`) against a real simulated plant on loopback.
Scenario 1 kills it from outside while a request waits for approval. Scenario 2 needs the
kill to land between the plant acting and DBOS recording that step, a window nobody can hit
from outside on demand: the process kills itself there when ANDON_TEST_CRASH_AFTER_ACTUATION
names the step (a fault-injection hook, see control/execution/workflows.py).
"""

from __future__ import annotations

import signal

import httpx
import pytest

from control.execution.service import request_id_for
from control.execution.workflows import CRASH_AFTER_ACTUATION
from simulator.server import SimulatedPlant
from tests.execution.conftest import Api, auth

pytestmark = pytest.mark.slow


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
    key = "mes-order-4711"
    request_id = request_id_for("alice", key)
    before = plant.process.snapshot("conveyor-2").actuation_count
    await api.start(**{CRASH_AFTER_ACTUATION: f"{request_id}:1"})
    headers = {**auth(keys["alice"]), "Idempotency-Key": key}
    async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
        with pytest.raises(httpx.TransportError):
            await client.post("/plans", json=plan, headers=headers)
    assert await api.wait_killed() == -signal.SIGKILL
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
