"""Reading what a decision needs: the plant state of its scope (control/decisions/scope.py)."""

from __future__ import annotations

from collections.abc import Iterable

from control.execution.runtime import Services
from control.state.models import PlantState


async def read_scope(svc: Services, scope: Iterable[str]) -> PlantState:
    """The scope's assets in one request (sorted: the driver keeps one request per set).
    Ids the plant does not have are not read: a decision on them is about the id alone.
    Raises the driver's DriverError when the plant cannot be read."""
    known = tuple(sorted(a for a in scope if svc.plant.asset(a) is not None))
    if not known:
        return PlantState(connected=svc.driver.connected)
    return await svc.driver.read_state(known)
