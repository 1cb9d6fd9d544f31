"""The services durable workflows act through, bound once per process at start-up.

DBOS replays workflows by function name after a crash, so workflow code cannot close over
per-app objects; it looks them up here instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from control.audit.log import AuditLog
    from control.events.bus import EventBus
    from control.execution.store import RequestStore
    from control.opcua.driver import PlantDriver
    from control.plant.models import PlantModel
    from control.workorders.store import WorkOrderStore


@dataclass(frozen=True)
class Services:
    plant: PlantModel
    driver: PlantDriver
    audit: AuditLog
    requests: RequestStore
    work_orders: WorkOrderStore
    events: EventBus


_bound: Services | None = None


def bind(services: Services | None) -> None:
    global _bound
    _bound = services


def services() -> Services:
    if _bound is None:
        raise RuntimeError("control services are not bound: start the app first")
    return _bound
