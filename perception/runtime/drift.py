"""Input statistics and their drift against the training reference (population stability
index). Trainers call `reference_histograms(input_statistics(...))` on their training
inputs and store the result as the artifact's `reference_stats`; the runtime computes the
same statistics on live inputs and compares.

Statistics per sample: vision: `pixel_mean` and `pixel_std` of the input tensor;
telemetry: the mean over the window of each column of the input's last axis, named by
`preprocessing["features"]` when it lists one name per column, else `x0`, `x1`, ...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from perception.models import FeatureHistogram, ModelKind

_EPS = 1e-4  # floor for empty bins: PSI is undefined at 0
PSI_SHIFT = 0.25  # the usual reading: above 0.25 the population has shifted


def input_statistics(
    kind: ModelKind, batch: np.ndarray, features: Sequence[str] = ()
) -> dict[str, np.ndarray]:
    """Per-sample statistics of a batch (first axis = samples)."""
    n = batch.shape[0]
    if kind == "vision":
        flat = batch.reshape(n, -1).astype(np.float64)
        return {"pixel_mean": flat.mean(axis=1), "pixel_std": flat.std(axis=1)}
    columns = batch.reshape(n, -1, batch.shape[-1]).astype(np.float64).mean(axis=1)
    names = list(features) if len(features) == columns.shape[1] else []
    names = names or [f"x{i}" for i in range(columns.shape[1])]
    return {name: columns[:, i] for i, name in enumerate(names)}


def reference_histograms(
    statistics: Mapping[str, np.ndarray], bins: int = 10
) -> dict[str, FeatureHistogram]:
    """Equal-frequency histograms of training statistics (the PSI baseline)."""
    histograms = {}
    for name, values in statistics.items():
        values = np.asarray(values, dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)))
        if edges.size < 2:  # a constant statistic: one bin around it
            edges = np.array([values[0] - 0.5, values[0] + 0.5])
        fractions = _fractions(edges, values)
        histograms[name] = FeatureHistogram(
            edges=tuple(float(e) for e in edges), fractions=tuple(float(f) for f in fractions)
        )
    return histograms


def psi(reference: FeatureHistogram, values: np.ndarray) -> float:
    """Population stability index of `values` against the reference histogram; values
    outside the reference range count in the outer bins."""
    actual = np.clip(_fractions(np.asarray(reference.edges), values), _EPS, None)
    expected = np.clip(np.asarray(reference.fractions), _EPS, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _fractions(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    bins = len(edges) - 1
    index = np.searchsorted(edges[1:-1], values, side="right")
    counts = np.bincount(index, minlength=bins).astype(np.float64)
    return counts / max(counts.sum(), 1.0)
