"""Telemetry CSV files: one row per sample, a header naming the columns, `,` or `;`
separated (SKAB uses `;`). A timestamp column (`timestamp`, `datetime` or `time`) is kept
aside; label columns (`anomaly`, `changepoint`) are never features."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

TIME_COLUMNS = ("timestamp", "datetime", "time")
LABEL_COLUMNS = ("anomaly", "changepoint")


class TelemetryDataError(ValueError):
    """A file is missing, empty, malformed or lacks a requested column."""


@dataclass(frozen=True)
class Table:
    path: Path
    columns: tuple[str, ...]  # numeric columns, in file order
    values: np.ndarray  # (rows, columns) float64
    times: tuple[datetime, ...] | None  # parsed timestamps, when the file has them
    labels: dict[str, np.ndarray]  # label column -> (rows,) int

    def select(self, tags: Sequence[str]) -> np.ndarray:
        missing = [t for t in tags if t not in self.columns]
        if missing:
            raise TelemetryDataError(
                f"{self.path}: no column {', '.join(missing)} (has {', '.join(self.columns)})"
            )
        return self.values[:, [self.columns.index(t) for t in tags]]


def read_table(path: Path) -> Table:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TelemetryDataError(f"cannot read {path}: {exc}") from None
    lines = text.splitlines()
    if len(lines) < 2:
        raise TelemetryDataError(f"{path}: needs a header and at least one row")
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    rows = list(csv.reader(lines, delimiter=delimiter))
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header):
        raise TelemetryDataError(f"{path}: repeated column names in the header")
    body = [r for r in rows[1:] if r]
    time_column = next((c for c in header if c.lower() in TIME_COLUMNS), None)
    numeric = [c for c in header if c != time_column and c.lower() not in LABEL_COLUMNS]
    labels = [c for c in header if c.lower() in LABEL_COLUMNS]
    wanted = [header.index(c) for c in (*numeric, *labels)]
    try:
        matrix = np.array([[float(r[i]) for i in wanted] for r in body], dtype=np.float64).reshape(
            len(body), len(wanted)
        )
        at = header.index(time_column) if time_column else None
        times = tuple(datetime.fromisoformat(r[at]) for r in body) if at is not None else None
    except (ValueError, IndexError) as exc:
        raise TelemetryDataError(f"{path}: malformed row ({exc})") from None
    return Table(
        path=path,
        columns=tuple(numeric),
        values=matrix[:, : len(numeric)],
        times=times,
        labels={c.lower(): matrix[:, len(numeric) + i].astype(int) for i, c in enumerate(labels)},
    )


def file_list_sha256(paths: Sequence[Path]) -> str:
    """sha256 over the sorted list of `name sha256-of-content` lines: names the training set."""
    lines = sorted(f"{p.name}\t{hashlib.sha256(p.read_bytes()).hexdigest()}\n" for p in paths)
    return hashlib.sha256("".join(lines).encode()).hexdigest()
