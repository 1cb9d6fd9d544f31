"""`andon train vision`: train, export, evaluate and sign a surface-defect model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from perception.train_cli import artifact_signer, console, fail
from perception.vision.dataset import DatasetError, load_dataset, split_holdout
from perception.vision.metrics import ClassificationReport
from perception.vision.preprocess import ImageError


def train_vision_command(
    data: Annotated[
        Path,
        typer.Option(help="image folder (one sub-folder per class) or, with --voc, Pascal VOC"),
    ],
    out: Annotated[Path, typer.Option(help="artifact directory to write (signed)")],
    voc: Annotated[
        bool, typer.Option(help="Pascal VOC: ANNOTATIONS/*.xml + IMAGES/ (NEU-DET's layout)")
    ] = False,
    epochs: Annotated[int, typer.Option(min=1, max=500)] = 24,
    image_size: Annotated[int, typer.Option(min=16, max=512, help="model input, pixels")] = 96,
    seed: Annotated[int, typer.Option(help="weights, batch order and augmentation")] = 0,
    threads: Annotated[int, typer.Option(min=1, max=64, help="torch CPU threads")] = 2,
    device: Annotated[
        str, typer.Option(help="cpu, or cuda for a GPU (torch's CUDA build)")
    ] = "cpu",
    name: Annotated[str, typer.Option(help="model name in the registry")] = "vision-defects",
    version: Annotated[str | None, typer.Option(help="default: the UTC date and time")] = None,
    source: Annotated[
        str | None,
        typer.Option(help="where the data came from, for the metadata (default: --data)"),
    ] = None,
    signing_key: Annotated[
        Path | None,
        typer.Option(help="Ed25519 PEM (default: ANDON_MODEL_SIGNING_KEY, the DEMO key)"),
    ] = None,
) -> None:
    """Train the small CNN on DATA, export ONNX, evaluate on the fixed held-out split and
    sign the artifact into OUT. Needs the `train` extra (torch)."""
    try:
        from perception.vision.train import TrainConfig, torch_cuda_available, train_vision
    except ImportError as exc:
        fail(f"training needs torch: pip install 'andon[train]' ({exc})")
    key = artifact_signer(name, version, signing_key)
    try:
        samples = load_dataset(data, voc=voc)
    except DatasetError as exc:
        fail(str(exc))
    train, held_out = split_holdout(samples)
    console.print(
        f"{len(samples)} images, {len({s.label for s in samples})} classes: "
        f"{len(train)} train, {len(held_out)} held out; {epochs} epochs at {image_size} px"
    )
    if device not in ("cpu", "cuda"):
        fail(f"--device must be cpu or cuda, not {device!r}")
    if device == "cuda" and not torch_cuda_available():
        fail("--device cuda: this torch build sees no CUDA GPU")
    config = TrainConfig(
        image_size=image_size, epochs=epochs, seed=seed, threads=threads, device=device
    )
    try:
        result = train_vision(
            samples,
            out,
            key,
            source=source or str(data),
            config=config,
            name=name,
            version=version,
            progress=lambda e: console.print(
                f"epoch {e.epoch:>3}/{e.epochs}  loss {e.loss:.4f}  "
                f"train acc {e.train_accuracy:.3f}  {e.seconds:.1f} s"
            ),
        )
    except (ImageError, ValueError) as exc:
        fail(str(exc))
    _show(result.report, result.train_seconds)
    console.print(f"signed artifact {result.metadata.name} {result.metadata.version} -> {out}")


def _show(report: ClassificationReport, train_seconds: float) -> None:
    table = Table(title=f"held out: accuracy {report.accuracy:.4f} on {report.samples} images")
    for column in ("class", "precision", "recall", "support"):
        table.add_column(column)
    for label, scores in report.per_class.items():
        table.add_row(label, f"{scores.precision:.4f}", f"{scores.recall:.4f}", str(scores.support))
    console.print(table)
    console.print(f"training took {train_seconds:.0f} s ({time.strftime('%H:%M:%S')})")
