"""The control plane's OPC-UA client: reads, watches and actuates the plant.

Every actuation is confirmed by reading the plant back; anything short of that raises
ActuationError. A supervisor task rebuilds the session (and its subscription) after the
connection drops, with bounded exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TypeVar

import structlog
from asyncua import Client, Node, ua
from asyncua.client.ua_client import UaClientState
from asyncua.common.subscription import DataChangeNotif

from control.opcua.cache import ChangeListener, StateCache, plant_state
from control.opcua.connection import SecurityConfig, close_client, open_client
from control.opcua.effects import (
    EMERGENCY_STOP_EFFECT,
    Effect,
    command_effect,
    confirm_effect,
    confirm_setpoint,
    manual_override_effect,
)
from control.opcua.errors import ActuationError, DriverError, NotConnectedError, status_name
from control.opcua.nodes import METHODS, MethodNodes, Value, decode, resolve_nodes
from control.plant.models import Command, PlantModel
from control.state.models import PlantState

__all__ = [
    "ActuationError",
    "Backoff",
    "DriverError",
    "NotConnectedError",
    "PlantDriver",
    "SecurityConfig",
    "WriteResult",
]

log = structlog.get_logger()

T = TypeVar("T")
ConnectionListener = Callable[[bool], None]
OUTCOMES = ("done", "duplicate")


@dataclass(frozen=True)
class WriteResult:
    asset: str
    tag: str
    value: float  # as read back from the plant after the write
    previous: float | None  # last value the subscription saw before the write
    source_timestamp: datetime | None  # of the read-back value
    elapsed_ms: float


@dataclass(frozen=True)
class Backoff:
    """Delay between reconnect attempts: doubles from `initial_s` up to `max_s`."""

    initial_s: float = 0.25
    max_s: float = 5.0


class PlantDriver:
    def __init__(
        self,
        plant: PlantModel,
        url: str,
        *,
        security: SecurityConfig | None = None,
        call_timeout_s: float = 2.0,
        backoff: Backoff = Backoff(),
        publish_interval_ms: float = 50.0,
        watchdog_interval_s: float = 1.0,
    ) -> None:
        self._plant = plant
        self._url = url
        self._security = security
        self._call_timeout_s = call_timeout_s
        self._backoff = backoff
        self._publish_interval_ms = publish_interval_ms
        self._watchdog_interval_s = watchdog_interval_s
        self._nodes = resolve_nodes(plant)
        self._cache = StateCache(self._nodes.assets)
        self._read_requests: dict[
            tuple[str, ...], tuple[list[tuple[str, str, ua.NodeId]], ua.ReadParameters]
        ] = {}
        self._connection_listeners: list[ConnectionListener] = []
        self._client: Client | None = None
        # Bumped for every session so late callbacks of a dropped session are ignored.
        self._generation = 0
        self._up = asyncio.Event()
        self._lost = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------

    async def connect(self, *, wait: bool = True) -> None:
        """Open the session and start supervising it.

        wait=True: the first attempt must succeed, else DriverError (e.g. a refused login).
        wait=False: return at once; the supervisor keeps trying in the background.
        """
        if self._supervisor is not None:
            raise DriverError("the driver is already connected")
        if wait:
            await self._open()
        self._supervisor = asyncio.create_task(self._supervise(), name="opcua-supervisor")

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        await self._drop()

    async def __aenter__(self) -> PlantDriver:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        client = self._client
        return self._up.is_set() and client is not None and client.state is UaClientState.CONNECTED

    async def wait_connected(self, timeout_s: float) -> None:
        """Wait until a session is open (TimeoutError after timeout_s)."""
        async with asyncio.timeout(timeout_s):
            while not self.connected:
                if self._up.is_set():
                    # The transport is gone but the loss is not processed yet.
                    await asyncio.sleep(0.01)
                else:
                    await self._up.wait()

    def on_connection(self, listener: ConnectionListener) -> Callable[[], None]:
        """listener(connected) on every session opened or lost; returns an unsubscribe."""
        self._connection_listeners.append(listener)
        return lambda: self._connection_listeners.remove(listener)

    def on_change(self, listener: ChangeListener) -> Callable[[], None]:
        """listener(asset_id, name, value) for every changed status variable or tag."""
        return self._cache.add_listener(listener)

    # --- reading ---------------------------------------------------------------------

    @property
    def state(self) -> PlantState:
        """The subscription's latest view; `connected` is False when it may be stale."""
        return self._cache.snapshot(self.connected)

    async def read_state(self, assets: Iterable[str] | None = None) -> PlantState:
        """Read status variables and tags of `assets` (default all) in one request."""
        asset_ids = tuple(self._nodes.assets if assets is None else assets)
        readings = await self._read_values(self._live_client(), asset_ids)
        return plant_state(readings.items(), self._nodes.assets, connected=True)

    # --- actuation -------------------------------------------------------------------

    async def write_setpoint(self, asset: str, tag: str, value: float) -> WriteResult:
        """Write a Double and return only once the plant reads back the same value."""
        node = self._nodes.asset(asset).tags.get(tag)
        if node is None:
            raise DriverError(f"asset {asset!r} has no tag {tag!r}", "BadNodeIdUnknown")
        what = f"write {asset}.{tag} = {value}"
        if not math.isfinite(value):
            raise ActuationError(f"{what}: not a finite number; nothing sent", "BadOutOfRange")
        with _logged_failure(what):
            client = self._actuation_client(what)
            started = time.perf_counter()
            previous = self._cache.get(asset, tag)
            datavalue = ua.DataValue(ua.Variant(float(value), ua.VariantType.Double))
            [status] = await self._send(
                client.uaclient.write_attributes([node], [datavalue], ua.AttributeIds.Value),
                what,
                actuating=True,
            )
            if not status.is_good():
                raise ActuationError(
                    f"{what}: the plant refused the write ({status.name}: {status.doc})",
                    status.name,
                )
            [readback] = await self._send(
                client.uaclient.read_attributes([node], ua.AttributeIds.Value),
                f"{what}: read-back",
                actuating=True,
            )
            confirmed = confirm_setpoint(readback, value, what)
        result = WriteResult(
            asset=asset,
            tag=tag,
            value=confirmed,
            previous=previous if isinstance(previous, float) else None,
            source_timestamp=readback.SourceTimestamp,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )
        log.info(
            "opcua.setpoint_written",
            asset=asset,
            tag=tag,
            value=confirmed,
            previous=result.previous,
            elapsed_ms=round(result.elapsed_ms, 2),
        )
        return result

    async def call_command(self, asset: str, command: Command, key: str, *args: str) -> str:
        """Call the asset's method for `command` with the idempotency key.

        args: the alarm id (acknowledge_alarm) or the lock holder (apply/remove_lockout).
        Returns "done" once the effect is read back, or "duplicate" when an earlier call
        with the same key already acted (not re-verified: the plant may have moved on).
        """
        if command not in METHODS:
            raise DriverError(f"{command} is not a plant method", "BadMethodInvalid")
        method = self._nodes.asset(asset).methods.get(command)
        if method is None:
            raise DriverError(f"asset {asset!r} does not accept {command}", "BadMethodInvalid")
        arg_names = METHODS[command][1]
        if len(args) != len(arg_names):
            raise DriverError(f"{command} takes {arg_names}, got {args!r}", "BadArgumentsMissing")
        what = f"{command} {asset}" + "".join(f" {a}" for a in args)
        inputs = [_string(key), *(_string(a) for a in args)]
        return await self._act(method, inputs, what, [asset], command_effect(command, args))

    async def emergency_stop(self, line: str, key: str, actor: str) -> str:
        """Stop every asset of the line at once (no stop-order interlocks), verified."""
        method = self._nodes.emergency_stops.get(line)
        if method is None:
            raise DriverError(f"unknown line {line!r}", "BadNodeIdUnknown")
        assets = list(self._nodes.line_assets[line])
        inputs = [_string(key), _string(actor)]
        return await self._act(
            method, inputs, f"emergency stop {line} by {actor}", assets, EMERGENCY_STOP_EFFECT
        )

    async def set_manual_override(self, asset: str, enabled: bool, key: str) -> str:
        method = self._nodes.asset(asset).set_manual_override
        inputs = [_string(key), ua.Variant(enabled, ua.VariantType.Boolean)]
        what = f"manual override {asset} = {enabled}"
        return await self._act(method, inputs, what, [asset], manual_override_effect(enabled))

    async def _act(
        self,
        method: MethodNodes,
        inputs: list[ua.Variant],
        what: str,
        assets: list[str],
        effect: Effect,
    ) -> str:
        with _logged_failure(what):
            client = self._actuation_client(what)
            request = ua.CallMethodRequest(method.object, method.method, inputs)
            [result] = await self._send(client.uaclient.call([request]), what, actuating=True)
            outcome = _call_outcome(result, what)
            if outcome == "done":
                await self._verify(client, assets, effect, what)
        log.info("opcua.command_done", command=what, outcome=outcome)
        return outcome

    async def _verify(self, client: Client, assets: list[str], effect: Effect, what: str) -> None:
        nodes = [self._nodes.asset(a).status[effect.field] for a in assets]
        results = await self._send(
            client.uaclient.read_attributes(nodes, ua.AttributeIds.Value),
            f"{what}: read-back",
            actuating=True,
        )
        for asset, datavalue in zip(assets, results, strict=True):
            confirm_effect(effect, f"{asset}.{effect.field}", datavalue, what)

    # --- requests --------------------------------------------------------------------

    def _live_client(self) -> Client:
        client = self._client
        if client is None or not self.connected:
            raise NotConnectedError(f"not connected to the plant at {self._url}")
        return client

    def _actuation_client(self, what: str) -> Client:
        try:
            return self._live_client()
        except NotConnectedError as exc:
            raise ActuationError(
                f"{what}: not connected to the plant; nothing was sent", "BadNotConnected"
            ) from exc

    async def _send(self, request: Awaitable[T], what: str, *, actuating: bool) -> T:
        """Await one OPC-UA request under the per-call timeout, mapping every failure.

        Once an actuating request is out, a timeout or a dropped connection means the
        plant may or may not have acted: the error says the outcome is unknown.
        """
        try:
            async with asyncio.timeout(self._call_timeout_s):
                return await request
        except ua.UaStatusCodeError as exc:
            # A service fault: the server rejected the request as a whole.
            name = status_name(exc.code)
            error = ActuationError if actuating else DriverError
            raise error(f"{what}: the plant rejected the request ({name})", name) from exc
        except (TimeoutError, ConnectionError, OSError, ua.UaError) as exc:
            status = "BadTimeout" if isinstance(exc, TimeoutError) else "BadCommunicationError"
            reason = (
                f"no answer within {self._call_timeout_s} s"
                if isinstance(exc, TimeoutError)
                else f"connection failed ({exc!r})"
            )
            if actuating:
                raise ActuationError(
                    f"{what}: {reason}; outcome unknown", status, outcome_unknown=True
                ) from exc
            raise DriverError(f"{what}: {reason}", status) from exc

    async def _read_values(
        self, client: Client, asset_ids: tuple[str, ...]
    ) -> dict[str, dict[str, Value]]:
        wanted, request = self._read_request(asset_ids)
        results = await self._send(
            client.uaclient.read(request), "read plant state", actuating=False
        )
        readings: dict[str, dict[str, Value]] = {a: {} for a in asset_ids}
        for (asset_id, name, _), datavalue in zip(wanted, results, strict=True):
            if not datavalue.StatusCode.is_good():
                code = datavalue.StatusCode.name
                raise DriverError(f"reading {asset_id}.{name} returned {code}", code)
            try:
                raw = datavalue.Value.Value if datavalue.Value else None
                readings[asset_id][name] = decode(name, raw)
            except ValueError as exc:
                raise DriverError(f"{asset_id}: {exc}", "BadTypeMismatch") from exc
        return readings

    def _read_request(
        self, asset_ids: tuple[str, ...]
    ) -> tuple[list[tuple[str, str, ua.NodeId]], ua.ReadParameters]:
        """The values of `asset_ids` and the read request for them, built once per set of
        assets: the whole-plant read is on the path of every action."""
        known = self._read_requests.get(asset_ids)
        if known is None:
            wanted = self._nodes.value_nodes(asset_ids)
            reads = [
                ua.ReadValueId(NodeId=n, AttributeId=ua.AttributeIds.Value) for *_, n in wanted
            ]
            known = self._read_requests[asset_ids] = (wanted, ua.ReadParameters(NodesToRead=reads))
        return known

    # --- session supervision ---------------------------------------------------------

    async def _supervise(self) -> None:
        while True:
            try:
                if self._client is not None:
                    await self._lost.wait()
                    await self._drop()
                await self._reconnect()
            except Exception:
                # Never let the supervisor die: a driver without it never reconnects.
                log.exception("opcua.supervisor_failed")
                await asyncio.sleep(self._backoff.max_s)

    async def _reconnect(self) -> None:
        delay = self._backoff.initial_s
        attempt = 1
        while True:
            try:
                await self._open()
            except DriverError as exc:
                log.warning(
                    "opcua.reconnect_failed",
                    url=self._url,
                    attempt=attempt,
                    status=exc.status,
                    error=exc.message,
                    retry_in_s=delay,
                )
            else:
                log.info("opcua.reconnected", url=self._url, attempts=attempt)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff.max_s)
            attempt += 1

    async def _open(self) -> None:
        """Open a session, prime the cache with one read, subscribe to every value."""
        self._generation += 1
        generation = self._generation
        self._lost.clear()
        client = await open_client(
            self._url, self._security, self._call_timeout_s, self._watchdog_interval_s
        )

        async def lost(exc: Exception) -> None:
            self._connection_lost(generation, exc)

        client.connection_lost_callback = lost
        try:
            await self._check_namespaces(client)
            readings = await self._read_values(client, tuple(self._nodes.assets))
            for asset_id, values in readings.items():
                for name, value in values.items():
                    self._cache.update(asset_id, name, value)
            await self._subscribe(client, generation)
        except BaseException as exc:
            await close_client(client, self._call_timeout_s)
            if isinstance(exc, ua.UaError | OSError | TimeoutError):
                raise DriverError(f"cannot set up the session: {exc!r}") from exc
            raise
        self._client = client
        self._up.set()
        log.info("opcua.connected", url=self._url, secure=self._security is not None)
        self._notify_connection(True)

    async def _drop(self) -> None:
        self._generation += 1
        client, self._client = self._client, None
        if self._up.is_set():
            self._up.clear()
            self._notify_connection(False)
        if client is not None:
            await close_client(client, self._call_timeout_s)

    def _connection_lost(self, generation: int, exc: Exception) -> None:
        if generation != self._generation:
            return
        self._lost.set()
        if self._up.is_set():
            log.warning("opcua.connection_lost", url=self._url, error=repr(exc))
            self._up.clear()
            self._notify_connection(False)

    def _notify_connection(self, connected: bool) -> None:
        for listener in list(self._connection_listeners):
            try:
                listener(connected)
            except Exception:
                log.exception("opcua.connection_listener_failed")

    async def _check_namespaces(self, client: Client) -> None:
        """Refuse a server whose namespace indexes do not hold this site's nodes."""
        namespaces = await client.get_namespace_array()
        expected = self._plant.site.namespace_uri
        for index in self._nodes.namespace_indexes:
            found = namespaces[index] if index < len(namespaces) else None
            if found != expected:
                raise DriverError(
                    f"namespace {index} of {self._url} is {found!r}, expected {expected!r}: "
                    "not this site's plant",
                    "BadNodeIdUnknown",
                )

    async def _subscribe(self, client: Client, generation: int) -> None:
        handler = _SubscriptionHandler(
            partial(self._data_changed, generation), partial(self._connection_lost, generation)
        )
        subscription = await client.create_subscription(self._publish_interval_ms, handler)
        nodes = [client.get_node(node_id) for node_id in self._nodes.names]
        results = await subscription.subscribe_data_change(nodes)
        failed = [
            f"{self._nodes.names[n.nodeid]}: {r.name}"
            for n, r in zip(nodes, results, strict=True)
            if isinstance(r, ua.StatusCode)
        ]
        if failed:
            raise DriverError(f"cannot monitor {failed}", "BadMonitoredItemIdInvalid")

    def _data_changed(
        self, generation: int, node_id: ua.NodeId, raw: object, status: ua.StatusCode
    ) -> None:
        if generation != self._generation:
            return
        asset_id, name = self._nodes.names[node_id]
        if not status.is_good():
            log.warning("opcua.bad_value", asset=asset_id, name=name, status=status.name)
            return
        try:
            value = decode(name, raw)
        except ValueError as exc:
            log.warning("opcua.undecodable_value", asset=asset_id, error=str(exc))
            return
        self._cache.update(asset_id, name, value)


