"""The whole path in OPC-UA secure mode: Basic256Sha256 SignAndEncrypt, username/password,
certificates made offline in the data directory, shared by the plant and the control API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from simulator.security import SecuritySettings
from simulator.server import SimulatedPlant, free_tcp_port
from tests.execution.conftest import PLANT, Api, auth

pytestmark = pytest.mark.slow


@pytest.fixture
async def secure_plant(tmp_path: Path) -> AsyncIterator[SimulatedPlant]:
    security = SecuritySettings(pki_dir=tmp_path / "pki")
    async with SimulatedPlant(PLANT, port=free_tcp_port(), security=security) as sim:
        yield sim


async def test_actions_run_over_an_encrypted_authenticated_session(
    tmp_path: Path, secure_plant: SimulatedPlant, keys: dict[str, str]
) -> None:
    api = Api(tmp_path, secure_plant.url, ANDON_OPCUA_SECURITY="true")
    try:
        await api.start()
        body = {
            "action": {
                "command": "set_parameter",
                "asset": "conveyor-2",
                "tag": "speed_mps",
                "value": 1,
            },
            "reason": "secure mode",
        }
        async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
            done = await client.post("/actions", json=body, headers=auth(keys["alice"]))
        assert done.status_code == 200, done.text
        assert secure_plant.process.snapshot("conveyor-2").tags["speed_mps"] == 1
    finally:
        await api.stop()


async def test_a_wrong_password_keeps_the_api_unready_and_acts_on_nothing(
    tmp_path: Path, secure_plant: SimulatedPlant, keys: dict[str, str]
) -> None:
    api = Api(tmp_path, secure_plant.url, ANDON_OPCUA_SECURITY="true", ANDON_OPCUA_PASSWORD="wrong")
    try:
        await _refuses_while_unready(api, keys)
    finally:  # a failed assertion must not leave the API process running
        await api.stop()


async def _refuses_while_unready(api: Api, keys: dict[str, str]) -> None:
    await api.start(plant_up=False)  # up, however long start-up takes on a busy machine
    async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
        for _ in range(20):  # and still unready after several refused logins (3 s)
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["plant"] == "disconnected"
            await asyncio.sleep(0.15)
        body = {"action": {"command": "stop", "asset": "conveyor-2"}, "reason": "must not act"}
        refused = await client.post("/actions", json=body, headers=auth(keys["alice"]))
        # Not decided at all, rather than refused on its merits: 503, try again later.
        assert refused.status_code == 503, refused.text
        assert "Retry-After" in refused.headers
        assert refused.json()["status"] == "denied"
        assert "no connection to the plant" in refused.json()["message"]
