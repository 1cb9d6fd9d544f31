"""REST for the model registry: what is installed and running, and the audited changes
(promote, roll back, shadow) that engineers and admins make."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status

from control.actions.models import Requester
from control.deps import Authenticated, ServicesDep, role_of
from perception.models import ModelStatus, PromoteBody, RollbackBody, ShadowBody
from perception.registry.artifact import ArtifactError
from perception.registry.store import Conflict, NotFound, RegistryError
from perception.runtime.service import Actor, PerceptionService
from perception.runtime.session import ModelLoadError

router = APIRouter(prefix="/models", tags=["models"])

ModelNamePath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


async def perception(request: Request) -> PerceptionService:
    return request.app.state.perception


PerceptionDep = Annotated[PerceptionService, Depends(perception)]


async def may_manage(svc: ServicesDep, who: Authenticated, runtime: PerceptionDep) -> Requester:
    """Admins, and the roles named in ANDON_MODEL_ROLES (default: engineer)."""
    role = role_of(svc, who)
    if not (role.admin or role.id in runtime.manager_roles):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {who.role!r} may not change models")
    return who


Manager = Annotated[Requester, Depends(may_manage)]


@router.get("", response_model=list[ModelStatus])
async def list_models(runtime: PerceptionDep, who: Authenticated) -> list[ModelStatus]:
    """Every installed model: versions (and why any is refused), active, shadow, health."""
    return runtime.status()


@router.get("/{name}", response_model=ModelStatus)
async def get_model(name: ModelNamePath, runtime: PerceptionDep, who: Authenticated) -> ModelStatus:
    _known(runtime, name)
    return runtime.model_status(name)


@router.post("/{name}/promote", response_model=ModelStatus)
async def promote(
    name: ModelNamePath, body: PromoteBody, runtime: PerceptionDep, who: Manager
) -> ModelStatus:
    """Make a version active: it is verified and loaded first, else nothing changes."""
    _known(runtime, name)
    with _refusals():
        return await runtime.promote(name, body.version, _actor(who), body.reason)


@router.post("/{name}/rollback", response_model=ModelStatus)
async def rollback(
    name: ModelNamePath, body: RollbackBody, runtime: PerceptionDep, who: Manager
) -> ModelStatus:
    """Make the previously active version active again."""
    _known(runtime, name)
    with _refusals():
        return await runtime.rollback(name, _actor(who), body.reason)


@router.post("/{name}/shadow", response_model=ModelStatus)
async def shadow(
    name: ModelNamePath, body: ShadowBody, runtime: PerceptionDep, who: Manager
) -> ModelStatus:
    """Run a candidate beside the active version (compared and logged, never acted on);
    `version: null` stops it."""
    _known(runtime, name)
    with _refusals():
        return await runtime.set_shadow(name, body.version, _actor(who), body.reason)


def _actor(who: Requester) -> Actor:
    return Actor(who.user, who.role)


def _known(runtime: PerceptionService, name: str) -> None:
    if name not in runtime.registry.names():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no model {name!r} is installed")


@contextmanager
def _refusals() -> Iterator[None]:
    """Registry and artifact refusals as 4xx with the reason."""
    try:
        yield
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except (ArtifactError, ModelLoadError) as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"artifact refused: {exc}"
        ) from None
    except RegistryError as exc:  # e.g. an unreadable pointer file
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
