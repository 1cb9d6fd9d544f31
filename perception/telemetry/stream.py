"""Live scoring: windows of an asset's tags from the OPC-UA subscription, scored by the
perception runtime, turned into alarms on the EventBus and observations for control's rules.

The tags come from the control plane's own driver (its subscription-fed state cache), sampled
on a fixed period: the subscription reports changes, the model wants evenly spaced samples.
A window only holds consecutive samples of a running asset on a live connection; a stop or a
dropped connection starts a new window, since the model knows running operation only and a
gap is not a sample.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import structlog
from pydantic import ValidationError

from control.events.bus import EventBus
from control.opcua.driver import PlantDriver
from control.plant.models import RunState
from control.rules.models import Observation
from perception.models import ModelMetadata, Outcome, Prediction
from perception.runtime.service import PerceptionService
from perception.telemetry.alarm import AlarmState
from perception.telemetry.config import DetectorConfig

log = structlog.get_logger()

EVENT_KIND = "anomaly"
ObservationSink = Callable[[Observation], Awaitable[Any]]


class TelemetryConfigError(ValueError):
    """The model or the plant does not fit live scoring (no such asset or tag, not a
    telemetry model of this package)."""


async def fixed_rate(period_s: Callable[[], float]) -> AsyncIterator[None]:
    """Yield every `period_s()` seconds at a fixed rate: a slow step does not stretch the
    sampling, and steps missed while behind are skipped, not bunched."""
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    while True:
        yield
        next_at = max(next_at + period_s(), loop.time())
        await asyncio.sleep(next_at - loop.time())


class TagSampler:
    """One row of an asset's tags from the driver's state cache."""

    def __init__(self, driver: PlantDriver, asset: str, tags: Sequence[str]) -> None:
        self.driver, self.asset, self.tags = driver, asset, tuple(tags)

    def sample(self) -> list[float] | None:
        """The tags' latest values, or None when they make no sample: not connected (the
        cache may be stale) or the asset not running."""
        state = self.driver.state
        if not state.connected:
            return None
        asset = state.assets.get(self.asset)
        if asset is None:
            raise TelemetryConfigError(f"the plant has no asset {self.asset!r}")
        if asset.run_state is not RunState.running:
            return None
        missing = [t for t in self.tags if t not in asset.tags]
        if missing:
            raise TelemetryConfigError(f"{self.asset} has no tag {', '.join(missing)}")
        return [asset.tags[t] for t in self.tags]


@dataclass(frozen=True)
class LiveSpec:
    """What the active model version needs from the live path."""

    version: str
    asset: str
    config: DetectorConfig
    threshold: float

    @classmethod
    def of(cls, metadata: ModelMetadata, asset: str | None = None) -> LiveSpec:
        where = f"{metadata.name} {metadata.version}"
        if metadata.kind != "telemetry" or "detector" not in metadata.preprocessing:
            raise TelemetryConfigError(f"{where} is not a telemetry detector")
        try:
            config = DetectorConfig.model_validate(metadata.preprocessing["detector"])
        except ValidationError as exc:
            raise TelemetryConfigError(f"{where}: bad detector settings: {exc}") from None
        target = asset or metadata.preprocessing.get("asset")
        if not target:
            raise TelemetryConfigError(f"{where} names no asset: give one")
        return cls(metadata.version, target, config, metadata.thresholds["anomaly"])


class TelemetryMonitor:
    """Scores one telemetry model's asset live; follows promotions and rollbacks of it."""

    def __init__(
        self,
        driver: PlantDriver,
        perception: PerceptionService,
        events: EventBus,
        model: str,
        *,
        asset: str | None = None,
        period_s: float | None = None,
        observe: ObservationSink | None = None,
    ) -> None:
        """`period_s`: sampling period (default: the model's); `observe`: where each scored
        window goes as an Observation (control's RuleEngine.observe)."""
        self._driver = driver
        self._perception = perception
        self._events = events
        self.model = model
        self._asset = asset
        self._period_s = period_s
        self._observe = observe
        self._spec: LiveSpec | None = None
        self._sampler: TagSampler | None = None
        self._rows: deque[list[float]] = deque()
        self._times: deque[datetime] = deque()
        self._alarm = AlarmState()
        self._task: asyncio.Task[None] | None = None

    @property
    def alarm_active(self) -> bool:
        return self._alarm.active

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"telemetry-{self.model}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def period_s(self) -> float:
        return self._period_s or (self._spec.config.sample_period_s if self._spec else 1.0)

    async def _run(self) -> None:
        reported = None  # the configuration problem last logged: once, not every second
        async for _ in fixed_rate(lambda: self.period_s):
            try:
                await self.tick()
                reported = None
            except TelemetryConfigError as exc:
                if str(exc) != reported:
                    log.error("telemetry monitor misconfigured", model=self.model, error=str(exc))
                    reported = str(exc)
            except Exception:  # the loop must outlive one bad sample
                log.exception("telemetry tick failed", model=self.model)

    # -- one sample ----------------------------------------------------------------------

    async def tick(self) -> Prediction | None:
        """Take one sample; score the window when it is full. Returns the runtime's answer,
        or None when nothing was scored (no model, asset not running, window filling)."""
        session = self._perception.session(self.model)
        if session is not None and (self._spec is None or session.version != self._spec.version):
            self._follow(LiveSpec.of(session.metadata, self._asset))
        spec, sampler = self._spec, self._sampler
        if spec is None or sampler is None:  # never loaded: nothing says what to sample
            return None
        row = sampler.sample()
        if row is None:
            self._restart_window()
            if self._alarm.active:  # stopped or unreachable: not an anomaly any more
                self._alarm.reset()
                self._publish("cleared", spec, None, "asset not running or plant unreachable")
            return None
        self._rows.append(row)
        self._times.append(datetime.now(UTC))
        if len(self._rows) < spec.config.window:
            return None
        prediction = await self._perception.infer(
            self.model, spec.asset, np.array(self._rows, dtype=np.float32)
        )
        await self._handle(spec, prediction)
        return prediction

    def _follow(self, spec: LiveSpec) -> None:
        """Start afresh when another version (other tags, window, alarm rule) is active."""
        if self._spec is not None:
            log.info("telemetry model changed", model=self.model, version=spec.version)
            if self._alarm.active:  # the new version judges from an empty window
                self._publish("cleared", self._spec, None, f"model version {spec.version} active")
        self._spec = spec
        self._sampler = TagSampler(self._driver, spec.asset, spec.config.tags)
        self._alarm = AlarmState(spec.config.alarm_after, spec.config.clear_after)
        self._rows = deque(maxlen=spec.config.window)
        self._times = deque(maxlen=spec.config.window)

    async def _handle(self, spec: LiveSpec, prediction: Prediction) -> None:
        ok = prediction.outcome is Outcome.ok
        # A fallback is no finding either way: the alarm keeps its state, control's
        # degraded rules see the observation.
        if ok and self._alarm.update(prediction.label == "anomaly"):
            state = "raised" if self._alarm.active else "cleared"
            self._publish(state, spec, prediction, None)
        if self._observe is not None:
            await self._observe(self._observation(spec, prediction))

    def _restart_window(self) -> None:
        self._rows.clear()
        self._times.clear()

    # -- outputs -------------------------------------------------------------------------

    def _window(self) -> dict[str, Any]:
        return {
            "start": self._times[0].isoformat() if self._times else None,
            "end": self._times[-1].isoformat() if self._times else None,
            "samples": len(self._times),
        }

    def _publish(
        self, state: str, spec: LiveSpec, prediction: Prediction | None, reason: str | None
    ) -> None:
        latest = self._rows[-1] if self._rows else None
        data = {
            "source": "telemetry",
            "state": state,
            "asset": spec.asset,
            "model": self.model,
            "version": spec.version,
            "score": prediction.score if prediction else None,
            "threshold": spec.threshold,
            "window": self._window(),
            "values": dict(zip(spec.config.tags, latest, strict=True)) if latest else {},
        }
        if reason:
            data["reason"] = reason
        log.warning(
            "telemetry anomaly " + state,
            asset=spec.asset,
            model=f"{self.model}@{spec.version}",
            score=data["score"],
            threshold=spec.threshold,
        )
        self._events.publish(EVENT_KIND, data)

    def _observation(self, spec: LiveSpec, prediction: Prediction) -> Observation:
        end = self._times[-1]
        degraded = prediction.outcome is not Outcome.ok
        return Observation(
            source="telemetry",
            asset=spec.asset,
            subject=f"{spec.asset} window to {end.isoformat(timespec='milliseconds')}",
            label="degraded" if degraded else (prediction.label or "normal"),
            abnormal=prediction.label == "anomaly",
            degraded=degraded,
            score=prediction.score if prediction.score is not None else 0.0,
            threshold=spec.threshold,
            model=f"{self.model}@{prediction.version or spec.version}",
            at=end,
        )


def telemetry_monitors(
    driver: PlantDriver,
    perception: PerceptionService,
    events: EventBus,
    observe: ObservationSink | None = None,
) -> list[TelemetryMonitor]:
    """One monitor per installed telemetry model whose active version names its asset (the
    models present at start; a model installed later is watched after a restart)."""
    monitors = []
    for name in perception.registry.names():
        session = perception.session(name)
        if session is None or session.metadata.kind != "telemetry":
            continue
        try:
            LiveSpec.of(session.metadata)
        except TelemetryConfigError as exc:
            log.warning("telemetry model not watched live", model=name, error=str(exc))
            continue
        monitors.append(TelemetryMonitor(driver, perception, events, name, observe=observe))
    return monitors
