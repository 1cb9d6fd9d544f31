"""A fitted detector as an ONNX graph: window (batch, window, tags) float32 -> score (batch,).

Built node by node with the onnx helper API (a dozen standard operators, opset 17), then
run in ONNX Runtime on real windows and compared with the numpy reference before anything
is signed.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from perception.telemetry.detector import FittedDetector

INPUT_NAME = "window"
OUTPUT_NAME = "score"
OPSET = 17
# float32 graph vs float64 reference: relative difference allowed on the scores.
_TOLERANCE = 1e-3


class ExportError(Exception):
    """The graph does not load in ONNX Runtime or disagrees with the reference."""


def export_onnx(detector: FittedDetector, check_windows: np.ndarray) -> bytes:
    """The detector's graph, verified on `check_windows` (real inputs, not zeros)."""
    model = _graph(detector)
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString()
    _check(data, detector, check_windows)
    return data


def _graph(detector: FittedDetector) -> onnx.ModelProto:
    config = detector.config
    window, n_tags = config.window, len(config.tags)
    level = [config.tags.index(t) for t in config.level_tags]
    rate = [i for i, t in enumerate(config.tags) if t in config.rate_tags]
    constants = {
        "center": detector.center,
        "feature_mean": detector.mean,
        "feature_scale": detector.scale,
        "components": detector.components,
        "components_t": detector.components.T,
        "variances": detector.variances,
        "t2_limit": np.array(detector.t2_limit),
        "q_limit": np.array(detector.q_limit),
    }
    initializers = [
        numpy_helper.from_array(np.asarray(v, dtype=np.float32), name)
        for name, v in constants.items()
    ]
    # Only what the nodes below use: ONNX Runtime warns about unused initializers.
    ints: dict[str, list[int]] = {
        "recent_start": [window - config.smooth],
        "recent_end": [window],
        "time_axis": [1],
        "feature_axis": [1],
    }
    if level:
        ints["level_index"] = level
    if rate:
        ints |= {"rate_index": rate, "earlier_start": [0], "earlier_end": [config.smooth]}
    initializers += [
        numpy_helper.from_array(np.asarray(v, dtype=np.int64), name) for name, v in ints.items()
    ]
    node = helper.make_node
    nodes = [
        # Shift by the training mean first: float32 keeps its precision on the deviations.
        node("Sub", [INPUT_NAME, "center"], ["shifted"]),
        node("Slice", ["shifted", "recent_start", "recent_end", "time_axis"], ["recent"]),
        node("ReduceMean", ["recent"], ["recent_mean_k"], axes=[1], keepdims=1),
        node("Squeeze", ["recent_mean_k", "time_axis"], ["recent_mean"]),
    ]
    parts = []
    if level:
        nodes.append(node("Gather", ["recent_mean", "level_index"], ["level"], axis=1))
        parts.append("level")
    if rate:
        nodes += [
            node("Slice", ["shifted", "earlier_start", "earlier_end", "time_axis"], ["earlier"]),
            node("ReduceMean", ["earlier"], ["earlier_mean"], axes=[1], keepdims=0),
            node("Sub", ["recent_mean", "earlier_mean"], ["change"]),
            node("Gather", ["change", "rate_index"], ["rate"], axis=1),
        ]
        parts.append("rate")
    if config.spread and level:
        nodes += [
            node("Sub", ["recent", "recent_mean_k"], ["deviation"]),
            node("Mul", ["deviation", "deviation"], ["squared"]),
            node("ReduceMean", ["squared"], ["variance"], axes=[1], keepdims=0),
            node("Sqrt", ["variance"], ["std"]),
            node("Gather", ["std", "level_index"], ["spread"], axis=1),
        ]
        parts.append("spread")
    nodes += [
        node("Concat", parts, ["features"], axis=1),
        node("Sub", ["features", "feature_mean"], ["centered"]),
        node("Div", ["centered", "feature_scale"], ["z"]),
        node("MatMul", ["z", "components"], ["t"]),
        node("Mul", ["t", "t"], ["t_squared"]),
        node("Div", ["t_squared", "variances"], ["t_scaled"]),
        node("ReduceSum", ["t_scaled", "feature_axis"], ["t2"], keepdims=0),
        node("MatMul", ["t", "components_t"], ["reconstructed"]),
        node("Sub", ["z", "reconstructed"], ["residual"]),
        node("ReduceSumSquare", ["residual"], ["q"], axes=[1], keepdims=0),
        node("Div", ["t2", "t2_limit"], ["t2_ratio"]),
        node("Div", ["q", "q_limit"], ["q_ratio"]),
        node("Max", ["t2_ratio", "q_ratio"], [OUTPUT_NAME]),
    ]
    graph = helper.make_graph(
        nodes,
        "telemetry_pca_t2_q",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", window, n_tags])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch"])],
        initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="andon"
    )
    model.ir_version = 8  # what ONNX Runtime releases of the last years all read
    return model


def _check(data: bytes, detector: FittedDetector, windows: np.ndarray) -> None:
    try:
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: windows.astype(np.float32)})
    except Exception as exc:  # ORT has its own exception types for every bad graph
        raise ExportError(f"ONNX Runtime cannot run the graph: {exc}") from None
    want = detector.score(windows)
    # Relative to the threshold as well: tiny scores may differ more in relative terms.
    error = np.abs(got - want) / np.maximum(np.abs(want), detector.threshold)
    if got.shape != want.shape or not (error <= _TOLERANCE).all():
        worst = float(error.max()) if got.shape == want.shape else float("nan")
        raise ExportError(f"ONNX and the reference disagree (relative difference {worst:.2e})")
