"""With the plant unreachable, `andon api` (a real process) answers 503 Retry-After, not a
denial on the merits: the attempt is recorded and audited, nothing is sent, and the retry with
the same Idempotency-Key is judged afresh once the plant is there."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from control.execution.service import request_id_for
from simulator.server import SimulatedPlant, endpoint_url, free_tcp_port
from tests.execution.conftest import PLANT, Api, auth

pytestmark = pytest.mark.slow

PLAN = {
    "plan": {
        "steps": [
            {"command": "set_parameter", "asset": "press-3", "tag": "speed_spm", "value": 22},
            {"command": "set_parameter", "asset": "press-1", "tag": "speed_spm", "value": 32},
        ]
    },
    "reason": "takt time",
}


async def _wait_ready(client: httpx.AsyncClient, timeout_s: float = 30) -> None:
    async with asyncio.timeout(timeout_s):
        while True:  # polling another process: there is no event to wait on
            if (await client.get("/readyz")).status_code == 200:
                return
            await asyncio.sleep(0.1)


async def test_plant_down_is_503_with_retry_after_and_the_key_survives(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    # The plant is not there when the API starts, and comes up later on its address. (Taking
    # a served plant down races the driver's reconnect in asyncua's server shutdown.)
    port = free_tcp_port()
    api = Api(tmp_path, endpoint_url("127.0.0.1", port))
    key = "mes-order-5150"
    headers = {**auth(keys["alice"]), "Idempotency-Key": key}
    try:
        await api.start(plant_up=False)
        async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
            assert (await client.get("/readyz")).json()["plant"] == "disconnected"
            refused = await client.post("/plans", json=PLAN, headers=headers)
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["Retry-After"]) > 0
            body = refused.json()
            assert body["status"] == "denied" and "no connection to the plant" in body["message"]
            assert body["id"] != request_id_for("alice", key)

            stored = await client.get(f"/requests/{body['id']}", headers=auth(keys["bob"]))
            assert stored.status_code == 200, stored.text
            assert stored.json()["status"] == "denied"
            rules = [step["rules"] for step in stored.json()["decision"]["steps"]]
            assert rules == [["plant_disconnected"], ["plant_disconnected"]]
            audit = await client.get(
                "/audit", params={"request_id": body["id"]}, headers=auth(keys["bob"])
            )
            assert sorted(r["kind"] for r in audit.json()) == ["decision", "request"]

            async with SimulatedPlant(PLANT, port=port) as plant:
                try:
                    await _wait_ready(client)
                    before = plant.process.snapshot("press-3").actuation_count
                    retried = await client.post("/plans", json=PLAN, headers=headers)
                    assert retried.status_code == 200, retried.text
                    assert retried.json()["id"] == request_id_for("alice", key)
                    assert retried.json()["status"] == "executed"
                    press = plant.process.snapshot("press-3")
                    assert (press.tags["speed_spm"], press.actuation_count) == (22, before + 1)
                    verify = await client.get("/audit/verify", headers=auth(keys["bob"]))
                    assert verify.json()["ok"] is True
                finally:  # before the plant goes: a live session would hold up its shutdown
                    await api.stop()
    finally:
        await api.stop()
