"""An ONNX Runtime session for one verified artifact: input checks, batch runs, and reading
the raw outputs as labels, confidences or anomaly scores (see perception.models for the
output conventions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import onnxruntime as ort

from perception.models import ModelMetadata
from perception.registry.artifact import Artifact
from perception.runtime.providers import CPU, CUDA, Device, choose_providers

_ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(uint8)": "uint8",
}
DEFAULT_MIN_CONFIDENCE = 0.5


class ModelLoadError(Exception):
    """ONNX Runtime cannot load the model, or the graph does not match its metadata."""


class InputError(ValueError):
    """An input does not fit the model (shape or type): the caller's mistake."""


@dataclass(frozen=True, slots=True)
class Reading:
    """The model's answer for one sample. `problem` says why it must not be acted on;
    `valid` is False when the output itself is broken (NaN, not probabilities)."""

    label: str | None = None
    confidence: float | None = None
    score: float | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    problem: str | None = None
    valid: bool = True


class ModelSession:
    def __init__(self, artifact: Artifact, session: ort.InferenceSession) -> None:
        self.artifact = artifact
        self.metadata: ModelMetadata = artifact.metadata
        self._session = session
        spec = self.metadata.inputs[0]
        self._input_name = spec.name
        self._output_name = self.metadata.outputs[0].name
        self.sample_shape: tuple[int, ...] = spec.shape[1:]
        self.dtype = np.dtype(spec.dtype)
        self.providers: list[str] = session.get_providers()

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def version(self) -> str:
        return self.metadata.version

    @property
    def provider(self) -> str:
        """The provider nodes run on first: CUDA only if ONNX Runtime really enabled it."""
        return self.providers[0] if self.providers else CPU

    def sample(self, value: np.ndarray) -> np.ndarray:
        """One input sample (no batch axis) checked against the model's input and cast."""
        array = np.asarray(value)
        if array.shape != self.sample_shape:
            raise InputError(
                f"model {self.name} takes samples of shape {self.sample_shape}, got {array.shape}"
            )
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise InputError(f"model {self.name} takes numbers, got dtype {array.dtype}")
        return array.astype(self.dtype, copy=False)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The first output for a batch (first axis = samples). Thread-safe in ORT."""
        (output,) = self._session.run([self._output_name], {self._input_name: batch})
        return np.asarray(output)

    def read(self, output: np.ndarray) -> list[Reading]:
        """Interpret the first output of a batch, one Reading per sample."""
        if self.metadata.kind == "vision":
            return _read_probabilities(output, self.metadata)
        return _read_scores(output, self.metadata.thresholds["anomaly"])


def open_session(
    artifact: Artifact,
    device: Device = "auto",
    threads: int = 2,
    warm_batches: Sequence[int] = (1,),
) -> ModelSession:
    """A warmed-up session on the chosen providers (CUDA when available and allowed)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: ORT's warnings are not ours to show
    # Spinning worker threads burn a core between frames (measured ~7 ms CPU per frame),
    # CPU that control and the OPC-UA session need on a small edge box; no latency gained.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = choose_providers(ort.get_available_providers(), device)
    if CUDA in providers:
        _load_cuda_libraries()
    try:
        session = ort.InferenceSession(artifact.onnx_model, options, providers=providers)
    except Exception as exc:  # ORT raises its own exception types for every bad graph
        raise ModelLoadError(f"{artifact.name} {artifact.version}: ONNX Runtime: {exc}") from None
    if device == "cuda" and CUDA not in session.get_providers():
        # ORT falls back to the CPU when CUDA or cuDNN fail to load; asked for CUDA, say so.
        raise ModelLoadError(
            f"{artifact.name} {artifact.version}: ANDON_INFERENCE_DEVICE=cuda but ONNX Runtime "
            "could not enable CUDA (CUDA 13 or cuDNN 9 libraries not found: install "
            "onnxruntime-gpu[cuda,cudnn] or put them on LD_LIBRARY_PATH)"
        )
    _check_signature(session, artifact.metadata)
    model = ModelSession(artifact, session)
    for size in warm_batches:  # first runs allocate and pick kernels: not on a live frame
        try:
            output = model.run(np.zeros((size, *model.sample_shape), dtype=model.dtype))
        except Exception as exc:
            raise ModelLoadError(f"{artifact.name} {artifact.version}: warm-up: {exc}") from None
        _check_output_shape(output, size, artifact.metadata)
    return model


