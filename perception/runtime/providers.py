"""Which ONNX Runtime execution providers a session asks for, chosen once at start."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
Device = Literal["auto", "cpu", "cuda"]


class ProviderError(Exception):
    """The configured device cannot be had with this ONNX Runtime build."""


def choose_providers(available: Sequence[str], device: Device) -> list[str]:
    """Providers in preference order: CUDA (with CPU behind it for unsupported operators)
    when asked for or when `auto` finds it, else CPU alone."""
    if device == "cpu":
        return [CPU]
    if CUDA in available:
        return [CUDA, CPU]
    if device == "cuda":
        raise ProviderError(
            "ANDON_INFERENCE_DEVICE=cuda but this ONNX Runtime has no CUDAExecutionProvider "
            f"(available: {', '.join(available)}); install onnxruntime-gpu or use auto/cpu"
        )
    return [CPU]
