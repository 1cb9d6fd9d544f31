"""The inference runtime on real ONNX Runtime sessions (CPU here; CUDA when the machine has
it): answers, micro-batching, shedding, shadow comparison, degradation and reloads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import REGISTRY

from control.events.bus import EventBus
from perception.models import Health, Outcome, TensorSpec
from perception.registry.artifact import MODEL_FILE, ArtifactError, write_artifact
from perception.registry.keys import key_id
from perception.registry.store import ModelRegistry
from perception.runtime.endpoint import BatchConfig
from perception.runtime.monitor import MonitorConfig
from perception.runtime.providers import CPU, CUDA, ProviderError, choose_providers
from perception.runtime.service import PerceptionService, RuntimeConfig
from perception.runtime.session import InputError, ModelLoadError, open_session

from .core_helpers import (
    FRAME,
    normal_frames,
    signed_vision,
    telemetry_metadata,
    telemetry_model,
    vision_metadata,
)

MODEL = "vision-test"


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def trust(key: Ed25519PrivateKey) -> dict[str, Any]:
    return {key_id(key.public_key()): key.public_key()}


@pytest.fixture
def registry(tmp_path: Path, trust: dict[str, Any]) -> ModelRegistry:
    return ModelRegistry(tmp_path / "models", trust)


@pytest.fixture
def events() -> EventBus:
    return EventBus()


@pytest.fixture
async def run(
    registry: ModelRegistry, events: EventBus
) -> AsyncIterator[Callable[..., Awaitable[PerceptionService]]]:
    """Start a service over `registry` (closed after the test)."""
    started: list[PerceptionService] = []

    async def start(
        batch: BatchConfig | None = None, monitor: MonitorConfig | None = None
    ) -> PerceptionService:
        config = RuntimeConfig(
            device="cpu",
            threads=1,
            batch=batch or BatchConfig(max_batch=8, budget_ms=2, queue=64),
            monitor=monitor or MonitorConfig(),
            refresh_s=3600,  # tests call refresh() themselves
        )
        service = PerceptionService(registry, config, events=events)
        await service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        await service.aclose()


def install(
    registry: ModelRegistry,
    tmp: Path,
    key: Ed25519PrivateKey,
    version: str,
    active: bool = False,
    **model: Any,
) -> None:
    registry.install(signed_vision(tmp / f"src-{version}", key, version, **model))
    if active:
        registry.promote(MODEL, version)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def frame(value: float) -> np.ndarray:
    return np.full(FRAME, value, dtype=np.float32)


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):  # 10 s
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in 10 s")


# --- providers and sessions ---------------------------------------------------------------


def test_provider_choice_from_the_provider_list() -> None:
    assert choose_providers([CUDA, CPU], "auto") == [CUDA, CPU]
    assert choose_providers(["TensorrtExecutionProvider", CUDA, CPU], "cuda") == [CUDA, CPU]
    assert choose_providers(["AzureExecutionProvider", CPU], "auto") == [CPU]
    assert choose_providers([CUDA, CPU], "cpu") == [CPU]
    with pytest.raises(ProviderError, match="no CUDAExecutionProvider"):
        choose_providers(["AzureExecutionProvider", CPU], "cuda")


def test_session_reports_the_provider_it_really_runs_on(
    tmp_path: Path, key: Ed25519PrivateKey, registry: ModelRegistry
) -> None:
    install(registry, tmp_path, key, "1")
    session = open_session(registry.load(MODEL, "1"), "auto", threads=1, warm_batches=(1, 4))
    expected = CUDA if CUDA in ort.get_available_providers() else CPU
    assert session.provider == expected
    probabilities = session.run(normal_frames(3))
    assert probabilities.shape == (3, 2)
    assert [r.label for r in session.read(probabilities)] == ["defect"] * 3


@pytest.mark.skipif(CUDA in ort.get_available_providers(), reason="the fake needs a CPU-only ORT")
def test_cuda_that_fails_to_load_is_refused_when_asked_for_and_reported_as_cpu_on_auto(
    tmp_path: Path, key: Ed25519PrivateKey, registry: ModelRegistry, monkeypatch: Any
) -> None:
    # A fake, for a failure this machine cannot produce: onnxruntime-gpu whose CUDA or cuDNN
    # libraries are missing lists CUDA as available, then quietly runs the session on the CPU.
    # A CPU build handed CUDA in its provider list behaves the same way.
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    install(registry, tmp_path, key, "1")
    with pytest.raises(ModelLoadError, match="could not enable CUDA"):
        open_session(registry.load(MODEL, "1"), "cuda", threads=1)
    assert open_session(registry.load(MODEL, "1"), "auto", threads=1).provider == CPU


def test_graphs_that_do_not_match_their_metadata_are_refused(
    tmp_path: Path, key: Ed25519PrivateKey, registry: ModelRegistry
) -> None:
    from .core_helpers import vision_model

    cases = {
        "1": (
            vision_model(),
            vision_metadata("1", inputs=(TensorSpec(name="pixels", shape=(-1, *FRAME)),)),
        ),
        "2": (vision_model(), vision_metadata("2", classes=("ok", "crack", "dent"))),
        "3": (b"not an onnx model", vision_metadata("3")),
        "4": (
            vision_model(),
            vision_metadata("4", inputs=(TensorSpec(name="image", shape=(-1, 1, 4, 4)),)),
        ),
    }
    expected = {"1": "graph inputs", "2": "output shape", "3": "ONNX Runtime", "4": "input shape"}
    for version, (onnx_model, metadata) in cases.items():
        registry.install(write_artifact(tmp_path / version, onnx_model, metadata, key))
        with pytest.raises(ModelLoadError, match=expected[version]):
            open_session(registry.load(MODEL, version), "cpu", threads=1)


# --- answers ------------------------------------------------------------------------------


async def test_answers_low_confidence_bad_input_and_unknown_models(
    tmp_path: Path, key: Ed25519PrivateKey, registry: ModelRegistry, run: Any
) -> None:
    install(registry, tmp_path, key, "1", active=True)
    service = await run()

    defect = await service.infer(MODEL, "cam-1", frame(0.5))
    assert (defect.outcome, defect.label, defect.version) == (Outcome.ok, "defect", "1")
    assert defect.confidence is not None and defect.confidence > 0.99
    ok = await service.infer(MODEL, "cam-1", frame(-0.5))
    assert (ok.outcome, ok.label) == (Outcome.ok, "ok")

    unsure = await service.infer(MODEL, "cam-1", frame(0.005))  # p(defect) = sigmoid(0.16)
    assert unsure.outcome is Outcome.fallback and unsure.label is None
    assert "low confidence" in (unsure.fallback_reason or "")

    nan = frame(0.5)
    nan[0, 0, 0] = np.nan
    answer = await service.infer(MODEL, "cam-1", nan)
    assert answer.outcome is Outcome.fallback and "not finite" in (answer.fallback_reason or "")

    with pytest.raises(InputError, match=r"shape \(1, 8, 8\)"):
        await service.infer(MODEL, "cam-1", np.zeros((3, 8, 8), np.float32))
    missing = await service.infer("no-such-model", "cam-1", frame(0.5))
    assert missing.outcome is Outcome.fallback and "no model" in (missing.fallback_reason or "")


async def test_telemetry_scores_against_the_anomaly_threshold(
    tmp_path: Path, key: Ed25519PrivateKey, registry: ModelRegistry, run: Any
) -> None:
    registry.install(
        write_artifact(tmp_path / "t", telemetry_model(), telemetry_metadata("1"), key)
    )
    registry.promote("telemetry-test", "1")
    service = await run()
    high = await service.infer("telemetry-test", "press-3", np.array([5, 0, 0, 0], np.float32))
    low = await service.infer("telemetry-test", "press-3", np.array([1, 1, 1, 1], np.float32))
    assert (high.outcome, high.label, high.score) == (Outcome.ok, "anomaly", 25.0)
    assert (low.outcome, low.label, low.score) == (Outcome.ok, "normal", 4.0)


# --- batching and load shedding -----------------------------------------------------------


async def test_frames_from_several_streams_are_batched_and_answered_in_place(
    tmp_path: Path, key: Ed25519PrivateKey, registry: ModelRegistry, run: Any
) -> None:
    install(registry, tmp_path, key, "1", active=True)
    service = await run(batch=BatchConfig(max_batch=8, budget_ms=50, queue=64))
    runs_before = metric("andon_inference_batch_size_count", model=MODEL)

    requests = [(f"cam-{i % 3}", 0.5 if i % 2 else -0.5) for i in range(24)]
    answers = await asyncio.gather(*(service.infer(MODEL, s, frame(v)) for s, v in requests))

    for (stream, value), answer in zip(requests, answers, strict=True):
        assert answer.stream == stream
        assert answer.label == ("defect" if value > 0 else "ok")
    runs = metric("andon_inference_batch_size_count", model=MODEL) - runs_before
    assert runs <= 4  # 24 frames in batches of up to 8, not 24 runs


async def test_a_full_queue_sheds_visibly_and_never_raises(
    tmp_path: Path, key: Ed25519PrivateKey, registry: ModelRegistry, run: Any
) -> None:
    install(registry, tmp_path, key, "1", active=True)
    service = await run(batch=BatchConfig(max_batch=1, budget_ms=0, queue=4))
    shed_before = {s: metric("andon_inference_shed_total", model=MODEL, stream=s) for s in "ab"}

    # All 40 are submitted before the worker takes the first: 4 fit the queue.
    answers = await asyncio.gather(
        *(service.infer(MODEL, "ab"[i % 2], frame(0.5)) for i in range(40))
    )

    shed = [a for a in answers if a.fallback_reason == "shed: the model's queue is full"]
    assert len(answers) == 40 and len(shed) == 36
    assert all(a.outcome is Outcome.ok for a in answers if a not in shed)
    counted = sum(
        metric("andon_inference_shed_total", model=MODEL, stream=s) - shed_before[s] for s in "ab"
    )
    assert counted == 36


# --- shadow -------------------------------------------------------------------------------


async def test_shadow_runs_on_the_same_inputs_and_its_disagreement_is_counted(
    tmp_path: Path, key: Ed25519PrivateKey, registry: ModelRegistry, run: Any
) -> None:
    install(registry, tmp_path, key, "1", active=True)
    install(registry, tmp_path, key, "2", sign=-1.0)  # says the opposite on every frame
    registry.set_shadow(MODEL, "2")
    service = await run()
    disagreements_before = metric("andon_shadow_disagreements_total", model=MODEL)

    for _ in range(10):  # one at a time: the shadow never skips a batch
        answer = await service.infer(MODEL, "cam-1", frame(0.5))
        assert (answer.label, answer.version) == ("defect", "1")  # the active's, never the shadow's
        await until(lambda: not service._endpoints[MODEL]._shadow_busy)

    summary = service.model_status(MODEL).shadow
    assert summary is not None and summary.version == "2"
    assert (summary.comparisons, summary.disagreements, summary.disagreement_rate) == (10, 10, 1.0)
    assert metric("andon_shadow_disagreements_total", model=MODEL) - disagreements_before == 10
    assert metric("andon_shadow_disagreement_rate", model=MODEL) == 1.0


async def test_an_agreeing_shadow_and_one_that_cannot_load(
    tmp_path: Path, key: Ed25519PrivateKey, registry: ModelRegistry, run: Any
) -> None:
    install(registry, tmp_path, key, "1", active=True)
    install(registry, tmp_path, key, "2")
    install(registry, tmp_path, key, "3")
    bad = registry.path(MODEL, "3") / MODEL_FILE
    bad.write_bytes(bad.read_bytes()[:-1])
    registry.set_shadow(MODEL, "2")
    service = await run()
    await asyncio.gather(*(service.infer(MODEL, "cam-1", frame(0.5)) for _ in range(5)))
    await until(lambda: (service.model_status(MODEL).shadow or object()).comparisons >= 1)  # type: ignore[attr-defined]
    assert service.model_status(MODEL).shadow.disagreements == 0  # type: ignore[union-attr]

    registry.set_shadow(MODEL, "3")  # made by another process: picked up on refresh
    await service.refresh()
    status = service.model_status(MODEL)
    assert status.shadow is None and status.health is Health.ok  # the active is unaffected
    assert (await service.infer(MODEL, "cam-1", frame(0.5))).outcome is Outcome.ok


# --- degradation --------------------------------------------------------------------------


async def test_broken_outputs_degrade_to_fallbacks_with_an_alarm_then_recover(
    tmp_path: Path,
    key: Ed25519PrivateKey,
    registry: ModelRegistry,
    events: EventBus,
    run: Any,
) -> None:
    install(registry, tmp_path, key, "1", active=True, nan_when_negative=True)
    service = await run(monitor=MonitorConfig(window=16, min_samples=8, drift_min_samples=10**6))
    frames = iter(normal_frames(40))  # like training: no drift to muddle the reasons
    async with events.subscribe() as alarms:
        assert (await service.infer(MODEL, "cam-1", next(frames))).outcome is Outcome.ok
        poisoned = next(frames).copy()
        poisoned[0, 3, 3] = -1.0  # the model answers NaN

        broken = await service.infer(MODEL, "cam-1", poisoned)
        after = await service.infer(MODEL, "cam-1", next(frames))

        assert broken.outcome is Outcome.fallback and "not finite" in (broken.fallback_reason or "")
        assert after.outcome is Outcome.fallback and after.label is None
        assert "model degraded" in (after.fallback_reason or "")
        assert metric("andon_model_degraded", model=MODEL) == 1
        alarm = alarms.get_nowait()
        assert alarm["kind"] == "alarm" and alarm["state"] == "raised"
        assert alarm["model"] == MODEL and "outputs were broken" in alarm["reasons"][0]

        for _ in range(15):  # the broken output leaves the window of 16
            await service.infer(MODEL, "cam-1", next(frames))
        assert (await service.infer(MODEL, "cam-1", next(frames))).outcome is Outcome.ok
        assert alarms.get_nowait()["state"] == "cleared"
        assert metric("andon_model_degraded", model=MODEL) == 0


async def test_input_drift_degrades_until_inputs_look_like_training_again(
    tmp_path: Path, key: Ed25519PrivateKey, registry: ModelRegistry, run: Any
) -> None:
    install(registry, tmp_path, key, "1", active=True)
    service = await run(monitor=MonitorConfig(drift_window=250, drift_min_samples=200))

    async def feed(frames: np.ndarray) -> list[Any]:
        answers = []
        for chunk in np.array_split(frames, len(frames) // 25):
            answers += await asyncio.gather(*(service.infer(MODEL, "cam-1", f) for f in chunk))
        return answers

    frames = normal_frames(250, seed=1)
    assert all(a.outcome is Outcome.ok for a in await feed(frames))
    assert service.model_status(MODEL).drift_psi["pixel_mean"] < 0.25

    brighter = frames + 0.05  # lighting drift: still confidently "defect", but unlike training
    answers = await feed(brighter)
    assert answers[-1].outcome is Outcome.fallback
    assert "input drift: PSI of pixel_mean" in (answers[-1].fallback_reason or "")
    assert metric("andon_inference_drift_psi", model=MODEL, feature="pixel_mean") > 0.25

    answers = await feed(normal_frames(250, seed=2))
    assert answers[-1].outcome is Outcome.ok
    assert service.model_status(MODEL).health is Health.ok


async def test_confidence_collapse_degrades(
    tmp_path: Path, key: Ed25519PrivateKey, registry: ModelRegistry, run: Any
) -> None:
    install(registry, tmp_path, key, "1", active=True)
    service = await run(monitor=MonitorConfig(window=32, min_samples=16, drift_min_samples=10**6))
    rng = np.random.default_rng(3)
    for _ in range(20):  # pixel sums near zero: p(defect) near 0.5
        await service.infer(MODEL, "cam-1", rng.normal(0, 0.001, FRAME).astype(np.float32))
    reasons = service.model_status(MODEL).health_reasons
    assert any(r.startswith("confidence collapse") for r in reasons), reasons


async def test_an_active_version_that_fails_to_load_answers_fallbacks_and_alarms(
    tmp_path: Path,
    key: Ed25519PrivateKey,
    registry: ModelRegistry,
    events: EventBus,
    run: Any,
) -> None:
    install(registry, tmp_path, key, "1", active=True)
    model_file = registry.path(MODEL, "1") / MODEL_FILE
    model_file.write_bytes(model_file.read_bytes() + b"\0")  # tampered on disk
    async with events.subscribe() as alarms:
        service = await run()
        alarm = alarms.get_nowait()
    status = service.model_status(MODEL)
    assert status.health is Health.unloaded and "modified after signing" in status.health_reasons[0]
    assert alarm["state"] == "raised" and alarm["health"] == "unloaded"
    answer = await service.infer(MODEL, "cam-1", frame(0.5))
    assert answer.outcome is Outcome.fallback and answer.version is None


# --- promotion ----------------------------------------------------------------------------


async def test_a_refused_promotion_changes_nothing(
    tmp_path: Path, key: Ed25519PrivateKey, registry: ModelRegistry, run: Any
) -> None:
    from perception.runtime.service import Actor

    install(registry, tmp_path, key, "1", active=True)
    install(registry, tmp_path, key, "2")
    metadata = registry.path(MODEL, "2") / "metadata.json"
    metadata.write_text(metadata.read_text().replace('"accuracy": 1.0', '"accuracy": 0.5'))
    service = await run()
    with pytest.raises(ArtifactError, match=r"metadata\.json was modified"):
        await service.promote(MODEL, "2", Actor("dave", "engineer"), "better model")
    assert registry.pointers(MODEL).active == "1"
    assert (await service.infer(MODEL, "cam-1", frame(0.5))).version == "1"


async def test_pointer_changes_from_another_process_are_followed(
    tmp_path: Path,
    key: Ed25519PrivateKey,
    registry: ModelRegistry,
    trust: dict[str, Any],
    run: Any,
) -> None:
    install(registry, tmp_path, key, "1", active=True)
    install(registry, tmp_path, key, "2", sign=-1.0)
    service = await run()
    assert (await service.infer(MODEL, "cam-1", frame(0.5))).label == "defect"

    ModelRegistry(registry.root, trust).promote(MODEL, "2")  # as `andon models promote` does
    await service.refresh()

    answer = await service.infer(MODEL, "cam-1", frame(0.5))
    assert (answer.version, answer.label) == ("2", "ok")
    assert service.model_status(MODEL).previous == ("1",)


async def test_shipped_artifacts_activate_only_a_model_never_configured(
    tmp_path: Path, key: Ed25519PrivateKey, registry: ModelRegistry, trust: dict[str, Any]
) -> None:
    from perception.runtime.service import Actor, shipped_artifacts

    shipped = tmp_path / "artifacts"
    signed_vision(shipped / "vision-demo", key, "1")
    signed_vision(shipped / "unsigned-demo", key, "2")
    (shipped / "unsigned-demo" / "signature.json").unlink()
    assert shipped_artifacts(shipped) == [shipped / "vision-demo"]

    service = PerceptionService(registry, RuntimeConfig(device="cpu", refresh_s=3600))
    await service.start(shipped_artifacts(shipped))
    try:
        assert registry.pointers(MODEL).active == "1"
        install(registry, tmp_path, key, "2")
        await service.promote(MODEL, "2", Actor("dave", "engineer"), "newer")
    finally:
        await service.aclose()

    # A restart installs nothing new and leaves the site's choice alone.
    again = PerceptionService(ModelRegistry(registry.root, trust), RuntimeConfig(device="cpu"))
    await again.start(shipped_artifacts(shipped))
    try:
        assert again.model_status(MODEL).active == "2"
        assert (await again.infer(MODEL, "cam-1", frame(0.5))).version == "2"
    finally:
        await again.aclose()
