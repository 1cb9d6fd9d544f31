"""The simulated plant as a real OPC-UA server: the process model behind ADDRESS_SPACE.md.

Runs in-process (tests, `andon up`) or as its own process (`andon sim run`). A background
task ticks the model and publishes what changed; method calls and client writes publish
at once, so a read right after a call already sees its effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from collections.abc import Collection
from datetime import UTC, datetime
from types import TracebackType

import structlog
from asyncua import Server, ua

from control.opcua.pki import SERVER_APP_URI
from control.plant.models import PlantModel
from simulator.address_space import PlantNodes, build_address_space, published_values
from simulator.methods import PlantMethods, status_for
from simulator.process import InvalidArgument, InvalidState, ProcessModel, Refused
from simulator.security import SecuritySettings, secure_server
from simulator.write_guard import GuardedAttributeService

log = structlog.get_logger("simulator")

DEFAULT_PORT = 4840
MAX_DOWN_S = 3600.0
# RestartServer answers first and goes down a moment later, so its reply reaches the caller.
_REPLY_GRACE_S = 0.1


def endpoint_url(host: str, port: int) -> str:
    return f"opc.tcp://{host}:{port}/andon/"


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (for tests; another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class SimulatedPlant:
    def __init__(
        self,
        plant: PlantModel,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        seed: int = 0,
        tick_s: float | None = 0.1,
        sim_dt: float | None = None,
        security: SecuritySettings | None = None,
    ) -> None:
        """`tick_s`: real seconds between model steps (None: only explicit `step` calls);
        `sim_dt`: simulated seconds per tick (default `tick_s`, i.e. real time)."""
        if tick_s is not None and not tick_s > 0:
            raise ValueError(f"tick_s must be > 0 or None, got {tick_s}")
        self.process = ProcessModel(plant, seed)
        self.host, self.port = host, port
        self.security = security
        self._tick_s = tick_s
        self._sim_dt = sim_dt
        self._server: Server | None = None
        self._ns = 0
        self._nodes: PlantNodes | None = None
        self._published: dict[ua.NodeId, ua.Variant] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._restart_task: asyncio.Task[None] | None = None
        self._restart_lock = asyncio.Lock()

    @property
    def url(self) -> str:
        return endpoint_url(self.host, self.port)

    async def __aenter__(self) -> SimulatedPlant:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("simulated plant already started")
        server = Server()
        await server.init()
        server.disable_clock()  # its 1 s loop would make every stop take a second
        server.set_endpoint(self.url)
        server.set_server_name(f"Andon simulated plant: {self.process.plant.site.name}")
        await server.set_application_uri(SERVER_APP_URI)
        self._ns = await server.register_namespace(self.process.plant.site.namespace_uri)
        server.iserver.attribute_service = GuardedAttributeService(
            server.iserver.aspace, self._client_write
        )
        methods = PlantMethods(self.process, self.publish, self._restart_later)
        self._nodes = await build_address_space(server, self.process, self._ns, methods)
        if self.security is None:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
            server.set_identity_tokens([ua.AnonymousIdentityToken, ua.UserNameIdentityToken])
        else:
            await secure_server(server, self.security, self._nodes.simulator_methods)
        server.allow_remote_admin(False)  # nobody edits the address space from outside
        self._server, self._published = server, {}
        try:
            await server.start()
        except BaseException:
            self._server = None
            raise
        if self._tick_s is not None:
            dt = self._sim_dt if self._sim_dt is not None else self._tick_s
            self._ticker = asyncio.create_task(self._tick_forever(self._tick_s, dt))
        log.info("simulator.started", url=self.url, secure=self.security is not None)

    async def stop(self) -> None:
        for task in (self._ticker, self._restart_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._ticker = self._restart_task = None
        if self._server is not None:
            await self._server.stop()
            self._server = None
            log.info("simulator.stopped", url=self.url)

    async def restart(self, down_seconds: float) -> None:
        """Take the endpoint down for `down_seconds`, then listen again on the same port.

        Only the network side restarts: the process keeps running and the address space
        keeps its values, as a PLC's comms module rebooting would. Clients are cut off.
        """
        if self._server is None or self._server.bserver is None:
            raise RuntimeError("simulated plant is not started")
        async with self._restart_lock:
            log.warning("simulator.going_down", down_seconds=down_seconds)
            await self._server.bserver.stop()
            await asyncio.sleep(down_seconds)
            await self._server.bserver.start()
            log.info("simulator.back_up", url=self.url)

    async def reset(self, seed: int | None = None) -> None:
        """Put the plant back to its initial state and show it to clients."""
        self.process.reset(seed)
        await self.publish()

    def step(self, dt: float) -> None:
        """Advance the model by hand (call `publish` to show the result to clients)."""
        self.process.step(dt)

    async def publish(self, assets: Collection[str] | None = None) -> None:
        """Write every value that changed since the last publish into the address space;
        with `assets`, only theirs (what a client's write or call changed: the tick
        publishes the rest)."""
        if self._server is None:
            return
        now = datetime.now(UTC)
        for node, variant in published_values(self.process, self._ns, assets).items():
            if self._published.get(node) != variant:
                value = ua.DataValue(variant, SourceTimestamp=now, ServerTimestamp=now)
                await self._server.write_attribute_value(node, value)
                self._published[node] = variant

    async def _tick_forever(self, tick_s: float, dt: float) -> None:
        while True:
            await asyncio.sleep(tick_s)
            try:
                self.process.step(dt)
                await self.publish()
            except Exception:
                log.exception("simulator.tick_failed")  # a dead ticker must not go unnoticed
                raise

    def _restart_later(self, down_seconds: float) -> None:
        if not (math.isfinite(down_seconds) and 0 <= down_seconds <= MAX_DOWN_S):
            raise InvalidArgument(f"down_seconds must be within [0, {MAX_DOWN_S:g}]")
        if self._restart_task is not None and not self._restart_task.done():
            raise InvalidState("a restart is already under way")
        self._restart_task = asyncio.create_task(self._restart_after_reply(down_seconds))

    async def _restart_after_reply(self, down_seconds: float) -> None:
        await asyncio.sleep(_REPLY_GRACE_S)
        await self.restart(down_seconds)

    async def _client_write(self, item: ua.WriteValue) -> ua.StatusCode | None:
        """Setpoints go into the process model; every other plant value is read-only."""
        nodes = self._nodes
        target = nodes.setpoints.get(item.NodeId) if nodes else None
        if target is None:
            if nodes and item.NodeId in nodes.read_only:
                return ua.StatusCode(ua.StatusCodes.BadNotWritable)
            return None
        variant = item.Value.Value
        if variant is None or variant.VariantType is not ua.VariantType.Double:
            return ua.StatusCode(ua.StatusCodes.BadTypeMismatch)
        asset_id, tag_id = target
        try:
            changed = self.process.write_setpoint(asset_id, tag_id, variant.Value)
        except Refused as exc:
            log.info("simulator.write_refused", asset=asset_id, tag=tag_id, reason=str(exc))
            return status_for(exc)
        if changed:
            log.info("simulator.setpoint", asset=asset_id, tag=tag_id, value=variant.Value)
        await self.publish((asset_id,))
        return ua.StatusCode()
