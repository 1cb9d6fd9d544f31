"""`andon train vision`: train, export, evaluate and sign a surface-defect model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.table import Table

from perception.models import ModelName, ModelVersion
from perception.vision.dataset import DatasetError, load_dataset, split_holdout
from perception.vision.metrics import ClassificationReport
from perception.vision.preprocess import ImageError

console = Console(stderr=True)


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
        _fail(f"training needs torch: pip install 'andon[train]' ({exc})")
    from andon.settings import Settings
    from perception.registry.keys import SigningKeyError, load_signing_key

    try:
        TypeAdapter(ModelName).validate_python(name)
        if version is not None:
            TypeAdapter(ModelVersion).validate_python(version)
    except ValidationError as exc:
        _fail(f"bad model name or version: {exc.errors()[0]['msg']}")
    try:
        key = load_signing_key(signing_key or Settings().model_signing_key)
        samples = load_dataset(data, voc=voc)
    except (SigningKeyError, DatasetError) as exc:
        _fail(str(exc))
    train, held_out = split_holdout(samples)
    console.print(
        f"{len(samples)} images, {len({s.label for s in samples})} classes: "
        f"{len(train)} train, {len(held_out)} held out; {epochs} epochs at {image_size} px"
    )
    if device not in ("cpu", "cuda"):
        _fail(f"--device must be cpu or cuda, not {device!r}")
    if device == "cuda" and not torch_cuda_available():
        _fail("--device cuda: this torch build sees no CUDA GPU")
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
        _fail(str(exc))
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


def _fail(message: str) -> NoReturn:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)
