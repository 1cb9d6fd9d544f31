"""The perception runtime of a process: one endpoint per registered model, loaded from the
registry's pointers, kept in step with them, and the audited changes to them (promote,
roll back, shadow) that REST and the CLI make.

A version is loaded (verified, session opened, warmed up) before it becomes active, so a
promotion to a broken artifact is refused and the old version keeps answering. A model
whose active version cannot be loaded at start answers fallbacks and raises an alarm.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort
import structlog

from control.audit.records import AuditKind
from perception.models import (
    Health,
    ModelStatus,
    Outcome,
    Prediction,
    VersionInfo,
)
from perception.registry.artifact import ArtifactError
from perception.registry.keys import trusted_keys
from perception.registry.store import ModelRegistry, Pointers, RegistryError
from perception.runtime import metrics
from perception.runtime.endpoint import BatchConfig, ModelEndpoint
from perception.runtime.monitor import MonitorConfig
from perception.runtime.providers import Device, choose_providers
from perception.runtime.session import ModelLoadError, ModelSession, open_session

if TYPE_CHECKING:
    from andon.settings import Settings
    from control.audit.log import AuditLog
    from control.events.bus import EventBus

log = structlog.get_logger()

SHIPPED_ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"  # the demo models

SYSTEM = ("system", "system")  # actor and role of what the runtime does by itself


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    device: Device = "auto"
    threads: int = 2
    batch: BatchConfig = field(default_factory=BatchConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    refresh_s: float = 2.0  # how often pointer files are checked for changes by the CLI


@dataclass(frozen=True, slots=True)
class Actor:
    user: str
    role: str


class PerceptionService:
    def __init__(
        self,
        registry: ModelRegistry,
        config: RuntimeConfig | None = None,
        *,
        events: EventBus | None = None,
        audit: AuditLog | None = None,
        manager_roles: Iterable[str] = ("engineer", "admin"),
    ) -> None:
        self.registry = registry
        self.manager_roles = frozenset(manager_roles)  # may promote, roll back, shadow
        self.config = config or RuntimeConfig()
        self._events = events
        self._audit = audit
        # Chosen once: every session of this process asks for the same providers.
        self.providers = choose_providers(ort.get_available_providers(), self.config.device)
        self._endpoints: dict[str, ModelEndpoint] = {}
        self._loaded: dict[str, Pointers] = {}  # the pointers each endpoint was loaded from
        self._lock = asyncio.Lock()  # one pointer change or reload at a time
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refresher: asyncio.Task[None] | None = None
        metrics.PROVIDER.labels(self.providers[0]).set(1)

    @property
    def provider(self) -> str:
        """The execution provider sessions are asked to run on first."""
        return self.providers[0]

    async def start(self, shipped: Sequence[Path] = ()) -> None:
        """Install shipped artifacts (a model without any pointer gets its shipped version
        active), load every model, then follow pointer changes made by other processes."""
        for directory in shipped:
            await self._install_shipped(directory)
        async with self._lock:
            for name in self.registry.names():
                await self._reload(name)
        self._refresher = asyncio.create_task(self._follow())

    async def aclose(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        for endpoint in self._endpoints.values():
            await endpoint.aclose()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- inference -----------------------------------------------------------------------

    async def infer(self, model: str, stream: str, sample: np.ndarray) -> Prediction:
        """The answer of `model` for one input from `stream` (never an exception for a model
        that is missing or failing: a fallback). InputError for a malformed input."""
        endpoint = self._endpoints.get(model)
        if endpoint is None:
            metrics.ANSWERS.labels(model, Outcome.fallback.value).inc()
            return Prediction(
                model=model,
                version=None,
                stream=stream,
                outcome=Outcome.fallback,
                fallback_reason=f"no model {model!r} is installed",
            )
        return await endpoint.infer(stream, sample)

    def session(self, model: str) -> ModelSession | None:
        """The active session of a model, for callers that score offline in bulk."""
        endpoint = self._endpoints.get(model)
        return endpoint.active if endpoint else None

    # -- status --------------------------------------------------------------------------

    def status(self) -> list[ModelStatus]:
        return [self.model_status(name) for name in self.registry.names()]

    def model_status(self, name: str) -> ModelStatus:
        pointers = self.registry.pointers(name)
        endpoint = self._endpoints.get(name)
        versions = tuple(self._version_info(name, v) for v in self.registry.versions(name))
        active = endpoint.active if endpoint else None
        return ModelStatus(
            name=name,
            kind=active.metadata.kind if active else None,
            active=pointers.active,
            shadow=endpoint.shadow_summary() if endpoint else None,
            previous=pointers.previous,
            health=endpoint.health if endpoint else Health.unloaded,
            health_reasons=endpoint.health_reasons if endpoint else ("not loaded",),
            provider=active.provider if active else None,
            drift_psi=dict(endpoint.monitor.psi) if endpoint and endpoint.monitor else {},
            versions=versions,
        )

    def _version_info(self, name: str, version: str) -> VersionInfo:
        try:
            artifact = self.registry.load(name, version)
        except (ArtifactError, RegistryError) as exc:
            return VersionInfo(version=version, problem=str(exc))
        meta = artifact.metadata
        return VersionInfo(
            version=version,
            created_at=meta.created_at,
            metrics=meta.metrics,
            key_id=artifact.key_id,
        )

    # -- audited changes -----------------------------------------------------------------

    async def promote(self, name: str, version: str, actor: Actor, reason: str) -> ModelStatus:
        """Make `version` active after loading it. ArtifactError / ModelLoadError: refused,
        nothing changed; NotFound / Conflict from the registry likewise."""
        async with self._lock:
            session = await self._open(name, version)
            before, after = self.registry.promote(name, version)
            endpoint = self._endpoint(name)
            if endpoint.shadow is not None and after.shadow is None:
                endpoint.set_shadow(None)
            endpoint.set_active(session)
            self._loaded[name] = after
            await self._record("promote", name, before, after, actor, reason, session)
        return self.model_status(name)

    async def rollback(self, name: str, actor: Actor, reason: str) -> ModelStatus:
        async with self._lock:
            target = self.registry.pointers(name).previous
            if not target:  # let the registry say why, without loading anything
                self.registry.rollback(name)
            session = await self._open(name, target[-1])
            before, after = self.registry.rollback(name)
            endpoint = self._endpoint(name)
            if after.shadow is None:
                endpoint.set_shadow(None)
            endpoint.set_active(session)
            self._loaded[name] = after
            await self._record("rollback", name, before, after, actor, reason, session)
        return self.model_status(name)

    async def set_shadow(
        self, name: str, version: str | None, actor: Actor, reason: str
    ) -> ModelStatus:
        """Run `version` in shadow (None: stop). Refused when it cannot be loaded."""
        async with self._lock:
            session = await self._open(name, version) if version is not None else None
            before, after = self.registry.set_shadow(name, version)
            self._endpoint(name).set_shadow(session)
            self._loaded[name] = after
            await self._record("shadow", name, before, after, actor, reason, session)
        return self.model_status(name)

    async def _record(
        self,
        action: str,
        name: str,
        before: Pointers,
        after: Pointers,
        actor: Actor,
        reason: str,
        session: ModelSession | None,
    ) -> None:
        data: dict[str, Any] = {
            "action": action,
            "model": name,
            "before": before.model_dump(),
            "after": after.model_dump(),
        }
        if session is not None:
            data |= {
                "version": session.version,
                "sha256": dict(session.artifact.sha256),
                "key_id": session.artifact.key_id,
                "provider": session.provider,
            }
        log.info("model pointers changed", actor=actor.user, reason=reason, **data)
        if self._events is not None:
            self._events.publish("model", {"action": action, "model": name, **after.model_dump()})
        if self._audit is not None:
            await self._audit.append(
                AuditKind.model,
                actor=actor.user,
                role=actor.role,
                subject=f"model:{name}",
                reason=reason,
                data=data,
            )

    # -- loading -------------------------------------------------------------------------

    async def _open(self, name: str, version: str) -> ModelSession:
        artifact = await asyncio.to_thread(self.registry.load, name, version)
        warm = sorted({1, self.config.batch.max_batch})
        return await asyncio.to_thread(
            open_session, artifact, self.config.device, self.config.threads, warm
        )

    def _endpoint(self, name: str) -> ModelEndpoint:
        endpoint = self._endpoints.get(name)
        if endpoint is None:
            endpoint = ModelEndpoint(
                name, self.config.batch, self._health_changed, self.config.monitor
            )
            self._endpoints[name] = endpoint
        return endpoint

    async def _reload(self, name: str) -> None:
        """Bring an endpoint in line with the registry's pointers (caller holds the lock)."""
        pointers = self.registry.pointers(name)
        loaded = self._loaded.get(name)
        endpoint = self._endpoint(name)
        if loaded is None or loaded.active != pointers.active:
            if pointers.active is None:
                endpoint.set_active(None, "no active version (promote one)")
            else:
                try:
                    endpoint.set_active(await self._open(name, pointers.active))
                except (ArtifactError, ModelLoadError, RegistryError) as exc:
                    log.error(
                        "model not loaded", model=name, version=pointers.active, error=str(exc)
                    )
                    endpoint.set_active(None, f"{pointers.active} not loaded: {exc}")
        if loaded is None or loaded.shadow != pointers.shadow:
            shadow = None
            if pointers.shadow is not None:
                try:
                    shadow = await self._open(name, pointers.shadow)
                except (ArtifactError, ModelLoadError, RegistryError) as exc:
                    # A candidate that cannot load is not shadowed; the active is unaffected.
                    log.warning(
                        "shadow model not loaded",
                        model=name,
                        version=pointers.shadow,
                        error=str(exc),
                    )
            endpoint.set_shadow(shadow)
        self._loaded[name] = pointers

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.config.refresh_s)
            try:
                await self.refresh()
            except Exception:  # a bad pointer file must not end the loop
                log.exception("model registry refresh failed")

    async def refresh(self) -> None:
        """Apply pointer changes made outside this process (`andon models ...`)."""
        async with self._lock:
            for name in self.registry.names():
                if self._loaded.get(name) != self.registry.pointers(name):
                    await self._reload(name)

    async def _install_shipped(self, directory: Path) -> None:
        try:
            artifact, added = await asyncio.to_thread(self.registry.install, directory)
        except (ArtifactError, RegistryError) as exc:
            # e.g. a site that trusts only its own key: the demo model is not for it.
            log.warning("shipped model not installed", path=str(directory), error=str(exc))
            return
        name = artifact.name
        fresh = self.registry.pointers(name) == Pointers()
        if not fresh:
            return
        before, after = self.registry.promote(name, artifact.version)
        actor = Actor(*SYSTEM)
        await self._record("promote", name, before, after, actor, "shipped model installed", None)
        log.info("shipped model installed", model=name, version=artifact.version, added=added)

    # -- alarms --------------------------------------------------------------------------

    def _health_changed(self, name: str, health: Health, reasons: Sequence[str]) -> None:
        endpoint = self._endpoints.get(name)
        version = endpoint.active.version if endpoint and endpoint.active else None
        state = "cleared" if health is Health.ok else "raised"
        if health is Health.ok:
            log.info("model healthy", model=name, version=version)
        else:
            log.warning(
                "model degraded: answering fallbacks",
                model=name,
                version=version,
                health=health.value,
                reasons=list(reasons),
            )
        if self._events is not None:
            self._events.publish(
                "alarm",
                {
                    "source": "perception",
                    "model": name,
                    "version": version,
                    "state": state,
                    "health": health.value,
                    "reasons": list(reasons),
                },
            )
        if self._audit is not None:
            task = asyncio.get_running_loop().create_task(
                self._audit.append(
                    AuditKind.fault,  # detected: the model went bad
                    actor=SYSTEM[0],
                    role=SYSTEM[1],
                    subject=f"model:{name}",
                    reason=f"model {health.value}" + (": " + "; ".join(reasons) if reasons else ""),
                    data={
                        "model": name,
                        "version": version,
                        "health": health.value,
                        "reasons": list(reasons),
                    },
                )
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


def shipped_artifacts(root: Path) -> list[Path]:
    """The artifact directories under `root` (perception/artifacts/*) that are signed."""
    if not root.is_dir():
        return []
    return sorted(d for d in root.iterdir() if (d / "signature.json").is_file())


def service_from_settings(
    settings: Settings, *, events: EventBus | None = None, audit: AuditLog | None = None
) -> PerceptionService:
    """The runtime as configured by ANDON_* (trust list, device, batching, roles)."""
    registry = ModelRegistry(settings.models_dir, trusted_keys(settings.model_trusted_keys))
    config = RuntimeConfig(
        device=settings.inference_device,
        threads=settings.inference_threads,
        batch=BatchConfig(
            max_batch=settings.inference_max_batch,
            budget_ms=settings.inference_budget_ms,
            queue=settings.inference_queue,
        ),
    )
    return PerceptionService(
        registry, config, events=events, audit=audit, manager_roles=settings.model_roles
    )
