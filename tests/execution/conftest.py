"""Fixtures for tests that run `andon api` as a real process against a simulated plant."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from control.auth.keys import KeyStore
from control.plant.loader import load_plant
from simulator.server import SimulatedPlant, free_tcp_port

PLANT = load_plant()


@pytest.fixture
async def plant() -> AsyncIterator[SimulatedPlant]:
    async with SimulatedPlant(PLANT, port=free_tcp_port()) as sim:
        yield sim


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    store = KeyStore(tmp_path / "api_keys.json", roles={r.id for r in PLANT.roles})
    return {"alice": store.create("alice", "operator"), "bob": store.create("bob", "supervisor")}


class Api:
    """`andon api` as its own process, restartable, on one data directory."""

    def __init__(self, data_dir: Path, plant_url: str, **env: str) -> None:
        self.port = free_tcp_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "ANDON_DATA_DIR": str(data_dir),
            "ANDON_OPCUA_URL": plant_url,
            "ANDON_LOG_LEVEL": "WARNING",
            **env,
        }
        self.proc: asyncio.subprocess.Process | None = None

    async def start(
        self, ready_timeout_s: float = 30, *, plant_up: bool = True, **extra_env: str
    ) -> None:
        """Start and wait until ready; with `plant_up=False`, until it answers at all."""
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "andon.cli", "api", "--port", str(self.port),
            env={**self.env, **extra_env},
        )  # fmt: skip
        async with httpx.AsyncClient() as client:
            for _ in range(int(ready_timeout_s * 10)):
                if self.proc.returncode is not None:
                    raise RuntimeError(f"andon api exited with {self.proc.returncode}")
                try:
                    ready = (await client.get(f"{self.base}/readyz")).status_code == 200
                    if ready or not plant_up:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("andon api did not become ready")

    async def wait_killed(self) -> int:
        assert self.proc is not None
        return await self.proc.wait()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 20)


@pytest.fixture
def database_env() -> dict[str, str]:
    """Extra environment for the API process; the PostgreSQL tests override it."""
    return {}


@pytest.fixture
async def api(
    tmp_path: Path, plant: SimulatedPlant, database_env: dict[str, str]
) -> AsyncIterator[Api]:
    server = Api(tmp_path, plant.url, **database_env)
    yield server
    await server.stop()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
