"""Client writes on plant nodes go through the process model, one status code per node.

asyncua 2.1.0 has no per-node hook that can refuse a write with a status code of our
choosing: a value setter's return is ignored, and AccessLevel alone yields
BadUserAccessDenied. The Write service calls `iserver.attribute_service.write` for every
session, so the simulator installs this subclass there: plant nodes are decided by the
plant (BadOutOfRange, BadNotWritable, ...), every other node keeps asyncua's behaviour.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asyncua import ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.address_space import AddressSpace, AttributeService

# Decides a client's Value write on a plant node; None: not a plant node, asyncua decides.
PlantWrite = Callable[[ua.WriteValue], Awaitable[ua.StatusCode | None]]

_INTERNAL = User(role=UserRole.Admin)  # asyncua's default for the server's own session


class GuardedAttributeService(AttributeService):
    def __init__(self, aspace: AddressSpace, plant_write: PlantWrite) -> None:
        super().__init__(aspace)
        self._plant_write = plant_write

    async def write(
        self, params: ua.WriteParameters, user: User = _INTERNAL
    ) -> list[ua.StatusCode]:
        results: list[ua.StatusCode] = []
        for item in params.NodesToWrite:
            status = None
            if item.AttributeId == ua.AttributeIds.Value:
                status = await self._plant_write(item)
            if status is None:
                (status,) = await super().write(ua.WriteParameters(NodesToWrite=[item]), user)
            results.append(status)
        return results
