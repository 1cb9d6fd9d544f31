"""The live system the REST API tests drive, and small helpers shared by the test modules.

`LiveSystem` hosts the real app (uvicorn in a background thread with its own event loop),
the embedded simulated plant the app starts on a free loopback port, DBOS on SQLite in a
temp dir and API keys minted with the real KeyStore. Tests talk HTTP to it with httpx and
look at the plant itself through `sim_*` helpers, which run on the server's loop so they
never race the simulator's ticker.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import uvicorn
from fastapi import FastAPI

from andon.app import create_app
from andon.settings import Settings
from control.auth.keys import KeyStore
from simulator.asset_process import AssetSnapshot
from simulator.process import ProcessModel
from simulator.server import SimulatedPlant

T = TypeVar("T")

# user -> role; two supervisors and two operators so four-eyes and role checks can be told apart.
USERS: dict[str, str] = {
    "alice": "operator",
    "olga": "operator",
    "bob": "supervisor",
    "sam": "supervisor",
    "carol": "maintenance",
    "dave": "engineer",
    "root": "admin",
}
LINE_2 = ("feeder-2", "press-3", "conveyor-2", "vision-2")


@dataclass
class LiveSystem:
    settings: Settings
    app: FastAPI
    keystore: KeyStore
    keys: dict[str, str]
    base_url: str
    _server: uvicorn.Server
    _loop: asyncio.AbstractEventLoop
    _thread: threading.Thread
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url, timeout=30.0)

    # --- hosting -----------------------------------------------------------------------

    @classmethod
    def start(cls, settings: Settings, start_timeout_s: float = 60) -> LiveSystem:
        app = create_app(settings, embedded_simulator=True)
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=settings.api_port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        server = uvicorn.Server(config)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=loop.run_until_complete, args=(server.serve(),), name="andon-api", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + start_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Andon API did not start (see the captured log)")
            time.sleep(0.05)
        plant_roles = {r.id for r in app.state.services.plant.roles}
        keystore = KeyStore(settings.keys_path, roles=plant_roles)
        keys = {user: keystore.create(user, role) for user, role in USERS.items()}
        live = cls(
            settings=settings,
            app=app,
            keystore=keystore,
            keys=keys,
            base_url=f"http://127.0.0.1:{settings.api_port}",
            _server=server,
            _loop=loop,
            _thread=thread,
        )
        eventually(lambda: live.client.get("/readyz").status_code == 200, timeout=30)
        return live

    def stop(self) -> None:
        self.client.close()
        self._server.should_exit = True
        self._thread.join(timeout=60)
        if not self._thread.is_alive():
            self._loop.close()

    # --- the server's event loop -------------------------------------------------------

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Await `work` on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    def spawn(self, work: Awaitable[Any]) -> None:
        """Start `work` on the server's loop without waiting for it."""

        async def background() -> None:
            await work

        self._loop.call_soon_threadsafe(lambda: self._loop.create_task(background()))

    # --- the plant, as the simulator holds it ------------------------------------------

    @property
    def sim(self) -> SimulatedPlant:
        return self.app.state.simulator

    def sim_do(self, change: Callable[[ProcessModel], object]) -> None:
        """Change the simulated process directly (test set-up) and publish it to clients."""

        async def apply() -> None:
            change(self.sim.process)
            await self.sim.publish()

        self.run(apply())

    def sim_reset(self) -> None:
        self.run(self.sim.reset())

    def cached_lockouts(self, asset: str) -> list[str]:
        """Lockouts as the driver's subscription cache holds them (what grounding reads); it
        trails a direct read by up to one publishing interval."""
        return list(self.app.state.services.driver.state.asset(asset).lockouts)

    def snapshot(self, asset: str) -> AssetSnapshot:
        async def read() -> AssetSnapshot:
            return self.sim.process.snapshot(asset)

        return self.run(read())

    def actuations(self, *assets: str) -> dict[str, int]:
        return {a: self.snapshot(a).actuation_count for a in assets}

    # --- HTTP --------------------------------------------------------------------------

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[user]}"}

    def get(self, path: str, user: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, headers=self.auth(user), **kwargs)

    def post(self, path: str, user: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.auth(user), **kwargs.pop("headers", {})}
        return self.client.post(path, headers=headers, **kwargs)

    def asset_state(self, asset: str, user: str = "alice") -> dict[str, Any]:
        response = self.get(f"/assets/{asset}", user)
        assert response.status_code == 200, response.text
        state: dict[str, Any] = response.json()["state"]
        return state

    def act(
        self,
        user: str,
        action: dict[str, Any],
        reason: str = "integration test",
        *,
        proposed_by: dict[str, str] | None = None,
        key: str | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"action": action, "reason": reason}
        if proposed_by is not None:
            body["proposed_by"] = proposed_by
        headers = {"Idempotency-Key": key} if key is not None else {}
        return self.post("/actions", user, json=body, headers=headers)

    def plan(self, user: str, steps: list[dict[str, Any]], reason: str) -> httpx.Response:
        return self.post("/plans", user, json={"plan": {"steps": steps}, "reason": reason})

    def audit(self, **params: Any) -> list[dict[str, Any]]:
        """Audit records matching `params`, oldest first (read as the supervisor bob)."""
        response = self.get("/audit", "bob", params={"limit": 1000, **params})
        assert response.status_code == 200, response.text
        records: list[dict[str, Any]] = response.json()
        return sorted(records, key=lambda r: r["seq"])

    def audit_head(self) -> int:
        response = self.get("/audit/verify", "bob")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["ok"] is True, body
        head: int = body["head_seq"]
        return head


def set_parameter(asset: str, tag: str, value: float) -> dict[str, Any]:
    return {"command": "set_parameter", "asset": asset, "tag": tag, "value": value}


def command(name: str, asset: str, **extra: Any) -> dict[str, Any]:
    return {"command": name, "asset": asset, **extra}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def eventually(check: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> None:
    """Poll `check` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def detail_text(response: httpx.Response) -> str:
    """The reason a 4xx carries, whatever its shape (string, or FastAPI's error list)."""
    detail = response.json().get("detail", "")
    if isinstance(detail, str):
        return detail
    return "; ".join(
        f"{'.'.join(str(p) for p in error.get('loc', ()))}: {error.get('msg', '')}"
        for error in detail
    )


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" (\S+)"
    match = re.search(rf"^{pattern}$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0
