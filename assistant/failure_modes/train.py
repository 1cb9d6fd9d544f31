"""Fits the failure-mode model on train.txt and the plant's own fault records, deterministically,
in numpy.

Multinomial logistic regression with class-balanced sample weights and an L2 penalty (C=30, in
scikit-learn's scale), minimised by L-BFGS. Chosen on dev.txt and 2x5-fold cross-validation of
train.txt against a linear SVM, ridge and k-nearest-neighbour models over the same features and
over n-grams or embeddings alone; test.txt was never used to choose anything.
`andon train failure-modes --data ../shared/data/failure-modes` runs it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from retrieval.embedding import MODEL_ID, MiniLMEmbedder

from .artifact import ModelArtifact
from .classifier import softmax
from .dataset import Observation, read_split
from .features import NgramTfidf, clean, features

REGULARISATION_C = 30.0
MAX_ITERATIONS = 1000
GRADIENT_TOLERANCE = 1e-6

Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]


def lbfgs(objective: Objective, start: np.ndarray, *, memory: int = 10) -> np.ndarray:
    """The minimiser of a smooth convex ``objective`` (value, gradient) by L-BFGS."""
    theta = start
    value, gradient = objective(theta)
    steps: list[np.ndarray] = []
    changes: list[np.ndarray] = []
    for _ in range(MAX_ITERATIONS):
        if np.abs(gradient).max() < GRADIENT_TOLERANCE:
            break
        # Two-loop recursion: the quasi-Newton direction from the last `memory` steps.
        direction = -gradient
        coefficients = []
        for step, change in zip(reversed(steps), reversed(changes), strict=True):
            rho = 1.0 / float(change @ step)
            alpha = rho * float(step @ direction)
            direction = direction - alpha * change
            coefficients.append((rho, alpha))
        if steps:  # scale as the inverse Hessian's estimate along the latest step
            last, moved = steps[-1], changes[-1]
            direction = direction * float(last @ moved) / float(moved @ moved)
        for (step, change), (rho, alpha) in zip(
            zip(steps, changes, strict=True), reversed(coefficients), strict=True
        ):
            direction = direction + step * (alpha - rho * float(change @ direction))
        slope = float(gradient @ direction)
        # Backtracking until the Armijo condition holds.
        rate = 1.0
        while True:
            candidate = theta + rate * direction
            new_value, new_gradient = objective(candidate)
            if new_value <= value + 1e-4 * rate * slope or rate < 1e-12:
                break
            rate *= 0.5
        step, change = candidate - theta, new_gradient - gradient
        if float(step @ change) > 1e-12:
            steps, changes = [*steps, step][-memory:], [*changes, change][-memory:]
        theta, value, gradient = candidate, new_value, new_gradient
    return theta


def fit_logistic(
    x: np.ndarray, y: np.ndarray, classes: int, c: float
) -> tuple[np.ndarray, np.ndarray]:
    """Weights and bias minimising ``c * sum(balanced weight * cross-entropy) + |W|^2 / 2``.

    Balanced weights give each class the same total weight, so the 1 "Failure to rotate" counts
    as much as the 109 "Minor in-service problems": macro F1 needs the rare classes.
    """
    n, dims = x.shape
    counts = np.bincount(y, minlength=classes)
    sample = n / (np.count_nonzero(counts) * counts[y])
    onehot = np.eye(classes)[y]
    # Divided through by c * sum(sample) so that values stay near 1; the minimiser is the same.
    scale = 1.0 / sample.sum()
    penalty = 1.0 / (c * sample.sum())

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        weights = theta[: dims * classes].reshape(dims, classes)
        bias = theta[dims * classes :]
        scores = x @ weights + bias
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=1))
        loss = scale * float(sample @ (log_norm - (shifted * onehot).sum(axis=1)))
        value = loss + 0.5 * penalty * float((weights * weights).sum())
        residual = (softmax(scores) - onehot) * (scale * sample)[:, None]
        grad_weights = x.T @ residual + penalty * weights
        return value, np.concatenate([grad_weights.ravel(), residual.sum(axis=0)])

    theta = lbfgs(objective, np.zeros(dims * classes + classes))
    return theta[: dims * classes].reshape(dims, classes), theta[dims * classes :]


def train(
    train_file: Path,
    embedder: MiniLMEmbedder | None = None,
    extra: Sequence[Observation] = (),
) -> ModelArtifact:
    """The model fitted on ``train_file`` and the ``extra`` observations (the plant's records)."""
    rows = [*read_split(train_file), *extra]
    texts = [clean(row.text) for row in rows]
    labels = tuple(sorted({row.label for row in rows}))
    y = np.array([labels.index(row.label) for row in rows])
    tfidf = NgramTfidf.fit(texts)
    x = features(texts, tfidf, embedder or MiniLMEmbedder(threads=1))
    weights, bias = fit_logistic(x, y, len(labels), REGULARISATION_C)
    return ModelArtifact(
        labels=labels,
        tfidf=tfidf,
        weights=weights,
        bias=bias,
        embedder_id=MODEL_ID,
        train_sha256=_rows_sha256(rows),
        regularisation_c=REGULARISATION_C,
    )


def _rows_sha256(rows: Sequence[Observation]) -> str:
    """Names the training rows: one ``text,label`` line each, in order."""
    lines = "".join(f"{row.text},{row.label}\n" for row in rows)
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()
