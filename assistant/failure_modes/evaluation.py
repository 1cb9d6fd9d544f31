"""Accuracy and macro F1 of the failure-mode classifier on a split of the data set.

The published baseline (fine-tuned GPT-3.5 on test.txt: accuracy 0.81, macro F1 0.62) comes from
a repository that prints a classification report; its exact macro average is not stated, so
``macro_f1`` is scikit-learn's (over the classes in the gold labels or the predictions, a wrong
guess of an absent class counting as F1 0, the stricter reading) and ``macro_f1_gold_classes``
averages over the gold classes only. Classes are the data
set's names (22), so the label-to-code choices in labels.py never change a figure.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from perception.vision.metrics import classification_report

from .classifier import FailureModeClassifier, default_classifier
from .dataset import read_split
from .labels import CLASS_MODES

# Published figures on test.txt (Stewart et al., fine-tuned GPT-3.5).
BASELINE = {"accuracy": 0.81, "macro_f1": 0.62}


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def evaluate(
    path: Path,
    classifier: FailureModeClassifier | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Figures for one split file, e.g. ``../shared/data/failure-modes/test.txt``;
    ``progress(done, total)`` after each observation."""
    rows = read_split(path)
    gold = [row.label for row in rows]
    model = classifier or default_classifier()
    predicted = []
    for row in rows:
        predicted.extend(model.predict([row.text]))
        if progress is not None:
            progress(len(predicted), len(rows))
    classes = sorted(set(gold) | set(predicted))
    report = classification_report(
        [classes.index(g) for g in gold], [classes.index(p) for p in predicted], classes
    )
    per_class = {
        name: {
            "mode": CLASS_MODES[name].value,
            "precision": scores.precision,
            "recall": scores.recall,
            "f1": _f1(scores.precision, scores.recall),
            "support": scores.support,
        }
        for name, scores in report.per_class.items()
    }
    gold_classes = [c for c in per_class.values() if c["support"]]
    return {
        "split": path.name,
        "n": report.samples,
        "accuracy": report.accuracy,
        "macro_f1": sum(c["f1"] for c in per_class.values()) / len(per_class),
        "macro_f1_gold_classes": sum(c["f1"] for c in gold_classes) / len(gold_classes),
        "per_class": per_class,
        "errors": [
            {"text": row.text, "gold": g, "predicted": p}
            for row, g, p in zip(rows, gold, predicted, strict=True)
            if g != p
        ],
    }


def format_report(result: dict[str, Any]) -> str:
    """A plain-text table of one ``evaluate`` result."""
    lines = [
        f"{result['split']}: n={result['n']} accuracy={result['accuracy']:.3f} "
        f"macro_f1={result['macro_f1']:.3f} "
        f"(gold classes only {result['macro_f1_gold_classes']:.3f})",
        f"  {'class':<28} {'mode':<4} {'prec':>5} {'rec':>5} {'f1':>5} {'n':>3}",
    ]
    for name, c in result["per_class"].items():
        lines.append(
            f"  {name:<28} {c['mode']:<4} {c['precision']:5.2f} {c['recall']:5.2f} "
            f"{c['f1']:5.2f} {c['support']:3d}"
        )
    return "\n".join(lines)
