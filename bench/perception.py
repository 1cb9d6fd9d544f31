"""Perception: frame -> detection latency and throughput on the perception runtime, detection
-> feeder halted over OPC-UA through control's rules, telemetry scoring rate, and the
accuracy figures (NEU-DET, SKAB) from the vision and telemetry evaluations.

Everything is the shipped path: the signed demo models from perception/artifacts in the
runtime `andon up` runs (CPU unless ONNX Runtime has CUDA), frames from the simulated
camera, and for the halt the whole app in this process (embedded simulator, real OPC-UA,
durable execution, SQLite).

- vision_p50_ms / vision_p99_ms: a frame in hand (128 px grey) to the runtime's answer at
  batch 1 (`max_batch` 1): resize and scale, queue, ONNX Runtime, reading the classes;
  vision_session_*: the bare ONNX Runtime session, for comparison;
- frames_per_s: one stream, one frame after the other; frames_per_s_<n>_streams: n streams
  at once, micro-batched by the runtime as configured by default;
- neu_accuracy: the held-out split of ../shared/data/neu-det (fixed in perception.vision), by a
  model trained as `andon train vision --data ../shared/data/neu-det --voc` does it (torch,
  the `train` extra; kept in bench/out/neu-det-model and reused; --quick only reuses it);
  skab_f1: SKAB's own protocol over every run (perception.telemetry.evaluation);
- detect_to_halt_*: the model's answer for the part that makes the defect-burst rule fire ->
  the plant's acknowledgment of the feeder's pause, read back over OPC-UA (the driver's
  `opcua.command_done`); detect_to_plan_*: -> the rule's whole plan done (pause, quality
  hold, work order, audit). Each trial feeds defective frames until the rule fires, then
  resumes the feeder; observation times are an hour apart, past the rule's cooldown.
  frame_to_plan_cpu_p50_ms: the process's CPU time (all threads) for the triggering frame.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import structlog
from rich.console import Console

from andon.app import create_app
from andon.settings import Settings
from bench.stats import percentile
from bench.vision import STATION, STREAMS, measure_vision
from perception.inspection.pipeline import Capture, InspectionPipeline
from perception.registry.keys import (
    DEMO_PUBLIC_KEY,
    DEMO_SIGNING_KEY,
    load_signing_key,
    trusted_keys,
)
from perception.telemetry.bench import measure_scoring
from perception.telemetry.evaluation import SKAB_DIR, evaluate_skab
from perception.vision.evaluation import NEU_DIR, evaluate_neu
from simulator.camera import InspectionCamera
from simulator.server import endpoint_url, free_tcp_port

MODEL = Settings.model_fields["inspection_model"].default
RULE = "vision-2-defect-burst"
HALT = "pause feeder-2"  # the driver's name for the command the rule's plan starts with
NEU_MODEL = Path(__file__).resolve().parent / "out" / "neu-det-model"
MAX_PARTS = 20  # defective frames per trial before giving up on the rule firing


def run(quick: bool, console: Console) -> dict[str, float | int | str]:
    frames = [f.image for f in islice(InspectionCamera(seed=7, defect_rate=0.5), 300)]
    if quick:
        frames = frames[:100]
    trials = 20 if quick else 200
    results: dict[str, float | int | str] = {}
    acked: list[float] = []
    with tempfile.TemporaryDirectory(prefix="andon-bench-") as tmp, _quiet_logs(acked):
        root = Path(tmp)
        console.print(f"vision: {len(frames)} frames, 1 and {STREAMS} streams")
        results |= asyncio.run(measure_vision(root / "models", frames, MODEL))
        console.print(f"detection -> halt: {trials} firings of {RULE}")
        results |= asyncio.run(_halts(root / "app", trials, acked))
    console.print("telemetry scoring")
    results |= measure_scoring(seconds=1.0 if quick else 4.0)
    results |= _accuracy(console, quick)
    return results


# -- vision ---------------------------------------------------------------------------------


# -- detection -> halt ----------------------------------------------------------------------


@contextmanager
def _quiet_logs(acked: list[float]) -> Iterator[None]:
    """Warnings and up only, and the moment the driver reports the feeder's pause done
    (acknowledged by the plant and read back) noted in `acked`."""

    def probe(_: Any, method: str, event: structlog.typing.EventDict) -> Any:
        if event.get("event") == "opcua.command_done" and event.get("command") == HALT:
            acked.append(time.perf_counter())
        # Every trial fires the rule on purpose: its warning is no news here.
        if method in ("debug", "info") or event.get("event") == "detection rule fired":
            raise structlog.DropEvent
        return event

    saved = structlog.get_config()
    structlog.configure(
        processors=[probe, structlog.processors.add_log_level, structlog.dev.ConsoleRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        structlog.configure(**saved)


async def _halts(root: Path, trials: int, acked: list[float]) -> dict[str, float | int | str]:
    settings = Settings(
        data_dir=root,
        opcua_url=endpoint_url("127.0.0.1", free_tcp_port()),
        corpora=(),
        inspection_live=False,  # the bench hands the pipeline its frames itself
        telemetry_live=False,
        log_level="WARNING",
    )
    defective = [f.image for f in islice(InspectionCamera(seed=9, defect_rate=1.0), 60)]
    app = create_app(settings, embedded_simulator=True)
    halt, plan, frame_to_halt, cpu = [], [], [], []
    async with app.router.lifespan_context(app):
        sim = app.state.simulator
        pipeline = InspectionPipeline(
            app.state.perception, MODEL, app.state.rules.observe, app.state.evidence
        )
        for asset in ("press-3", "feeder-2"):
            sim.process.start(asset)
        await sim.publish()
        start = datetime.now(UTC)
        parts = 0
        for trial in range(trials):
            at = start + timedelta(hours=trial)
            for n in range(MAX_PARTS):
                capture = Capture(
                    STATION,
                    f"bench-{trial}-{n}",
                    defective[parts % len(defective)],
                    at + timedelta(seconds=n),
                )
                parts += 1
                mark = len(acked)
                began, cpu_began = time.perf_counter(), time.process_time()
                inspection = await pipeline.inspect(capture)
                done, cpu_done = time.perf_counter(), time.process_time()
                fired = [r for r in inspection.requests if r.requester.user == f"rule:{RULE}"]
                if fired:
                    break
            else:
                raise RuntimeError(f"{RULE} never fired: the model flags too few defects")
            if fired[0].status != "executed" or len(acked) <= mark:
                raise RuntimeError(f"trial {trial}: {fired[0].status}: {fired[0].message}")
            halt.append((acked[mark] - inspection.answered) * 1000)
            plan.append((done - inspection.answered) * 1000)
            frame_to_halt.append((acked[mark] - began) * 1000)
            cpu.append((cpu_done - cpu_began) * 1000)
            sim.process.resume("feeder-2")
            await sim.publish()
    return {
        "detect_to_halt_p50_ms": statistics.median(halt),
        "detect_to_halt_p99_ms": percentile(halt, 0.99),
        "frame_to_halt_p99_ms": percentile(frame_to_halt, 0.99),
        "detect_to_plan_p50_ms": statistics.median(plan),
        "detect_to_plan_p99_ms": percentile(plan, 0.99),
        # CPU this process (plant, control, model) spent on the triggering frame, threads
        # included: what the path costs where nothing else competes for the cores.
        "frame_to_plan_cpu_p50_ms": statistics.median(cpu),
        "halt_trials": trials,
        "halt_frames": parts,
    }


# -- accuracy -------------------------------------------------------------------------------


def _accuracy(console: Console, quick: bool) -> dict[str, float | int | str]:
    out: dict[str, float | int | str] = {}
    if SKAB_DIR.is_dir():
        console.print("SKAB (SKAB's protocol, every run)")
        skab = evaluate_skab(SKAB_DIR)
        out |= {
            "skab_f1": skab["f1"],
            "skab_far_percent": skab["far_percent"],
            "skab_mar_percent": skab["mar_percent"],
            "skab_false_alarms_per_hour": skab["false_alarms_per_hour"],
        }
    else:
        console.print(f"[yellow]{SKAB_DIR} not found: skab_f1 skipped[/yellow]")
    if not NEU_DIR.is_dir():
        console.print(f"[yellow]{NEU_DIR} not found: neu_accuracy skipped[/yellow]")
        return out
    if not (NEU_MODEL / "signature.json").is_file():
        if quick:
            console.print(
                f"[yellow]no NEU-DET model in {NEU_MODEL} (a run without --quick trains it): "
                "neu_accuracy skipped[/yellow]"
            )
            return out
        try:
            _train_neu(console)
        except ImportError as exc:
            console.print(f"[yellow]training needs torch (andon[train]): {exc}[/yellow]")
            return out
    console.print(f"NEU-DET held-out split: {NEU_MODEL}")
    neu = evaluate_neu(NEU_DIR, NEU_MODEL, trusted_keys([DEMO_PUBLIC_KEY]))
    out |= {"neu_accuracy": neu["accuracy"], "neu_samples": neu["samples"]}
    for label, scores in neu["per_class"].items():
        out[f"neu_{label}_precision"] = scores["precision"]
        out[f"neu_{label}_recall"] = scores["recall"]
    if "validation_accuracy" in neu:  # NEU-DET's 30 extra validation images
        out["neu_validation_accuracy"] = neu["validation_accuracy"]
    return out


def _train_neu(console: Console) -> None:
    """The CLI's training on NEU-DET, defaults and all, signed with the demo key."""
    from perception.vision.dataset import load_dataset
    from perception.vision.train import train_vision

    console.print(f"training on {NEU_DIR} (once; minutes on two cores) -> {NEU_MODEL}")
    train_vision(
        load_dataset(NEU_DIR, voc=True),
        NEU_MODEL,
        load_signing_key(DEMO_SIGNING_KEY),
        source=str(NEU_DIR),
        version="bench",
        progress=lambda e: console.print(
            f"  epoch {e.epoch}/{e.epochs} loss {e.loss:.4f} {e.seconds:.0f} s"
        ),
    )
