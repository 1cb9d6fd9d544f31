"""Reads the failure-mode data set: ``observation,failure mode`` per line.

The data set lives beside the project at ``../shared/data/failure-modes`` (Apache-2.0, see its
LICENSE) and is never copied into the repository; a fresh clone has no ``../shared``.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from .labels import DATASET_MODES

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "failure-modes"


class DatasetError(ValueError):
    """A split file is missing or has a line that is not ``observation,known failure mode``."""


class Observation(NamedTuple):
    text: str
    label: str  # a class name, a key of labels.CLASS_MODES


def read_split(path: Path) -> list[Observation]:
    """Every observation of one split file (train.txt, dev.txt or test.txt)."""
    if not path.is_file():
        raise DatasetError(f"{path} does not exist (the data set is at {DEFAULT_DATA_DIR})")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        # Class names hold no comma; an observation might.
        text, sep, label = line.rpartition(",")
        if not sep or not text.strip():
            raise DatasetError(f"{path}:{number}: expected 'observation,failure mode': {line!r}")
        if label not in DATASET_MODES:
            raise DatasetError(f"{path}:{number}: unknown failure mode {label!r}")
        rows.append(Observation(text.strip(), label))
    if not rows:
        raise DatasetError(f"{path} holds no observations")
    return rows
