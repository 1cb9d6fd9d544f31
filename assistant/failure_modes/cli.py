"""`andon train failure-modes`: refit the shipped model from the data set and report dev figures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from retrieval.embedding import MiniLMEmbedder

from . import artifact
from .classifier import MODEL_PATH, MODEL_SHA256, FailureModeClassifier
from .dataset import DEFAULT_DATA_DIR, DatasetError
from .evaluation import evaluate, format_report
from .plant_records import plant_observations
from .train import train

CLASSIFIER_SOURCE = Path(__file__).with_name("classifier.py")


def train_failure_modes_command(
    data: Annotated[
        Path, typer.Option(help="folder with train.txt and dev.txt (observation,failure mode)")
    ] = DEFAULT_DATA_DIR,
    out: Annotated[Path, typer.Option(help="model file to write")] = MODEL_PATH,
) -> None:
    """Fit the failure-mode classifier on train.txt and the plant's fault records
    (deterministic), write it, score dev.txt."""
    embedder = MiniLMEmbedder(threads=1)
    try:
        model = train(data / "train.txt", embedder, plant_observations())
        sha256 = artifact.write(model, out)
        dev = evaluate(data / "dev.txt", FailureModeClassifier.load(out, sha256, embedder))
    except DatasetError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(format_report(dev))
    pin = "the pinned one" if sha256 == MODEL_SHA256 else "NOT the pinned one: pin it"
    typer.echo(f"wrote {out}\nsha256 {sha256} ({pin}: MODEL_SHA256 in {CLASSIFIER_SOURCE})")
