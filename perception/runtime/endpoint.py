"""One model name at run time: its active session behind a micro-batcher, an optional shadow
candidate, the monitor, and the rule that turns anything doubtful into a fallback.

Never fail open: no loaded model, a full queue, a broken or low-confidence output, a
degraded model or a failed run all answer `Outcome.fallback` ("route to manual
inspection"), which control treats as not-OK. The shadow's answers are only compared and
logged; it runs after the active answers are given, and skips batches rather than delay
them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import structlog
from prometheus_client import Gauge

from perception.models import Health, Outcome, Prediction, ShadowSummary
from perception.runtime import metrics
from perception.runtime.batcher import MicroBatcher, Pending
from perception.runtime.drift import input_statistics
from perception.runtime.monitor import ModelMonitor, MonitorConfig
from perception.runtime.session import ModelSession, Reading

log = structlog.get_logger()

SHADOW_WINDOW = 500  # comparisons the disagreement rate is taken over


@dataclass(frozen=True, slots=True)
class BatchConfig:
    max_batch: int = 8
    budget_ms: float = 2.0
    queue: int = 64


# Called with (model name, health, reasons) when a model's health changes.
HealthListener = Callable[[str, Health, Sequence[str]], None]


class ModelEndpoint:
    def __init__(
        self,
        name: str,
        batch: BatchConfig,
        on_health: HealthListener,
        monitor: MonitorConfig | None = None,
    ) -> None:
        self.name = name
        self._monitor_config = monitor
        self._on_health = on_health
        self._batcher: MicroBatcher[np.ndarray, Prediction] = MicroBatcher(
            self._run,
            max_batch=batch.max_batch,
            budget_s=batch.budget_ms / 1000,
            capacity=batch.queue,
        )
        # One thread per role: runs of a model are serial, the event loop never blocks.
        self._active_pool = ThreadPoolExecutor(1, thread_name_prefix=f"infer-{name}")
        self._shadow_pool = ThreadPoolExecutor(1, thread_name_prefix=f"shadow-{name}")
        self.active: ModelSession | None = None
        self.monitor: ModelMonitor | None = None
        self.load_problem: str | None = "not loaded yet"
        self.shadow: ModelSession | None = None
        self._shadow_busy = False
        self._shadow_results: deque[bool] = deque(maxlen=SHADOW_WINDOW)
        self._shadow_counts = [0, 0]  # comparisons, disagreements (for this shadow version)
        self._health: Health | None = None  # None: never loaded (no alarm for a first load)
        metrics.DEGRADED.labels(name).set(1)

    # -- configuration -------------------------------------------------------------------

    def set_active(self, session: ModelSession | None, problem: str | None = None) -> None:
        """Swap the active model (None with a problem: it could not be loaded)."""
        if self.active is not None:
            _loaded(self.active, "active").set(0)
        self.active, self.load_problem = session, problem
        self.monitor = ModelMonitor(session.metadata, self._monitor_config) if session else None
        if session is not None:
            _loaded(session, "active").set(1)
            for feature in self.monitor.features if self.monitor else ():
                metrics.DRIFT_PSI.labels(self.name, feature).set(0)
        self._set_health(Health.ok if session else Health.unloaded, [problem] if problem else [])

    def set_shadow(self, session: ModelSession | None) -> None:
        if self.shadow is not None:
            _loaded(self.shadow, "shadow").set(0)
        self.shadow = session
        self._shadow_results.clear()
        self._shadow_counts = [0, 0]
        if session is not None:
            _loaded(session, "shadow").set(1)

    @property
    def health(self) -> Health:
        return self._health or Health.unloaded

    @property
    def health_reasons(self) -> tuple[str, ...]:
        if self.active is None:
            return (self.load_problem or "no version loaded",)
        return self.monitor.reasons if self.monitor else ()

    def shadow_summary(self) -> ShadowSummary | None:
        if self.shadow is None:
            return None
        comparisons, disagreements = self._shadow_counts
        recent = self._shadow_results
        return ShadowSummary(
            version=self.shadow.version,
            comparisons=comparisons,
            disagreements=disagreements,
            disagreement_rate=sum(recent) / len(recent) if recent else None,
        )

    # -- inference -----------------------------------------------------------------------

    async def infer(self, stream: str, sample: np.ndarray) -> Prediction:
        """The answer for one input. Raises InputError for an input of the wrong shape."""
        started = asyncio.get_running_loop().time()
        active = self.active
        if active is None:
            return self._answer(self._fallback(stream, self.health_reasons[0]), started)
        checked = active.sample(sample)
        if not np.isfinite(checked).all():
            return self._answer(self._fallback(stream, "input is not finite (NaN/inf)"), started)
        future = self._batcher.submit(stream, checked)
        if future is None:
            metrics.SHED.labels(self.name, stream).inc()
            return self._answer(self._fallback(stream, "shed: the model's queue is full"), started)
        return await future

    async def aclose(self) -> None:
        for pending in await self._batcher.aclose():
            pending.future.set_result(self._fallback(pending.stream, "runtime stopped"))
        self.set_shadow(None)
        if self.active is not None:
            _loaded(self.active, "active").set(0)
        self._active_pool.shutdown(wait=True)
        self._shadow_pool.shutdown(wait=True)

    async def _run(self, batch: list[Pending[np.ndarray, Prediction]]) -> None:
        loop = asyncio.get_running_loop()
        active, monitor = self.active, self.monitor
        if active is None or monitor is None:  # unloaded while these waited
            for p in batch:
                self._resolve(p, self._fallback(p.stream, self.health_reasons[0]))
            return
        samples = np.stack([p.item for p in batch])
        metrics.BATCH_SIZE.labels(self.name).observe(len(batch))
        try:
            output = await loop.run_in_executor(self._active_pool, active.run, samples)
            readings = active.read(output)
        except Exception as exc:  # a failed run answers fallbacks; the monitor counts it
            log.warning("inference failed", model=self.name, version=active.version, error=str(exc))
            changed = monitor.observe_failure(len(batch))
            readings = [Reading(problem=f"inference failed: {exc}", valid=False)] * len(batch)
        else:
            features = active.metadata.preprocessing.get("features", ())
            stats = input_statistics(active.metadata.kind, samples, features)
            changed = monitor.observe(stats, readings)
        self._after_observe(monitor, changed)
        for pending, reading in zip(batch, readings, strict=True):
            self._resolve(pending, self._prediction(active, pending.stream, reading, monitor))
        if self.shadow is not None:
            self._start_shadow(self.shadow, samples, [p.stream for p in batch], readings)

    def _prediction(
        self, active: ModelSession, stream: str, reading: Reading, monitor: ModelMonitor
    ) -> Prediction:
        if reading.confidence is not None:
            metrics.CONFIDENCE.labels(self.name).observe(reading.confidence)
        if reading.score is not None:
            threshold = active.metadata.thresholds["anomaly"]
            metrics.SCORE_RATIO.labels(self.name).observe(reading.score / threshold)
        problem = reading.problem
        if problem is None and monitor.health is not Health.ok:
            problem = "model degraded: " + "; ".join(monitor.reasons)
        return Prediction(
            model=self.name,
            version=active.version,
            stream=stream,
            outcome=Outcome.fallback if problem else Outcome.ok,
            label=None if problem else reading.label,
            confidence=reading.confidence,
            score=reading.score,
            probabilities=reading.probabilities,
            fallback_reason=problem,
        )

    def _fallback(self, stream: str, reason: str) -> Prediction:
        version = self.active.version if self.active else None
        return Prediction(
            model=self.name,
            version=version,
            stream=stream,
            outcome=Outcome.fallback,
            fallback_reason=reason,
        )

    def _resolve(self, pending: Pending[np.ndarray, Prediction], answer: Prediction) -> None:
        if not pending.future.done():  # the caller may have given up (cancelled)
            pending.future.set_result(self._answer(answer, pending.enqueued))

    def _answer(self, answer: Prediction, started: float) -> Prediction:
        elapsed = asyncio.get_running_loop().time() - started
        metrics.LATENCY.labels(self.name).observe(elapsed)
        metrics.ANSWERS.labels(self.name, answer.outcome.value).inc()
        return answer.model_copy(update={"latency_ms": round(elapsed * 1000, 3)})

    def _after_observe(self, monitor: ModelMonitor, changed: bool) -> None:
        for feature, value in monitor.psi.items():
            metrics.DRIFT_PSI.labels(self.name, feature).set(value)
        if changed:
            self._set_health(monitor.health, monitor.reasons)

    def _set_health(self, health: Health, reasons: Sequence[str]) -> None:
        previous, self._health = self._health, health
        metrics.DEGRADED.labels(self.name).set(0 if health is Health.ok else 1)
        if health != previous and (previous is not None or health is not Health.ok):
            self._on_health(self.name, health, tuple(reasons))

    # -- shadow --------------------------------------------------------------------------

    def _start_shadow(
        self,
        shadow: ModelSession,
        samples: np.ndarray,
        streams: list[str],
        active: list[Reading],
    ) -> None:
        if self._shadow_busy:
            metrics.SHADOW_SKIPPED.labels(self.name).inc()
            return
        self._shadow_busy = True
        task = asyncio.get_running_loop().create_task(
            self._compare(shadow, samples, streams, active)
        )
        task.add_done_callback(lambda _: setattr(self, "_shadow_busy", False))

    async def _compare(
        self, shadow: ModelSession, samples: np.ndarray, streams: list[str], active: list[Reading]
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            readings = shadow.read(
                await loop.run_in_executor(self._shadow_pool, shadow.run, samples)
            )
        except Exception as exc:  # the shadow's failure is logged, never felt
            log.warning(
                "shadow inference failed", model=self.name, version=shadow.version, error=str(exc)
            )
            metrics.SHADOW_SKIPPED.labels(self.name).inc()
            return
        if shadow is not self.shadow:  # replaced while it ran: its counts are gone
            return
        for stream, mine, theirs in zip(streams, active, readings, strict=True):
            disagree = (mine.label, mine.valid) != (theirs.label, theirs.valid)
            self._shadow_results.append(disagree)
            self._shadow_counts[0] += 1
            metrics.SHADOW_COMPARISONS.labels(self.name).inc()
            if disagree:
                self._shadow_counts[1] += 1
                metrics.SHADOW_DISAGREEMENTS.labels(self.name).inc()
                log.info(
                    "shadow disagrees",
                    model=self.name,
                    stream=stream,
                    active=self.active.version if self.active else None,
                    shadow=shadow.version,
                    active_label=mine.label,
                    shadow_label=theirs.label,
                    active_confidence=mine.confidence,
                    shadow_confidence=theirs.confidence,
                    active_score=mine.score,
                    shadow_score=theirs.score,
                )
        recent = self._shadow_results
        metrics.SHADOW_DISAGREEMENT_RATE.labels(self.name).set(sum(recent) / len(recent))


def _loaded(session: ModelSession, role: str) -> Gauge:
    return metrics.MODEL_LOADED.labels(session.name, role, session.version, session.provider)
