"""The Andon application: wires the domain packages together; it owns no logic of its own."""

from __future__ import annotations

import asyncio
import gc
import math
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import structlog
from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from andon.settings import Settings
from andon.workflows import launch_workflows, shutdown_workflows
from assistant.chat.router import router as chat_router
from assistant.chat.service import ChatService
from assistant.chat.store import ConversationStore
from assistant.llm.factory import language_model
from assistant.plans.router import router as plans_router
from assistant.plans.service import Planner
from control.audit.log import AuditLog
from control.audit.router import router as audit_router
from control.auth.keys import KeyStore
from control.db import create_schema, make_engine
from control.events.bus import EventBus
from control.events.router import router as events_router
from control.execution.claims import AssetClaims
from control.execution.router import router as execution_router
from control.execution.runtime import Services, bind
from control.execution.service import ExecutionService
from control.execution.store import RequestStore
from control.metrics import PLANT_CONNECTED
from control.opcua.connection import SecurityConfig
from control.opcua.driver import PlantDriver
from control.plant.loader import load_plant
from control.plant.models import PlantModel
from control.plant.router import router as plant_router
from control.quality.router import router as quality_router
from control.quality.store import QualityHoldStore
from control.rules.service import RuleEngine
from control.safety.router import router as safety_router
from control.workorders.router import router as work_orders_router
from control.workorders.store import WorkOrderStore
from perception.inspection.camera import simulated_inspection
from perception.inspection.evidence import EvidenceStore
from perception.inspection.router import router as evidence_router
from perception.router import router as models_router
from perception.runtime.service import SHIPPED_ARTIFACTS, service_from_settings, shipped_artifacts
from perception.telemetry.stream import telemetry_monitors
from retrieval.router import router as retrieval_router
from retrieval.service import RetrievalService
from simulator.security import SecuritySettings
from simulator.server import SimulatedPlant

log = structlog.get_logger()


def create_app(
    settings: Settings, *, embedded_simulator: bool = False, sync_corpora: bool = False
) -> FastAPI:
    """Build the API. With `embedded_simulator` the simulated plant runs in this process;
    with `sync_corpora` the configured documents are indexed in the background at start."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            plant = load_plant(settings.plant_file)
            if embedded_simulator:
                sim = _simulator(plant, settings)
                await sim.start()
                stack.push_async_callback(sim.stop)
                app.state.simulator = sim
            engine = make_engine(settings.app_database_url())
            stack.push_async_callback(engine.dispose)
            await create_schema(engine)
            events = EventBus()
            driver = PlantDriver(plant, settings.opcua_url, security=_driver_security(settings))
            driver.on_change(_publish_changes(events))
            await driver.connect(wait=False)
            stack.push_async_callback(driver.close)
            services = Services(
                plant=plant,
                driver=driver,
                audit=AuditLog(engine, anchor_path=settings.data_dir / "audit.anchor"),
                requests=RequestStore(engine),
                work_orders=WorkOrderStore(engine),
                quality_holds=QualityHoldStore(engine),
                events=events,
                claims=AssetClaims(),
                loop=asyncio.get_running_loop(),
            )
            bind(services)
            stack.callback(bind, None)
            launch_workflows(settings)
            stack.callback(shutdown_workflows)
            resumed, closed = await ExecutionService(services).resume_unstarted()
            app.state.services = services
            app.state.rules = RuleEngine(plant, ExecutionService(services), events)
            app.state.keys = KeyStore(
                settings.keys_path, roles={r.id for r in plant.people_roles()}
            )
            app.state.engine = engine
            app.state.retrieval = await _open_retrieval(settings, stack, sync_corpora)
            perception = service_from_settings(settings, events=events, audit=services.audit)
            await perception.start(shipped_artifacts(SHIPPED_ARTIFACTS))
            stack.push_async_callback(perception.aclose)
            app.state.perception = perception
            if settings.telemetry_live:
                for monitor in telemetry_monitors(
                    driver, perception, events, app.state.rules.observe
                ):
                    monitor.start()
                    stack.push_async_callback(monitor.stop)
            app.state.evidence = EvidenceStore(settings.evidence_dir)
            if embedded_simulator and settings.inspection_live:
                # The simulated camera renders from the simulator's process: only in-process.
                for loop in simulated_inspection(
                    app.state.simulator.process,
                    perception,
                    settings.inspection_model,
                    app.state.rules.observe,
                    app.state.evidence,
                    events,
                ):
                    loop.start()
                    stack.push_async_callback(loop.stop)
            # One model for every assistant feature; the embedded one loads on first use.
            app.state.llm = language_model(settings)
            stack.push_async_callback(app.state.llm.aclose)
            app.state.planner = Planner(app.state.llm, app.state.retrieval, services, plant)
            app.state.chat = ChatService(
                app.state.llm,
                app.state.retrieval,
                services,
                ConversationStore(engine),
                planner=app.state.planner,
            )
            # What start-up built lives as long as the process: keep it out of the garbage
            # collector's scans, which otherwise cost about 0.5 ms CPU per action.
            gc.freeze()
            log.info(
                "andon ready",
                opcua=settings.opcua_url,
                resumed_requests=resumed,
                closed_requests=closed,
            )
            yield

    app = FastAPI(
        title="Andon control plane",
        version="0.1.0",
        description="Deterministic, interlocked, audited plant control for the MES and operators.",
        lifespan=lifespan,
    )
    for router in (
        plant_router,
        execution_router,
        safety_router,
        work_orders_router,
        quality_router,
        audit_router,
        events_router,
        retrieval_router,
        models_router,
        evidence_router,
        chat_router,
        plans_router,
    ):
        app.include_router(router)

    @app.get("/healthz", tags=["ops"])
    async def healthz(request: Request) -> dict[str, str]:
        """The process is alive."""
        # Informational: the execution provider ONNX Runtime sessions were started on.
        return {"status": "ok", "inference_provider": request.app.state.perception.provider}

    @app.get("/readyz", tags=["ops"])
    async def readyz(request: Request) -> JSONResponse:
        """Ready when the database answers and the plant session is up."""
        services: Services = request.app.state.services
        checks: dict[str, str] = {"plant": "ok" if services.driver.connected else "disconnected"}
        try:
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # any driver error means not ready
            checks["database"] = f"error: {exc.__class__.__name__}"
        ready = all(v == "ok" for v in checks.values())
        # Informational: control does not wait for documents, search fills in as they index.
        documents = "indexing" if request.app.state.retrieval.syncing else "ok"
        return JSONResponse(
            {"ready": ready, **checks, "documents": documents}, status_code=200 if ready else 503
        )

    @app.get("/metrics", tags=["ops"])
    async def metrics(request: Request) -> PlainTextResponse:
        PLANT_CONNECTED.set(1 if request.app.state.services.driver.connected else 0)
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input, and JSON has no NaN or Infinity: a body
        # holding one would turn into a 500 instead of saying what is wrong with it.
        return JSONResponse(
            {"detail": _json_safe(jsonable_encoder(exc.errors()))},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Never leak a stack trace to a client; the log has it.
        log.exception("unhandled error", path=request.url.path)
        return JSONResponse(
            {"detail": "internal error; the server log has the details"}, status_code=500
        )

    return app


def _json_safe(value: object) -> object:
    """`value` with each non-finite float replaced by its name ("NaN", "Infinity", "-Infinity")."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


