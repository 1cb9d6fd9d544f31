"""From window scores to an alarm that raises and clears: the same rule offline (SKAB
evaluation) and live (the monitor), so the benchmark measures what the plant gets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass
class AlarmState:
    """Raised after `alarm_after` consecutive anomalous windows, cleared after `clear_after`
    consecutive normal ones."""

    alarm_after: int = 1
    clear_after: int = 1
    active: bool = False
    _streak: int = 0  # consecutive windows that disagree with `active`

    def update(self, anomalous: bool) -> bool:
        """Feed one window; True when the alarm changed (raised or cleared)."""
        if anomalous == self.active:
            self._streak = 0
            return False
        self._streak += 1
        if self._streak < (self.clear_after if self.active else self.alarm_after):
            return False
        self.active, self._streak = anomalous, 0
        return True

    def reset(self) -> None:
        self.active, self._streak = False, 0


def alarm_series(anomalous: Iterable[bool], alarm_after: int, clear_after: int) -> np.ndarray:
    """The alarm state after each window of a series."""
    state = AlarmState(alarm_after, clear_after)
    out = []
    for flag in anomalous:
        state.update(bool(flag))
        out.append(state.active)
    return np.array(out, dtype=bool)
