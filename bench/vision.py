"""Frame -> detection latency and throughput of the perception runtime on the shipped vision
model (part of ``bench perception``).

Imports only the perception runtime (no app, no simulator, no OPC-UA), so the same measurement
runs where only ONNX Runtime and the perception package's own needs are installed, e.g. on a GPU
machine with onnxruntime-gpu: ``measure_vision(models, frames, "vision-defects", "cuda")``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.stats import percentile
from perception.registry.keys import DEMO_PUBLIC_KEY, trusted_keys
from perception.registry.store import ModelRegistry
from perception.runtime.endpoint import BatchConfig
from perception.runtime.providers import Device
from perception.runtime.service import (
    SHIPPED_ARTIFACTS,
    PerceptionService,
    RuntimeConfig,
    shipped_artifacts,
)
from perception.vision.evaluation import frame_latency
from perception.vision.preprocess import input_size, to_input

STATION = "vision-2"
STREAMS = 4
WARMUP = 20


async def _runtime(
    models: Path, model: str, batch: BatchConfig, device: Device
) -> PerceptionService:
    registry = ModelRegistry(models, trusted_keys([DEMO_PUBLIC_KEY]))
    service = PerceptionService(registry, RuntimeConfig(device=device, batch=batch))
    await service.start(shipped_artifacts(SHIPPED_ARTIFACTS))
    if service.session(model) is None:
        raise RuntimeError(f"the shipped vision model {model!r} did not load")
    return service


async def _stream(
    service: PerceptionService, model: str, stream: str, frames: Sequence[np.ndarray], size: int
) -> tuple[list[float], float]:
    """Frames one after the other: (milliseconds per frame, wall seconds)."""
    latencies = []
    started = time.perf_counter()
    for frame in frames:
        t0 = time.perf_counter()
        answer = await service.infer(model, stream, to_input([frame], size)[0])
        latencies.append((time.perf_counter() - t0) * 1000)
        if answer.fallback_reason and answer.fallback_reason.startswith("shed"):
            raise RuntimeError(f"{stream}: frames were shed, the figures would flatter")
    return latencies, time.perf_counter() - started


async def measure_vision(
    models: Path, frames: Sequence[np.ndarray], model: str, device: Device = "auto"
) -> dict[str, float | int | str]:
    """vision_p50_ms / vision_p99_ms: a frame in hand to the runtime's answer at batch 1
    (resize and scale, queue, ONNX Runtime, reading the classes); vision_session_*: the bare
    session; frames_per_s: one stream; frames_per_s_<n>_streams: n streams micro-batched as
    configured by default. `models` is an empty folder for the registries; `model` one of the
    shipped artifacts."""
    one = await _runtime(models / "one", model, BatchConfig(max_batch=1), device)
    try:
        session = one.session(model)
        assert session is not None
        size = input_size(session.metadata.preprocessing)
        await _stream(one, model, "warm-up", frames[:WARMUP], size)
        latencies, wall = await _stream(one, model, STATION, frames, size)
        bare = await asyncio.to_thread(frame_latency, session, list(frames))
        provider, version = session.provider, session.version
    finally:
        await one.aclose()
    many = await _runtime(models / "many", model, BatchConfig(), device)
    try:
        await _stream(many, model, "warm-up", frames[:WARMUP], size)
        streams = await asyncio.gather(
            *(_stream(many, model, f"{STATION}-{i}", frames, size) for i in range(STREAMS))
        )
    finally:
        await many.aclose()
    together = [ms for lat, _ in streams for ms in lat]
    return {
        "vision_model": f"{model}@{version}",
        "vision_provider": provider,
        "vision_p50_ms": statistics.median(latencies),
        "vision_p99_ms": percentile(latencies, 0.99),
        "frames_per_s": len(frames) / wall,
        f"frames_per_s_{STREAMS}_streams": len(together) / max(w for _, w in streams),
        f"vision_{STREAMS}_streams_p99_ms": percentile(together, 0.99),
        "vision_session_p50_ms": bare["p50_ms"],
        "vision_session_p99_ms": bare["p99_ms"],
        "vision_frames": len(frames),
    }
