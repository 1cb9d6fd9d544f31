"""`andon train telemetry`: CSV recordings in, a signed artifact out that the perception
runtime verifies, loads and answers with; bad input answered with a message, not a trace."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from andon.cli import app
from perception.registry.artifact import load_artifact
from perception.registry.keys import DEMO_PUBLIC_KEY, trusted_keys
from perception.runtime.session import open_session
from perception.telemetry.detector import sliding_windows

runner = CliRunner()
TAGS = ("speed", "vibration", "temperature")


def recording(path: Path, rows: int, seed: int, *, delimiter: str = ",") -> np.ndarray:
    """Normal operation: vibration follows speed, temperature wanders slowly."""
    rng = np.random.default_rng(seed)
    speed = 20 + np.cumsum(rng.normal(0, 0.05, rows)).clip(-3, 3)
    vibration = 2.0 + 0.1 * (speed - 20) + rng.normal(0, 0.05, rows)
    temperature = 40 + np.cumsum(rng.normal(0, 0.002, rows)) + rng.normal(0, 0.05, rows)
    values = np.column_stack([speed, vibration, temperature])
    start = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(["timestamp", *TAGS])
        for i, row in enumerate(values):
            writer.writerow([(start + timedelta(seconds=i)).isoformat(), *row])
    return values


def train(*args: str) -> tuple[int, str]:
    """Exit code and output (rich wraps long lines: whitespace joined back)."""
    result = runner.invoke(app, ["train", "telemetry", *args])
    return result.exit_code, " ".join(result.output.split())


def test_trained_artifact_is_signed_loads_and_flags_faults(tmp_path: Path) -> None:
    first = recording(tmp_path / "monday.csv", 1500, seed=1)
    recording(tmp_path / "tuesday.csv", 1000, seed=2, delimiter=";")
    out = tmp_path / "artifact"
    code, output = train(
        "--data", str(tmp_path / "monday.csv"), "--data", str(tmp_path / "tuesday.csv"),
        "--out", str(out), "--rate-tags", "temperature", "--asset", "press-9",
        "--name", "press-9-telemetry", "--version", "2026.11.26-7",
    )  # fmt: skip
    assert code == 0, output
    assert "press-9-telemetry 2026.11.26-7" in output

    artifact = load_artifact(out, trusted_keys([DEMO_PUBLIC_KEY]))
    meta = artifact.metadata
    assert meta.kind == "telemetry"
    assert meta.inputs[0].shape == (-1, 40, 3)
    assert meta.preprocessing["features"] == list(TAGS)
    assert meta.preprocessing["asset"] == "press-9"
    assert meta.training_data.samples == 2500
    assert set(meta.reference_stats) == set(TAGS)
    # Normal operation held out from the fit raised no alarm.
    assert meta.metrics["held_out_false_alarms_per_hour"] == 0.0

    session = open_session(artifact, device="cpu", threads=1)
    faulty = first[-300:].copy()
    faulty[150:, 1] += 0.5  # vibration up at the same speed
    windows = sliding_windows(faulty, 40).astype(np.float32)
    labels = [r.label for r in session.read(session.run(windows))]
    assert set(labels[: 150 - 40]) == {"normal"}
    assert set(labels[150 - 40 + 15 :]) == {"anomaly"}


def test_tags_default_to_every_numeric_column(tmp_path: Path) -> None:
    recording(tmp_path / "normal.csv", 800, seed=3)
    code, output = train("--data", str(tmp_path / "normal.csv"), "--out", str(tmp_path / "a"))
    assert code == 0, output
    meta = load_artifact(tmp_path / "a", trusted_keys([DEMO_PUBLIC_KEY])).metadata
    assert meta.preprocessing["features"] == list(TAGS)
    assert meta.inputs[0].shape == (-1, 10, 3)  # no rate tags: the window is `smooth`


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tags", "speed,pressure"], "no column pressure"),
        (["--rate-tags", "humidity"], "not among the tags"),
        (["--name", "Bad Name"], "bad model name"),
        (["--smooth", "400"], "needs at least"),
    ],
)
def test_bad_input_is_a_message(tmp_path: Path, extra: list[str], message: str) -> None:
    recording(tmp_path / "normal.csv", 500, seed=4)
    data = str(tmp_path / "normal.csv")
    code, output = train("--data", data, "--out", str(tmp_path / "a"), *extra)
    assert code == 2
    assert message in output
    assert "Traceback" not in output
    assert not (tmp_path / "a").exists()


def test_unreadable_files_are_a_message(tmp_path: Path) -> None:
    code, output = train("--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "a"))
    assert code == 2 and "cannot read" in output
    (tmp_path / "text.csv").write_text("timestamp,speed\n2026-11-26T06:00:00,fast\n")
    code, output = train("--data", str(tmp_path / "text.csv"), "--out", str(tmp_path / "a"))
    assert code == 2 and "malformed row" in output


def test_evaluate_skab_without_data_is_a_message(tmp_path: Path) -> None:
    result = runner.invoke(app, ["telemetry", "evaluate-skab", "--data", str(tmp_path)])
    assert result.exit_code == 2
    assert "no SKAB runs" in " ".join(result.output.split())


def test_recording_an_unknown_asset_or_tag_is_a_message(tmp_path: Path) -> None:
    out = str(tmp_path / "r.csv")
    for args, message in (
        (["--asset", "press-99", "--tags", "speed_spm"], "no asset 'press-99'"),
        (["--asset", "press-3", "--tags", "speed_spm,humidity"], "press-3 has no tag humidity"),
    ):
        result = runner.invoke(app, ["telemetry", "record", *args, "--out", out])
        assert result.exit_code == 2
        assert message in " ".join(result.output.split())
