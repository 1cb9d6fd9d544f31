"""Trained network -> ONNX bytes (torch's exporter), checked in ONNX Runtime against torch
before anything is signed."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

import numpy as np
import onnxruntime as ort
import torch

from andon.logging import logger_level
from perception.vision.network import DefectNet, WithProbabilities
from perception.vision.preprocess import INPUT_NAME, OUTPUT_NAME

# Largest difference allowed between torch's and ONNX Runtime's probabilities.
_TOLERANCE = 1e-4


class ExportError(Exception):
    """The exported graph does not load in ONNX Runtime or disagrees with torch."""


def export_onnx(net: DefectNet, size: int, check_batch: torch.Tensor) -> bytes:
    """ONNX with a dynamic batch axis; verified on `check_batch` (real inputs, not zeros)."""
    model = WithProbabilities(net).eval()
    batch = torch.export.Dim("batch", min=1, max=4096)
    example = torch.zeros(2, 1, size, size)
    # The exporter prints its progress and warns about torchvision ops it skips: not ours.
    with (
        contextlib.redirect_stdout(io.StringIO()),
        logger_level("torch.onnx", logging.ERROR),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", FutureWarning)
        program = torch.onnx.export(
            model,
            (example,),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: batch},),
            dynamo=True,
            verbose=False,
        )
    if program is None:
        raise ExportError("torch.onnx.export returned no program")
    onnx_bytes: bytes = program.model_proto.SerializeToString()
    _check(onnx_bytes, model, check_batch)
    return onnx_bytes


def _check(onnx_bytes: bytes, model: WithProbabilities, batch: torch.Tensor) -> None:
    try:
        session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
        got = session.run([OUTPUT_NAME], {INPUT_NAME: batch.numpy()})[0]
    except Exception as exc:  # ORT has its own exception types for every bad graph
        raise ExportError(f"ONNX Runtime cannot run the exported graph: {exc}") from None
    with torch.no_grad():
        want = model(batch).numpy()
    if got.shape != want.shape or not np.allclose(got, want, atol=_TOLERANCE):
        worst = float(np.abs(got - want).max()) if got.shape == want.shape else float("nan")
        raise ExportError(f"ONNX and torch disagree (max difference {worst:.2e})")
