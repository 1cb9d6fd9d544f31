"""Test helpers: a network fault injector in front of the simulator, polling, fresh keys."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable

from control.opcua.driver import Backoff
from simulator.server import endpoint_url

# Reconnect fast: the fault tests wait for sessions to come back.
FAST_BACKOFF = Backoff(initial_s=0.05, max_s=0.5)


def new_key(label: str) -> str:
    """An idempotency key no other test uses: the plant remembers keys across tests."""
    return f"{label}-{uuid.uuid4().hex[:12]}"


async def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.01)


class FaultyLink:
    """A TCP relay to the plant that can hold back the plant's replies or cut the line:
    the failures a real network has, in front of the real simulator."""

    def __init__(self, target_port: int) -> None:
        self.muted = False  # drop everything the plant sends back
        self._target_port = target_port
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return endpoint_url("127.0.0.1", self.port)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        for writer in list(self._writers):
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()

    async def _relay(
        self, driver_in: asyncio.StreamReader, driver_out: asyncio.StreamWriter
    ) -> None:
        try:
            plant_in, plant_out = await asyncio.open_connection("127.0.0.1", self._target_port)
        except OSError:
            driver_out.close()
            return
        self._writers |= {driver_out, plant_out}
        await asyncio.gather(
            self._pump(driver_in, plant_out, replies=False),
            self._pump(plant_in, driver_out, replies=True),
            return_exceptions=True,
        )
        self._writers -= {driver_out, plant_out}

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, replies: bool
    ) -> None:
        try:
            while data := await source.read(65536):
                if not (replies and self.muted):
                    sink.write(data)
                    await sink.drain()
        finally:
            sink.close()
            with contextlib.suppress(Exception):
                await sink.wait_closed()
