"""The telemetry detector on synthetic plants whose normal behaviour is known: what it fits,
what it flags, what its ONNX graph computes, and how its alarm raises and clears."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from pydantic import ValidationError

from perception.telemetry.alarm import AlarmState, alarm_series
from perception.telemetry.config import DetectorConfig
from perception.telemetry.detector import FitError, fit, sliding_windows, window_features
from perception.telemetry.export import INPUT_NAME, OUTPUT_NAME, export_onnx

TAGS = ("speed", "vibration", "temperature")
CONFIG = DetectorConfig(tags=TAGS, rate_tags=("temperature",))


def normal_operation(rows: int, seed: int, temp_start: float = 40.0, temp_slope: float = 0.0):
    """Speed wanders; vibration follows it (0.1 mm/s per unit); temperature drifts slowly."""
    rng = np.random.default_rng(seed)
    speed = 20 + np.cumsum(rng.normal(0, 0.05, rows)).clip(-3, 3)
    vibration = 2.0 + 0.1 * (speed - 20) + rng.normal(0, 0.05, rows)
    temperature = temp_start + temp_slope * np.arange(rows) + rng.normal(0, 0.05, rows)
    return np.column_stack([speed, vibration, temperature])


def alarm_fraction(scores: np.ndarray, threshold: float) -> float:
    return float((scores > threshold).mean())


def test_window_features_follow_their_definitions() -> None:
    config = DetectorConfig(tags=("a", "b"), rate_tags=("b",), smooth=2, rate_lag=3)
    window = np.array([[1.0, 10.0], [3.0, 20.0], [5.0, 30.0], [7.0, 40.0], [9.0, 50.0]])
    assert config.window == 5
    features = window_features(window[None], config)[0]
    # a:level = mean of the last 2; b:rate = mean(last 2) - mean(first 2); a:spread = std
    assert config.feature_names() == ["a:level", "b:rate", "a:spread"]
    np.testing.assert_allclose(features, [8.0, 45.0 - 15.0, 1.0])


def test_sliding_windows_are_every_full_window_in_order() -> None:
    rows = np.arange(12.0).reshape(6, 2)
    windows = sliding_windows(rows, 4)
    assert windows.shape == (3, 4, 2)
    np.testing.assert_array_equal(windows[0], rows[:4])
    np.testing.assert_array_equal(windows[-1], rows[2:])


def test_normal_operation_stays_below_threshold_and_faults_cross_it() -> None:
    detector = fit([normal_operation(2000, seed=1)], CONFIG)
    assert alarm_fraction(detector.training_scores, detector.threshold) < 0.01
    unseen = normal_operation(1500, seed=2)
    unseen_scores = detector.score(sliding_windows(unseen, CONFIG.window))
    assert alarm_fraction(unseen_scores, detector.threshold) < 0.01

    # Vibration rises while the speed does not: the correlation breaks (Q statistic).
    worn = unseen.copy()
    worn[700:, 1] += 0.4
    scores = detector.score(sliding_windows(worn, CONFIG.window))
    after = scores[700 : 700 + 200]
    assert alarm_fraction(after, detector.threshold) > 0.95
    # Detected within the smoothing window of the step.
    first = int(np.argmax(scores > detector.threshold)) + CONFIG.window - 1
    assert 700 <= first <= 700 + CONFIG.smooth

    # The bearing heats up fast: its rate of change, never seen in normal operation.
    heating = unseen.copy()
    heating[700:, 2] += 0.2 * np.arange(800)
    scores = detector.score(sliding_windows(heating, CONFIG.window))
    assert alarm_fraction(scores[720:900], detector.threshold) > 0.95


def test_rate_tags_tolerate_slow_drift_that_levels_would_flag() -> None:
    training = normal_operation(2000, seed=3)
    # The next shift the bearing runs 1 to 2.5 degrees warmer, reached slowly (a warm day):
    # normal operation.
    warm = normal_operation(1500, seed=4, temp_start=41.0, temp_slope=0.001)
    as_rate = fit([training], CONFIG)
    as_level = fit([training], CONFIG.model_copy(update={"rate_tags": ()}))
    rate_scores = as_rate.score(sliding_windows(warm, as_rate.config.window))
    level_scores = as_level.score(sliding_windows(warm, as_level.config.window))
    assert alarm_fraction(rate_scores, as_rate.threshold) < 0.01
    assert alarm_fraction(level_scores, as_level.threshold) > 0.5


@pytest.mark.parametrize(
    "config",
    [
        CONFIG,
        CONFIG.model_copy(update={"spread": False}),
        CONFIG.model_copy(update={"rate_tags": ()}),
        DetectorConfig(tags=TAGS, rate_tags=TAGS, smooth=5, rate_lag=7),
        CONFIG.model_copy(update={"variance": 1.0}),  # every component: Q is zero
    ],
    ids=["default", "no-spread", "levels-only", "rates-only", "all-components"],
)
def test_onnx_graph_computes_the_reference_score(config: DetectorConfig) -> None:
    detector = fit([normal_operation(1200, seed=5)], config)
    faulty = normal_operation(600, seed=6)
    faulty[300:, 1] += 1.0  # scores well above the threshold too
    windows = sliding_windows(faulty, config.window).astype(np.float32)
    session = ort.InferenceSession(
        export_onnx(detector, windows[:64]), providers=["CPUExecutionProvider"]
    )
    (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: windows})
    want = detector.score(windows.astype(np.float64))
    assert got.shape == (len(windows),)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3 * detector.threshold)
    assert want.max() > detector.threshold  # the comparison covered anomalous windows


def test_fit_refuses_data_it_cannot_fit_on() -> None:
    with pytest.raises(FitError, match="windows"):
        fit([normal_operation(80, seed=7)], CONFIG)
    broken = normal_operation(500, seed=7)
    broken[10, 0] = np.nan
    with pytest.raises(FitError, match="NaN"):
        fit([broken], CONFIG)
    with pytest.raises(FitError, match="3 columns"):
        fit([normal_operation(500, seed=7)[:, :2]], CONFIG)


def test_windows_never_span_two_recordings() -> None:
    # Two recordings at different speeds: joined, the step between them would be a window
    # of normal operation; kept apart, it is not, and the step still alarms.
    low, high = normal_operation(600, seed=8), normal_operation(600, seed=9)
    high[:, 0] += 2.0
    high[:, 1] += 0.2
    detector = fit([low, high], CONFIG)
    jump = np.concatenate([low[-100:], high[:100]])
    scores = detector.score(sliding_windows(jump, CONFIG.window))
    assert scores.max() > detector.threshold


def test_config_rejects_inconsistent_settings() -> None:
    with pytest.raises(ValidationError, match="not among the tags"):
        DetectorConfig(tags=("a",), rate_tags=("b",))
    with pytest.raises(ValidationError, match="repeat"):
        DetectorConfig(tags=("a", "a"))


def test_alarm_raises_after_a_streak_and_clears_after_another() -> None:
    flags = [1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 1]
    np.testing.assert_array_equal(
        alarm_series(flags, alarm_after=3, clear_after=3),
        [0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0],
    )
    np.testing.assert_array_equal(alarm_series(flags, 1, 1), flags)
    state = AlarmState(alarm_after=2, clear_after=1)
    assert [state.update(f) for f in (True, True, True, False)] == [False, True, False, True]
