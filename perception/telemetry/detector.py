"""The detector: PCA on windowed features of normal operation, scored by Hotelling's T²
(how far along the normal directions of variation) and Q, the squared prediction error
(how far off them), each in units of its own training quantile.

Why this model: it needs only a few hundred normal samples (SKAB gives 400 per run), fits
in closed form (no training loop, no torch), exports to a handful of ONNX operators, and
says which statistic alarmed. Its inputs are causal windows, so the live path scores each
new sample as it arrives.

Features of a window (oldest sample first, `config.window` samples):
- level: mean of the last `smooth` samples (noise down by about sqrt(smooth));
- rate (rate tags only): that mean minus the mean `rate_lag` samples earlier;
- spread (level tags, optional): standard deviation of the last `smooth` samples.

This numpy code is the reference: it fits the model and calibrates the limits; the ONNX
graph (`export.py`) computes the same score and is checked against it before signing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from perception.telemetry.config import DetectorConfig

# A feature constant in the training data gets this scale (relative to its magnitude, with a
# floor): any later change of it is novel, but scores stay finite.
_MIN_SCALE_RELATIVE = 1e-3
_MIN_SCALE = 1e-6


class FitError(ValueError):
    """The training data cannot fit a detector (too short, not finite)."""


@dataclass(frozen=True)
class FittedDetector:
    config: DetectorConfig
    center: np.ndarray  # (tags,) training mean of each raw tag: windows are shifted by it first
    mean: np.ndarray  # (features,) of the training features
    scale: np.ndarray  # (features,) their standard deviations (floored)
    components: np.ndarray  # (features, k) principal directions kept
    variances: np.ndarray  # (k,) training variance along each
    t2_limit: float  # training quantile of T²
    q_limit: float  # training quantile of Q
    training_scores: np.ndarray  # score of every training window

    @property
    def threshold(self) -> float:
        return self.config.margin

    def features(self, windows: np.ndarray) -> np.ndarray:
        return window_features(windows - self.center, self.config)

    def statistics(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """T² and Q of each window, unnormalised."""
        z = (self.features(windows) - self.mean) / self.scale
        t = z @ self.components
        t2 = (t**2 / self.variances).sum(axis=1)
        residual = z - t @ self.components.T
        return t2, (residual**2).sum(axis=1)

    def score(self, windows: np.ndarray) -> np.ndarray:
        """Anomaly score of each window (N, window, tags): above `threshold` is an anomaly."""
        t2, q = self.statistics(windows)
        return np.maximum(t2 / self.t2_limit, q / self.q_limit)


def window_features(windows: np.ndarray, config: DetectorConfig) -> np.ndarray:
    """(N, window, tags) -> (N, features), in `config.feature_names()` order."""
    expected = (config.window, len(config.tags))
    if windows.ndim != 3 or windows.shape[1:] != expected:
        raise ValueError(f"windows must have shape (N, {expected[0]}, {expected[1]})")
    level = [config.tags.index(t) for t in config.level_tags]
    rate = [i for i, t in enumerate(config.tags) if t in config.rate_tags]
    recent = windows[:, -config.smooth :, :]
    mean = recent.mean(axis=1)
    parts = [mean[:, level]]
    if rate:
        earlier = windows[:, : config.smooth, :].mean(axis=1)
        parts.append((mean - earlier)[:, rate])
    if config.spread and level:
        parts.append(recent.std(axis=1)[:, level])
    return np.concatenate(parts, axis=1)


def sliding_windows(rows: np.ndarray, window: int) -> np.ndarray:
    """Every full window of `rows` (T, tags), oldest sample first: (T - window + 1, window,
    tags). A view: no copy."""
    if rows.shape[0] < window:
        raise ValueError(f"{rows.shape[0]} rows make no window of {window}")
    return np.lib.stride_tricks.sliding_window_view(rows, window, axis=0).transpose(0, 2, 1)


def fit(blocks: Sequence[np.ndarray], config: DetectorConfig) -> FittedDetector:
    """Fit on normal operation: blocks of rows (T, tags) sampled every
    `config.sample_period_s`, each a continuous recording (no window spans two)."""
    blocks = [np.asarray(b, dtype=np.float64) for b in blocks]
    for block in blocks:
        if block.ndim != 2 or block.shape[1] != len(config.tags):
            raise FitError(f"training rows must have {len(config.tags)} columns ({config.tags})")
        if not np.isfinite(block).all():
            raise FitError("training rows hold NaN or infinite values")
    usable = [b for b in blocks if b.shape[0] >= config.window]
    # Enough windows to estimate the covariance and a 99th percentile from.
    needed = max(4 * len(config.feature_names()), 100)
    found = sum(b.shape[0] - config.window + 1 for b in usable)
    if found < needed:
        raise FitError(
            f"the training rows make {found} windows of {config.window} samples; "
            f"this configuration needs at least {needed}"
        )
    center = np.concatenate(usable).mean(axis=0)
    windows = np.concatenate([sliding_windows(b, config.window) for b in usable])
    features = window_features(windows - center, config)
    mean = features.mean(axis=0)
    floor = np.maximum(_MIN_SCALE_RELATIVE * np.abs(mean), _MIN_SCALE)
    scale = np.maximum(features.std(axis=0), floor)
    z = (features - mean) / scale
    _, singular, directions = np.linalg.svd(z, full_matrices=False)
    variances = singular**2 / (z.shape[0] - 1)
    explained = np.cumsum(variances) / variances.sum()
    keep = int(np.searchsorted(explained, config.variance - 1e-12) + 1)
    components = directions[:keep].T
    kept = np.maximum(variances[:keep], _MIN_SCALE)
    unit = FittedDetector(config, center, mean, scale, components, kept, 1.0, 1.0, np.empty(0))
    t2, q = unit.statistics(windows)
    t2_limit = max(float(np.quantile(t2, config.quantile)), _MIN_SCALE)
    # All components kept: Q is zero by construction, and the floor keeps it from alarming.
    q_limit = max(float(np.quantile(q, config.quantile)), _MIN_SCALE)
    scores = np.maximum(t2 / t2_limit, q / q_limit)
    return FittedDetector(config, center, mean, scale, components, kept, t2_limit, q_limit, scores)
