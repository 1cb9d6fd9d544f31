"""A vision station's inspection: each part's frame goes through the station's vision model
in the perception runtime and becomes an Observation for control's detection rules.

- abnormal: the runtime answered (outcome ok) with a defect class, i.e. anything but "ok";
  answers below the model's `min_confidence` are no answer (the runtime makes them fallbacks);
- degraded: the runtime answered a fallback (no model, low confidence, inputs out of
  distribution, queue full, a failed run): control's degraded rule holds such parts for
  manual inspection, so a blind model never lets parts pass as "nothing seen".

The frames of abnormal and degraded parts are stored as evidence *before* control sees the
observation, so a hold or work order never cites a frame that is not there. Frames of good
parts are not kept: nothing acts on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import structlog
from prometheus_client import Counter, Histogram

from control.events.bus import EventBus
from control.execution.models import RequestRecord
from control.rules.models import Observation
from perception.inspection.evidence import EvidenceStore, StoredFrame
from perception.models import Outcome, Prediction
from perception.runtime.service import PerceptionService
from perception.runtime.session import DEFAULT_MIN_CONFIDENCE
from perception.vision.preprocess import input_size, to_input

log = structlog.get_logger()

NORMAL_LABEL = "ok"  # the class of a part without a defect (simulator.camera.CLASSES)
EVENT_KIND = "inspection"
# Handed to the runtime when no version is loaded: it answers a fallback without reading it.
_NO_INPUT = np.zeros(0, dtype=np.float32)

PARTS = Counter(
    "andon_inspection_parts_total",
    "Parts inspected, by station and result (ok, defect, degraded)",
    ["station", "result"],
)
FRAME_TO_ACTION = Histogram(
    "andon_inspection_seconds",
    "Frame in hand to control's answer for it (model, evidence, detection rules)",
    ["station"],
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

# control's RuleEngine.observe: the requests an observation caused, as control answered them.
RuleSink = Callable[[Observation], Awaitable[Sequence[RequestRecord]]]


@dataclass(frozen=True, slots=True)
class Capture:
    """One part as a station's camera saw it."""

    station: str  # the vision station (an asset of the plant model)
    part_id: str
    image: np.ndarray  # uint8, (H, W) grey or (H, W, 3)
    at: datetime  # when the frame was taken (the observation's time for the rules)
    part_count: int | None = None  # the station's inspected-part count with this part


@dataclass(frozen=True, slots=True)
class Inspection:
    """What became of one frame."""

    observation: Observation
    prediction: Prediction
    requests: Sequence[RequestRecord]  # what control did about it (usually nothing)
    answered: float  # time.perf_counter() when the model's answer was in


class InspectionPipeline:
    def __init__(
        self,
        perception: PerceptionService,
        model: str,
        observe: RuleSink,
        evidence: EvidenceStore,
        events: EventBus | None = None,
    ) -> None:
        self._perception = perception
        self.model = model
        self._observe = observe
        self._evidence = evidence
        self._events = events

    async def inspect(self, capture: Capture) -> Inspection:
        """Classify one frame, keep it if it is evidence, hand the result to control."""
        started = time.perf_counter()
        prediction, threshold = await self._classify(capture)
        answered = time.perf_counter()
        degraded = prediction.outcome is not Outcome.ok
        abnormal = not degraded and prediction.label != NORMAL_LABEL
        stored = await self._keep(capture) if abnormal or degraded else None
        observation = Observation(
            source="vision",
            asset=capture.station,
            subject=capture.part_id,
            label="degraded" if degraded else (prediction.label or NORMAL_LABEL),
            abnormal=abnormal,
            degraded=degraded,
            score=prediction.confidence or 0.0,
            threshold=threshold,
            model=f"{self.model}@{prediction.version}" if prediction.version else self.model,
            at=capture.at,
            uri=stored.uri if stored else None,
            sha256=stored.sha256 if stored else None,
            part_count=capture.part_count,
        )
        requests = await self._observe(observation)
        FRAME_TO_ACTION.labels(capture.station).observe(time.perf_counter() - started)
        result = "degraded" if degraded else ("defect" if abnormal else "ok")
        PARTS.labels(capture.station, result).inc()
        if abnormal or degraded:
            self._report(observation, prediction, requests)
        return Inspection(observation, prediction, requests, answered)

    async def _classify(self, capture: Capture) -> tuple[Prediction, float | None]:
        """The runtime's answer, and the confidence the model needs to give one."""
        session = self._perception.session(self.model)
        sample, threshold = _NO_INPUT, None
        try:
            if session is not None:
                meta = session.metadata
                threshold = meta.thresholds.get("min_confidence", DEFAULT_MIN_CONFIDENCE)
                sample = to_input([capture.image], input_size(meta.preprocessing))[0]
            return await self._perception.infer(self.model, capture.station, sample), threshold
        except ValueError as exc:
            # Not an input this model takes (e.g. a version with another size was promoted
            # between the two lines above, or not a vision model): no answer, not a crash.
            version = session.version if session else None
            return Prediction(
                model=self.model,
                version=version,
                stream=capture.station,
                outcome=Outcome.fallback,
                fallback_reason=f"frame not usable by the model: {exc}",
            ), threshold

    async def _keep(self, capture: Capture) -> StoredFrame | None:
        try:
            return await asyncio.to_thread(self._evidence.put, capture.image)
        except OSError as exc:
            # The finding still reaches control, without its picture, rather than not at all.
            log.error("evidence frame not stored", part=capture.part_id, error=str(exc))
            return None

    def _report(
        self, observation: Observation, prediction: Prediction, requests: Sequence[RequestRecord]
    ) -> None:
        log.info(
            "part flagged",
            station=observation.asset,
            part=observation.subject,
            label=observation.label,
            score=round(observation.score, 3),
            model=observation.model,
            reason=prediction.fallback_reason,
            requests=[r.id for r in requests],
        )
        if self._events is not None:
            self._events.publish(
                EVENT_KIND,
                {
                    "station": observation.asset,
                    "part": observation.subject,
                    "label": observation.label,
                    "score": observation.score,
                    "model": observation.model,
                    "uri": observation.uri,
                    "sha256": observation.sha256,
                    "reason": prediction.fallback_reason,
                    "requests": [r.id for r in requests],
                },
            )


class InspectionLoop:
    """Inspects a station's frames as they come, one after the other, until stopped: the
    rules see a station's parts in the order they passed."""

    def __init__(self, pipeline: InspectionPipeline, frames: AsyncIterator[Capture]) -> None:
        self.pipeline = pipeline
        self._frames = frames
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="inspection")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        async for capture in self._frames:
            try:
                await self.pipeline.inspect(capture)
            except Exception:  # one bad part must not end the station's inspection
                log.exception("inspection failed", station=capture.station, part=capture.part_id)
