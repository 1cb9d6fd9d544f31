"""Is the active model's output still trustworthy? Sliding windows over its recent inputs
and outputs: input drift (PSI against the artifact's reference), broken outputs (NaN/inf,
not probabilities, a failed run) and, for vision, a collapse of confidence. While any of
them holds the model is degraded and its answers become fallbacks."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from perception.models import Health, ModelMetadata
from perception.runtime.drift import PSI_SHIFT, psi
from perception.runtime.session import DEFAULT_MIN_CONFIDENCE, Reading


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    window: int = 256  # recent outputs checked for broken answers and confidence
    min_samples: int = 64  # mean confidence over fewer is too noisy to judge
    drift_window: int = 500  # recent inputs PSI is computed over
    # PSI over 10 bins from fewer samples is mostly noise: from 200 samples of the training
    # distribution it stays under 0.17 (0.25 means drift); from 64 it reaches 0.9.
    drift_min_samples: int = 200
    recover_ratio: float = 0.8  # degraded by drift until PSI < psi_max * this (no flapping)


class ModelMonitor:
    def __init__(self, metadata: ModelMetadata, config: MonitorConfig | None = None) -> None:
        self._config = config or MonitorConfig()
        window = self._config.window
        self._reference = metadata.reference_stats
        self._psi_max = metadata.thresholds.get("psi_max", PSI_SHIFT)
        self._vision = metadata.kind == "vision"
        self._collapse = metadata.thresholds.get(
            "confidence_collapse", metadata.thresholds.get("min_confidence", DEFAULT_MIN_CONFIDENCE)
        )
        self._stats: dict[str, deque[float]] = {
            n: deque(maxlen=self._config.drift_window) for n in self._reference
        }
        self._invalid: deque[bool] = deque(maxlen=window)
        self._confidence: deque[float] = deque(maxlen=window)
        self._drifting: set[str] = set()
        self.psi: dict[str, float] = {}
        self.health = Health.ok
        self.reasons: tuple[str, ...] = ()

    @property
    def features(self) -> Sequence[str]:
        return tuple(self._reference)

    def observe(self, statistics: Mapping[str, np.ndarray], readings: Sequence[Reading]) -> bool:
        """Add a batch; returns True when the health changed."""
        for name, values in statistics.items():
            if name in self._stats:
                self._stats[name].extend(float(v) for v in values)
        self._invalid.extend(not r.valid for r in readings)
        self._confidence.extend(r.confidence for r in readings if r.confidence is not None)
        return self._judge()

    def observe_failure(self, samples: int) -> bool:
        """A run that raised: its samples count as broken outputs."""
        self._invalid.extend([True] * samples)
        return self._judge()

    def _judge(self) -> bool:
        reasons = []
        for name, values in self._stats.items():
            if len(values) < self._config.drift_min_samples:
                continue
            value = psi(self._reference[name], np.fromiter(values, np.float64))
            self.psi[name] = value
            limit = self._psi_max * (self._config.recover_ratio if name in self._drifting else 1)
            if value > limit:
                self._drifting.add(name)
                reasons.append(f"input drift: PSI of {name} {value:.2f} > {self._psi_max:.2f}")
            else:
                self._drifting.discard(name)
        broken = sum(self._invalid)
        if broken:
            reasons.append(f"{broken} of the last {len(self._invalid)} outputs were broken")
        if self._vision and len(self._confidence) >= self._config.min_samples:
            mean = sum(self._confidence) / len(self._confidence)
            if mean < self._collapse:
                reasons.append(f"confidence collapse: mean {mean:.2f} < {self._collapse:.2f}")
        health = Health.degraded if reasons else Health.ok
        changed = health != self.health
        self.health, self.reasons = health, tuple(reasons)
        return changed
