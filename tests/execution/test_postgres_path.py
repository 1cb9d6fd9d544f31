"""The scale-out path: ANDON_DATABASE_URL on the PostgreSQL at 127.0.0.1:5432 holds the
application data and DBOS's workflow state, and recovery after SIGKILL works there too."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from simulator.server import SimulatedPlant
from tests.execution.conftest import Api, auth

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SERVER = os.environ.get(
    "ANDON_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def database_env() -> Iterator[dict[str, str]]:
    """A fresh database for this test, dropped afterwards."""
    name = f"andon_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(SERVER, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {SERVER}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield {"ANDON_DATABASE_URL": SERVER.rsplit("/", 1)[0] + f"/{name}"}
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_requests_workflows_and_audit_live_in_postgres(
    api: Api, plant: SimulatedPlant, keys: dict[str, str], database_env: dict[str, str]
) -> None:
    await api.start()
    set_speed = {
        "action": {"command": "set_parameter", "asset": "press-3", "tag": "speed_spm", "value": 22},
        "reason": "takt time",
    }
    start = {"action": {"command": "start", "asset": "press-3"}, "reason": "shift start"}
    async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
        done = await client.post("/actions", json=set_speed, headers=auth(keys["alice"]))
        assert done.status_code == 200 and done.json()["status"] == "executed", done.text
        waiting = await client.post("/actions", json=start, headers=auth(keys["alice"]))
        assert waiting.status_code == 202
    api.kill()
    await api.wait_killed()

    await api.start()  # the pending approval wait is recovered from PostgreSQL
    async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
        url = f"/approvals/{waiting.json()['id']}/approve"
        approved = await client.post(url, json={"reason": "die checked"}, headers=auth(keys["bob"]))
        assert approved.status_code == 200 and approved.json()["status"] == "executed", (
            approved.text
        )
        verify = await client.get("/audit/verify", headers=auth(keys["bob"]))
        assert verify.json()["ok"] is True
    assert plant.process.snapshot("press-3").run_state == "running"
    assert plant.process.snapshot("press-3").tags["speed_spm"] == 22

    with psycopg.connect(database_env["ANDON_DATABASE_URL"]) as conn:
        statuses = dict(conn.execute("SELECT id, status FROM action_requests").fetchall())
        assert statuses == {done.json()["id"]: "executed", waiting.json()["id"]: "executed"}
        kinds = [k for (k,) in conn.execute("SELECT kind FROM audit_records ORDER BY seq")]
        assert kinds.count("approval") == 1 and kinds.count("readback") == 2
        # The approval wait is a workflow there; the setpoint, allowed at once, ran without one.
        workflows = conn.execute("SELECT workflow_uuid FROM dbos.workflow_status").fetchall()
        assert workflows == [(waiting.json()["id"],)]
