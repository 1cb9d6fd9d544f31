"""The plant's own fault history as training observations: the symptom and failure mode of
every fault record in the demo corpora's maintenance log and work orders (``corpora/logs``).

The data set teaches how maintainers word faults in general; these records teach how this plant
words and files them ("F-01 strip jam" is a minor in-service problem here, a drifting feed
length a parameter deviation, a mode the data set has no class for). Routine work filed as
OTH (inspections, planned services) describes no fault and is left out.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from control.workorders.models import FailureMode

from .dataset import REPO_ROOT, DatasetError, Observation
from .labels import class_of

PLANT_LOGS = REPO_ROOT / "corpora" / "logs"
MAINTENANCE_LOG = "maintenance-log.csv"
WORK_ORDERS = "work-orders.jsonl"
_NO_FAULT = frozenset({FailureMode.OTH, FailureMode.UNK})


def plant_observations(logs: Path = PLANT_LOGS) -> list[Observation]:
    """Fault records of the maintenance log, then of the work orders, in file order."""
    try:
        with (logs / MAINTENANCE_LOG).open(encoding="utf-8", newline="") as f:
            records = [(r["symptom"], r["failure_mode"]) for r in csv.DictReader(f)]
        with (logs / WORK_ORDERS).open(encoding="utf-8") as f:
            orders = [json.loads(line) for line in f if line.strip()]
        records += [(o["symptom"], o["failure_mode"]) for o in orders]
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{logs}: cannot read the plant's fault records: {exc}") from None
    rows = []
    for symptom, code in records:
        try:
            mode = FailureMode(code)
        except ValueError:
            raise DatasetError(f"{logs}: unknown failure mode {code!r}") from None
        if mode not in _NO_FAULT and symptom.strip():
            rows.append(Observation(symptom.strip(), class_of(mode)))
    return rows


def training_rows(
    train: Sequence[Observation], dev: Sequence[Observation] = ()
) -> list[Observation]:
    """What the adapter learns from, in training's order: train.txt, then dev.txt where the
    final adapter takes it too, then the plant's own fault records."""
    return [*train, *dev, *plant_observations()]
