"""The shipped model file: a zip of numpy arrays and a JSON header, checked by sha256 at load.

Written with fixed timestamps and sorted members, so the same model gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.weights import WeightsError

from .features import NGRAM_MAX, NGRAM_MIN, NgramTfidf
from .labels import CLASS_MODES

FORMAT = "andon-failure-modes/1"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class ModelArtifact:
    """A multinomial logistic regression over ``features.features`` rows."""

    labels: tuple[str, ...]  # data-set class names, one per column of weights
    tfidf: NgramTfidf
    weights: np.ndarray  # (n-gram terms + embedding dimension, classes)
    bias: np.ndarray  # (classes,)
    embedder_id: str  # retrieval.embedding.MODEL_ID the weights were trained against
    train_sha256: str  # the training rows it was fitted on (train.txt, plant records)
    regularisation_c: float


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def to_bytes(model: ModelArtifact) -> bytes:
    header = {
        "format": FORMAT,
        "labels": list(model.labels),
        "ngram_range": [NGRAM_MIN, NGRAM_MAX],
        "terms": list(model.tfidf.terms),
        "embedder_id": model.embedder_id,
        "train_sha256": model.train_sha256,
        "regularisation_c": model.regularisation_c,
    }
    members = {
        "bias.npy": _npy(model.bias.astype(np.float32)),
        "header.json": json.dumps(header, sort_keys=True, ensure_ascii=False).encode(),
        "idf.npy": _npy(model.tfidf.idf.astype(np.float32)),
        "weights.npy": _npy(model.weights.astype(np.float32)),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, members[name])
    return buffer.getvalue()


def write(model: ModelArtifact, path: Path) -> str:
    """Writes the model to ``path`` and returns its sha256."""
    data = to_bytes(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def read(path: Path, sha256: str | None) -> ModelArtifact:
    """The model at ``path``; with ``sha256``, only if the file's bytes hash to it."""
    if not path.is_file():
        raise WeightsError(f"failure-mode model {path} is missing")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256:
        raise WeightsError(
            f"{path} has sha256 {digest}, expected {sha256}: refusing to load a failure-mode "
            "model that is not the vetted one (retrain with `andon train failure-modes`)"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            header = json.loads(archive.read("header.json"))
            arrays = {
                name: np.lib.format.read_array(io.BytesIO(archive.read(f"{name}.npy")))
                for name in ("bias", "idf", "weights")
            }
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise WeightsError(f"{path} is not a failure-mode model: {exc}") from exc
    if header.get("format") != FORMAT:
        raise WeightsError(f"{path} has format {header.get('format')!r}, expected {FORMAT!r}")
    if header["ngram_range"] != [NGRAM_MIN, NGRAM_MAX]:
        raise WeightsError(f"{path} was trained on n-grams {header['ngram_range']}")
    unknown = set(header["labels"]) - set(CLASS_MODES)
    if unknown:
        raise WeightsError(f"{path} predicts unknown classes {sorted(unknown)}")
    return ModelArtifact(
        labels=tuple(header["labels"]),
        tfidf=NgramTfidf(tuple(header["terms"]), arrays["idf"].astype(np.float64)),
        weights=arrays["weights"].astype(np.float64),
        bias=arrays["bias"].astype(np.float64),
        embedder_id=header["embedder_id"],
        train_sha256=header["train_sha256"],
        regularisation_c=float(header["regularisation_c"]),
    )
