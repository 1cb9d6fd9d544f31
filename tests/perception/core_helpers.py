"""Small real ONNX models and signed artifacts for the perception core tests.

The graphs are built with onnx.helper so each test knows exactly what the model answers:
- `vision_model(sign)`: 8x8 grey frames, classes ("ok", "defect"); "defect" when
  sign * (pixel sum) > 0, with confidence growing with |sum|. A model with the other sign
  disagrees on every frame (the shadow tests).
- `nan_when_negative=True`: the output turns NaN when any pixel is negative (the
  degradation tests).
- `telemetry_model()`: 4 features, anomaly score = sum of squares.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from onnx import TensorProto, helper, numpy_helper

from perception.models import ModelMetadata, TensorSpec, TrainingData
from perception.registry.artifact import write_artifact
from perception.runtime.drift import input_statistics, reference_histograms

FRAME = (1, 8, 8)
CLASSES = ("ok", "defect")
OPSET = [helper.make_opsetid("", 17)]


def _model(graph: onnx.GraphProto) -> bytes:
    model = helper.make_model(graph, opset_imports=OPSET)
    model.ir_version = 8  # what ONNX Runtime 1.x reads for opset 17
    onnx.checker.check_model(model)
    return model.SerializeToString()


def vision_model(sign: float = 1.0, scale: float = 0.5, nan_when_negative: bool = False) -> bytes:
    weights = np.zeros((64, 2), dtype=np.float32)
    weights[:, 1] = sign * scale  # logit(defect) - logit(ok) = sign * scale * sum(pixels)
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["soft"], axis=1),
    ]
    inits = [numpy_helper.from_array(weights, "w")]
    if nan_when_negative:  # + 0 * sqrt(min(x)): NaN exactly when some pixel is negative
        nodes += [
            helper.make_node("ReduceMin", ["flat"], ["lowest"], keepdims=1),
            helper.make_node("Sqrt", ["lowest"], ["root"]),
            helper.make_node("Mul", ["root", "zero"], ["nan_or_zero"]),
            helper.make_node("Add", ["soft", "nan_or_zero"], ["probs"]),
        ]
        inits.append(numpy_helper.from_array(np.zeros((1, 1), np.float32), "zero"))
    else:
        nodes.append(helper.make_node("Identity", ["soft"], ["probs"]))
    graph = helper.make_graph(
        nodes,
        "vision-test",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, *FRAME])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [None, 2])],
        initializer=inits,
    )
    return _model(graph)


def telemetry_model() -> bytes:
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "x"], ["sq"]),
            helper.make_node("ReduceSum", ["sq", "axes"], ["score"], keepdims=0),
        ],
        "telemetry-test",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [None])],
        initializer=[numpy_helper.from_array(np.array([1], np.int64), "axes")],
    )
    return _model(graph)


def normal_frames(n: int, seed: int = 0) -> np.ndarray:
    """Frames like the training data: pixels around 0.5 (so "defect", confidently)."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.5, 0.1, size=(n, *FRAME)).astype(np.float32)


def vision_metadata(version: str, name: str = "vision-test", **changes: object) -> ModelMetadata:
    reference = reference_histograms(input_statistics("vision", normal_frames(2000, seed=99)))
    fields: dict[str, object] = {
        "name": name,
        "version": version,
        "kind": "vision",
        "inputs": (TensorSpec(name="image", shape=(-1, *FRAME)),),
        "outputs": (TensorSpec(name="probs", shape=(-1, 2)),),
        "classes": CLASSES,
        "thresholds": {"min_confidence": 0.6},
        "preprocessing": {"size": [8, 8], "mean": 0.0, "std": 1.0},
        "training_data": TrainingData(
            source="synthetic test frames", samples=2000, split="none", file_list_sha256="0" * 64
        ),
        "metrics": {"accuracy": 1.0},
        "reference_stats": reference,
        "created_at": datetime(2026, 11, 26, tzinfo=UTC),
        "trainer": "tests",
    }
    fields.update(changes)
    return ModelMetadata.model_validate(fields)


def telemetry_metadata(version: str, name: str = "telemetry-test") -> ModelMetadata:
    rng = np.random.default_rng(5)
    reference = reference_histograms(
        input_statistics("telemetry", rng.normal(0, 1, (2000, 4)), ("a", "b", "c", "d"))
    )
    return ModelMetadata(
        name=name,
        version=version,
        kind="telemetry",
        inputs=(TensorSpec(name="x", shape=(-1, 4)),),
        outputs=(TensorSpec(name="score", shape=(-1,)),),
        thresholds={"anomaly": 16.0},
        preprocessing={"features": ["a", "b", "c", "d"]},
        training_data=TrainingData(
            source="synthetic", samples=2000, split="none", file_list_sha256="1" * 64
        ),
        reference_stats=reference,
        created_at=datetime(2026, 11, 26, tzinfo=UTC),
        trainer="tests",
    )


def signed_vision(
    directory: Path,
    key: Ed25519PrivateKey,
    version: str = "1",
    *,
    sign: float = 1.0,
    nan_when_negative: bool = False,
) -> Path:
    onnx_model = vision_model(sign=sign, nan_when_negative=nan_when_negative)
    return write_artifact(directory, onnx_model, vision_metadata(version), key)
