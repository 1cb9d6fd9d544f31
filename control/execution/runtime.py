"""The services durable workflows act through, bound once per process at start-up.

DBOS replays workflows by function name after a crash, so workflow code cannot close over
per-app objects; it looks them up here instead. DBOS also runs the workflows it recovers
at launch on an event loop of its own, while the services (OPC-UA session, database pool)
belong to the app's loop: `on_service_loop` carries a step's work over to that loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from control.audit.log import AuditLog
    from control.events.bus import EventBus
    from control.execution.claims import AssetClaims
    from control.execution.store import RequestStore
    from control.opcua.driver import PlantDriver
    from control.plant.models import PlantModel
    from control.quality.store import QualityHoldStore
    from control.workorders.store import WorkOrderStore


@dataclass(frozen=True)
class Services:
    plant: PlantModel
    driver: PlantDriver
    audit: AuditLog
    requests: RequestStore
    work_orders: WorkOrderStore
    quality_holds: QualityHoldStore
    events: EventBus
    claims: AssetClaims
    loop: asyncio.AbstractEventLoop


_bound: Services | None = None


def bind(services: Services | None) -> None:
    global _bound
    _bound = services


def services() -> Services:
    if _bound is None:
        raise RuntimeError("control services are not bound: start the app first")
    return _bound


T = TypeVar("T")


async def on_service_loop(work: Coroutine[Any, Any, T]) -> T:
    """Await `work` on the loop that owns the services, whichever loop we are on."""
    loop = services().loop
    if asyncio.get_running_loop() is loop:
        return await work
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, loop))