@cache
def _load_cuda_libraries() -> None:
    """onnxruntime-gpu finds CUDA and cuDNN from pip's nvidia-* packages only once they are
    preloaded (they are not on the loader's path); system-wide libraries need nothing. Once."""
    ort.preload_dlls()


def _check_signature(session: ort.InferenceSession, metadata: ModelMetadata) -> None:
    where = f"{metadata.name} {metadata.version}"
    inputs, outputs = session.get_inputs(), session.get_outputs()
    spec = metadata.inputs[0]
    if len(inputs) != 1 or inputs[0].name != spec.name:
        names = [i.name for i in inputs]
        raise ModelLoadError(f"{where}: graph inputs {names} != metadata input {spec.name!r}")
    if _ORT_DTYPES.get(inputs[0].type) != spec.dtype:
        raise ModelLoadError(f"{where}: graph input type {inputs[0].type} != {spec.dtype}")
    graph_shape = inputs[0].shape
    if len(graph_shape) != len(spec.shape) or any(
        isinstance(g, int) and g != m for g, m in zip(graph_shape[1:], spec.shape[1:], strict=True)
    ):
        raise ModelLoadError(f"{where}: graph input shape {graph_shape} != {spec.shape}")
    if metadata.outputs[0].name not in {o.name for o in outputs}:
        raise ModelLoadError(f"{where}: graph has no output {metadata.outputs[0].name!r}")


def _check_output_shape(output: np.ndarray, size: int, metadata: ModelMetadata) -> None:
    where = f"{metadata.name} {metadata.version}"
    width = len(metadata.classes) if metadata.kind == "vision" else 1
    if output.shape[:1] != (size,) or int(np.prod(output.shape[1:])) != width:
        raise ModelLoadError(
            f"{where}: output shape {output.shape} for a batch of {size}; expected "
            f"({size}, {width}) ({metadata.kind})"
        )


def _read_probabilities(output: np.ndarray, metadata: ModelMetadata) -> list[Reading]:
    classes = metadata.classes
    minimum = metadata.thresholds.get("min_confidence", DEFAULT_MIN_CONFIDENCE)
    rows = output.reshape(output.shape[0], -1).astype(np.float64)
    readings = []
    for row in rows:
        if not np.isfinite(row).all():
            readings.append(Reading(problem="model output is not finite (NaN/inf)", valid=False))
            continue
        if row.min() < -1e-6 or row.max() > 1 + 1e-6 or abs(row.sum() - 1) > 1e-3:
            readings.append(
                Reading(problem="model output is not a probability distribution", valid=False)
            )
            continue
        top = int(row.argmax())
        confidence = float(row[top])
        low = confidence < minimum
        readings.append(
            Reading(
                label=None if low else classes[top],
                confidence=confidence,
                probabilities={c: round(float(p), 6) for c, p in zip(classes, row, strict=True)},
                problem=f"low confidence {confidence:.2f} < {minimum:.2f}" if low else None,
            )
        )
    return readings


def _read_scores(output: np.ndarray, threshold: float) -> list[Reading]:
    readings = []
    for score in output.reshape(output.shape[0], -1)[:, 0].astype(np.float64):
        if not np.isfinite(score):
            readings.append(Reading(problem="anomaly score is not finite (NaN/inf)", valid=False))
            continue
        label = "anomaly" if score > threshold else "normal"
        readings.append(Reading(label=label, score=float(score)))
    return readings
