"""Classification metrics: accuracy, per-class precision and recall, confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel


class ClassScores(BaseModel):
    precision: float
    recall: float
    support: int  # true samples of the class


class ClassificationReport(BaseModel):
    samples: int
    accuracy: float
    per_class: dict[str, ClassScores]
    # confusion[true][predicted] = count
    confusion: dict[str, dict[str, int]]

    def flat(self, prefix: str = "") -> dict[str, float]:
        """For ModelMetadata.metrics (a flat name -> number map)."""
        out = {f"{prefix}accuracy": self.accuracy, f"{prefix}samples": float(self.samples)}
        for label, scores in self.per_class.items():
            out[f"{prefix}precision.{label}"] = scores.precision
            out[f"{prefix}recall.{label}"] = scores.recall
        for true, row in self.confusion.items():
            for predicted, count in row.items():
                out[f"{prefix}confusion.{true}.{predicted}"] = float(count)
        return out


def classification_report(
    true: Sequence[int] | np.ndarray, predicted: Sequence[int] | np.ndarray, classes: Sequence[str]
) -> ClassificationReport:
    """Class indices in, report out. A class never predicted has precision 0 (not NaN)."""
    true, predicted = np.asarray(true, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    if true.shape != predicted.shape or true.size == 0:
        raise ValueError("need as many predictions as labels, at least one")
    n = len(classes)
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (true, predicted), 1)
    hits = np.diag(matrix)
    per_class = {
        label: ClassScores(
            precision=float(hits[i] / matrix[:, i].sum()) if matrix[:, i].sum() else 0.0,
            recall=float(hits[i] / matrix[i].sum()) if matrix[i].sum() else 0.0,
            support=int(matrix[i].sum()),
        )
        for i, label in enumerate(classes)
    }
    return ClassificationReport(
        samples=int(true.size),
        accuracy=float(hits.sum() / true.size),
        per_class=per_class,
        confusion={
            t: {p: int(matrix[i, j]) for j, p in enumerate(classes)} for i, t in enumerate(classes)
        },
    )
