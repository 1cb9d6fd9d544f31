"""FastAPI dependencies shared by the control routers: services, authentication, roles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from control.actions.models import Requester
from control.execution.runtime import Services
from control.plant.models import Role

_bearer = HTTPBearer(auto_error=False, description="API key or token as a bearer token")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


# Dependencies here and in the other routers are `async def` even when they only look
# something up: FastAPI runs a plain `def` dependency in a worker thread, a thread hop per
# request for an attribute read.
async def services(request: Request) -> Services:
    return request.app.state.services


async def requester(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Requester:
    key = bearer.credentials if bearer else api_key
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing credentials: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    who = request.app.state.keys.authenticate(key)
    if who is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown or revoked API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    role = request.app.state.services.plant.role(who.role)
    if role is not None and role.automated:
        # Only Andon's own rules act as this role; a key claiming it was not issued by us.
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"role {who.role!r} is not for people or API clients"
        )
    return who


Authenticated = Annotated[Requester, Depends(requester)]
ServicesDep = Annotated[Services, Depends(services)]


def role_of(svc: Services, who: Requester) -> Role:
    role = svc.plant.role(who.role)
    if role is None:  # a key minted for a role since removed from the plant model
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"role {who.role!r} is not defined in the plant model"
        )
    return role


def require(check: Callable[[Role], bool], what: str) -> Callable[..., Requester]:
    """A dependency admitting only callers whose role passes `check`."""

    async def dependency(svc: ServicesDep, who: Authenticated) -> Requester:
        if not check(role_of(svc, who)):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {who.role!r} may not {what}")
        return who

    return dependency
