"""Raw image -> input tensor of a vision model: numpy and Pillow only (training and the
runtime share this, so a model sees at inference exactly what it saw in training).

The tensor is (batch, 1, size, size) float32 grayscale in [0, 1]; normalisation (mean/std)
is inside the ONNX graph, so the runtime needs no per-model constants beyond the size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"


class ImageError(Exception):
    """A file is not a readable image."""


def preprocessing_spec(size: int, mean: float, std: float) -> dict[str, Any]:
    """What goes into ModelMetadata.preprocessing."""
    return {
        "color": "grayscale",
        "size": size,
        "resize": "bilinear",
        "scale": "pixel / 255",
        "layout": "NCHW",
        "normalisation_in_graph": {"mean": mean, "std": std},
    }


def input_size(preprocessing: Mapping[str, Any]) -> int:
    size = preprocessing.get("size")
    if not isinstance(size, int) or size < 8:
        raise ValueError(f"preprocessing has no usable image size: {size!r}")
    return size


def to_input(images: Sequence[np.ndarray | Image.Image], size: int) -> np.ndarray:
    """A batch tensor from decoded images (uint8 grayscale/RGB arrays or PIL images)."""
    batch = np.empty((len(images), 1, size, size), dtype=np.float32)
    for i, image in enumerate(images):
        batch[i, 0] = _resize(image, size)
    return batch


def load_image(path: Path, size: int) -> np.ndarray:
    """(size, size) uint8 grayscale, resized like `to_input` does."""
    try:
        with Image.open(path) as image:
            return _resized_uint8(image, size)
    except (OSError, UnidentifiedImageError) as exc:
        raise ImageError(f"{path}: not a readable image ({exc})") from None


def load_images(paths: Sequence[Path], size: int) -> np.ndarray:
    """(n, size, size) uint8: the cache a training run augments from."""
    out = np.empty((len(paths), size, size), dtype=np.uint8)
    for i, path in enumerate(paths):
        out[i] = load_image(path, size)
    return out


def _resize(image: np.ndarray | Image.Image, size: int) -> np.ndarray:
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise ValueError(f"expected a uint8 (H, W) or (H, W, C) image, got {image.dtype}")
        image = Image.fromarray(image)
    return _resized_uint8(image, size).astype(np.float32) / 255.0


def _resized_uint8(image: Image.Image, size: int) -> np.ndarray:
    gray = image.convert("L")
    if gray.size != (size, size):
        gray = gray.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(gray, dtype=np.uint8)