async def _open_retrieval(
    settings: Settings, stack: AsyncExitStack, sync_corpora: bool
) -> RetrievalService:
    retrieval = await asyncio.to_thread(
        RetrievalService.open,
        url=settings.qdrant_url,
        api_key=settings.qdrant_api_key,
        path=settings.qdrant_path,
        collection=settings.qdrant_collection,
        threads=settings.embed_threads,
    )
    paths = settings.corpora_paths() if sync_corpora else ()
    if paths:
        # In the background: the control plane is up at once, search fills in as it indexes.
        task = asyncio.create_task(_sync_documents(retrieval, paths))
        stack.push_async_callback(asyncio.wait, {task})
    # Runs before the wait above: stops the ingest at its next batch, then closes the store.
    stack.push_async_callback(retrieval.aclose)
    return retrieval


async def _sync_documents(retrieval: RetrievalService, paths: tuple[Path, ...]) -> None:
    report = await retrieval.sync(paths)
    log.info(
        "documents synced",
        added=len(report.added),
        updated=len(report.updated),
        unchanged=len(report.unchanged),
        removed=len(report.removed),
        passages=report.passages,
    )
    for error in report.errors:
        log.warning("document not indexed", error=error)


def _simulator(plant: PlantModel, settings: Settings) -> SimulatedPlant:
    url = urlsplit(settings.opcua_url)
    security = SecuritySettings(pki_dir=settings.pki_dir) if settings.opcua_security else None
    return SimulatedPlant(
        plant, host=url.hostname or "127.0.0.1", port=url.port or 4840, security=security
    )


def _driver_security(settings: Settings) -> SecurityConfig | None:
    if not settings.opcua_security:
        return None
    return SecurityConfig(settings.pki_dir, settings.opcua_user, settings.opcua_password)


def _publish_changes(events: EventBus) -> Callable[[str, str, object], None]:
    def on_change(asset: str, name: str, value: object) -> None:
        kind = "alarm" if name in {"active_alarms", "unacknowledged_alarms"} else "state"
        events.publish(kind, {"asset": asset, "name": name, "value": value})

    return on_change
