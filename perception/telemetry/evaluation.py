"""The detector on SKAB (Skoltech Anomaly Benchmark), with SKAB's own outlier-detection
protocol as its notebooks run it (notebooks/*.ipynb, core/metrics.py `chp_score(...,
metric="binary")`):

- the 34 runs with anomalies (valve1/, valve2/, other/; anomaly-free/ is not used);
- per run, a fresh detector fitted on the run's first 400 rows (`df[:400]`), whatever their
  labels (other/2 has labelled anomalies from row 104: SKAB trains on them too);
- every row of every run scored, the training rows included;
- one confusion matrix summed over all runs; F1 = TP / (TP + (FN + FP) / 2),
  FAR = FP / (FP + TN), MAR = FN / (FN + TP) (SKAB's leaderboard F1, FAR %, MAR %).

Unlike SKAB's Conv-AE and MSET notebooks, whose post-processing looks up to a window ahead,
the prediction for a row uses only that row and the ones before it (as the live monitor
must); rows before the first full window (the first `window - 1` of a run) are predicted
normal, as the monitor raises nothing while it fills its first window. Scores come from
ONNX Runtime running the exported graph, not from the numpy reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from perception.telemetry.alarm import alarm_series
from perception.telemetry.config import DetectorConfig
from perception.telemetry.data import Table, TelemetryDataError, read_table
from perception.telemetry.detector import fit, sliding_windows
from perception.telemetry.export import INPUT_NAME, OUTPUT_NAME, export_onnx

SKAB_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "skab"
SKAB_GROUPS = ("valve1", "valve2", "other")
TRAIN_ROWS = 400  # SKAB's notebooks: df[:400]
SKAB_TAGS = (
    "Accelerometer1RMS",
    "Accelerometer2RMS",
    "Current",
    "Pressure",
    "Temperature",
    "Thermocouple",
    "Voltage",
    "Volume Flow RateRMS",
)
# The motor body and the loop water warm up over a run in normal operation (their means move
# by several training standard deviations before any anomaly): scored by rate of change.
SKAB_CONFIG = DetectorConfig(tags=SKAB_TAGS, rate_tags=("Temperature", "Thermocouple"))


def skab_runs(data_dir: Path) -> list[Table]:
    """The runs with anomaly labels, in a fixed order (group, then run number)."""
    runs = []
    for group in SKAB_GROUPS:
        files = sorted((data_dir / group).glob("*.csv"), key=lambda p: (len(p.stem), p.stem))
        runs += [read_table(f) for f in files]
    if not runs:
        raise TelemetryDataError(f"{data_dir}: no SKAB runs under {', '.join(SKAB_GROUPS)}/")
    return runs


def evaluate_skab(
    data_dir: Path = SKAB_DIR, config: DetectorConfig = SKAB_CONFIG
) -> dict[str, Any]:
    """F1, precision, recall, FAR, MAR, false alarms per hour over all runs, and per run."""
    per_run = []
    totals = np.zeros(4, dtype=np.int64)  # tp, fp, fn, tn
    false_alarms, normal_hours, delays = 0, 0.0, []
    for table in skab_runs(data_dir):
        if "anomaly" not in table.labels:
            raise TelemetryDataError(f"{table.path}: no anomaly column")
        truth = table.labels["anomaly"].astype(bool)
        predicted = predict_run(table.select(config.tags), config)
        counts = _confusion(truth, predicted)
        totals += counts
        period_s = _period_s(table)
        alarms = _episodes(predicted)
        wrong = sum(1 for a, b in alarms if not truth[a:b].any())
        false_alarms += wrong
        normal_hours += (~truth).sum() * period_s / 3600
        delay = _delay_s(truth, predicted, period_s)
        if delay is not None:
            delays.append(delay)
        tp, fp, fn, _ = counts
        per_run.append(
            {
                "run": f"{table.path.parent.name}/{table.path.name}",
                "rows": len(truth),
                "anomalous_rows": int(truth.sum()),
                "tp": int(tp),
                "fp": int(fp),
                "fn": int(fn),
                "f1": round(_f1(tp, fp, fn), 4),
                "false_alarms": wrong,
                "detection_delay_s": delay,
            }
        )
    tp, fp, fn, tn = (int(v) for v in totals)
    return {
        "f1": _f1(tp, fp, fn),
        "precision": tp / max(tp + fp, 1),
        "recall": tp / max(tp + fn, 1),
        "far_percent": 100 * fp / max(fp + tn, 1),
        "mar_percent": 100 * fn / max(fn + tp, 1),
        "false_alarms": false_alarms,
        "false_alarms_per_hour": false_alarms / normal_hours if normal_hours else 0.0,
        "normal_hours": normal_hours,
        "mean_detection_delay_s": float(np.mean(delays)) if delays else None,
        "detected_runs": len(delays),
        "runs": per_run,
        "rows": tp + fp + fn + tn,
        "config": config.model_dump(mode="json"),
    }


def predict_run(rows: np.ndarray, config: DetectorConfig) -> np.ndarray:
    """Alarm state of every row of one run, the detector fitted on its first 400 rows."""
    detector = fit([rows[:TRAIN_ROWS]], config)
    windows = np.ascontiguousarray(sliding_windows(rows, config.window), dtype=np.float32)
    graph = export_onnx(detector, windows[: TRAIN_ROWS - config.window + 1])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    (scores,) = session.run([OUTPUT_NAME], {INPUT_NAME: windows})
    alarm = alarm_series(scores > detector.threshold, config.alarm_after, config.clear_after)
    return np.concatenate([np.zeros(config.window - 1, dtype=bool), alarm])


def _confusion(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return np.array(
        [
            (truth & predicted).sum(),
            (~truth & predicted).sum(),
            (truth & ~predicted).sum(),
            (~truth & ~predicted).sum(),
        ]
    )


def _f1(tp: int, fp: int, fn: int) -> float:
    return tp / (tp + (fn + fp) / 2) if tp + fn + fp else 1.0


def _episodes(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _period_s(table: Table) -> float:
    """The sampling period: the median gap between timestamps (SKAB: 1 s), else 1 s."""
    if not table.times or len(table.times) < 2:
        return 1.0
    gaps = np.diff([t.timestamp() for t in table.times])
    return float(np.median(gaps))


def _delay_s(truth: np.ndarray, predicted: np.ndarray, period_s: float) -> float | None:
    """Time from the first anomalous row to the first alarm inside the anomaly, if any."""
    (anomalous,) = np.nonzero(truth)
    if anomalous.size == 0:
        return None
    start = anomalous[0]
    (hits,) = np.nonzero(truth & predicted)
    return float((hits[0] - start) * period_s) if hits.size else None