class _SubscriptionHandler:
    """asyncua calls this for each notification of one session's subscription."""

    def __init__(
        self,
        on_value: Callable[[ua.NodeId, object, ua.StatusCode], None],
        on_ended: Callable[[Exception], None],
    ) -> None:
        self._on_value = on_value
        self._on_ended = on_ended

    def datachange_notification(self, node: Node, val: object, data: DataChangeNotif) -> None:
        self._on_value(node.nodeid, val, data.monitored_item.Value.StatusCode or ua.StatusCode())

    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        # The server ended the subscription (shutdown, timeout): the cache would go stale
        # without anyone noticing, so treat it as a lost session and rebuild.
        if not status.Status.is_good():
            name = status.Status.name
            self._on_ended(DriverError(f"subscription ended ({name})", name))


@contextlib.contextmanager
def _logged_failure(what: str) -> Iterator[None]:
    try:
        yield
    except ActuationError as exc:
        log.warning(
            "opcua.actuation_failed",
            action=what,
            status=exc.status,
            outcome_unknown=exc.outcome_unknown,
            error=exc.message,
        )
        raise


def _string(value: str) -> ua.Variant:
    return ua.Variant(value, ua.VariantType.String)


def _call_outcome(result: ua.CallMethodResult, what: str) -> str:
    outputs = [v.Value for v in result.OutputArguments or []]
    if not result.StatusCode.is_good():
        name = result.StatusCode.name
        # The plant puts its reason in the first output argument when it refuses.
        reason = next((o for o in outputs if isinstance(o, str) and o), result.StatusCode.doc)
        raise ActuationError(f"{what}: the plant refused: {reason} ({name})", name)
    outcome = outputs[0] if outputs else None
    if outcome not in OUTCOMES:
        raise ActuationError(
            f"{what}: unexpected answer {outcome!r} from the plant",
            "BadUnexpectedError",
            outcome_unknown=True,
        )
    return str(outcome)
