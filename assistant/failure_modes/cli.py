"""`andon train failure-modes`: fine-tune the classifier's adapters (one per seed), write them
and their manifest, score dev.txt."""

from __future__ import annotations

import importlib.util
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from perception.train_cli import console, fail
from retrieval.weights import WeightsError

from . import artifact
from .artifact import BASE_MODEL, SEEDS, TrainingSettings
from .classifier import MANIFEST_PATH, MANIFEST_SHA256, FailureModeClassifier
from .dataset import DEFAULT_DATA_DIR, DatasetError, read_split
from .evaluation import evaluate, format_report
from .plant_records import training_rows

CLASSIFIER_SOURCE = Path(__file__).with_name("classifier.py")
TRAINING_PACKAGES = ("torch", "transformers", "peft", "gguf")


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _report_step(bar: Progress, task: TaskID, done: int, total: int, loss: float) -> None:
    bar.update(task, completed=done, total=total, note=f"loss {loss:.3f}")


def train_failure_modes_command(
    data: Annotated[
        Path, typer.Option(help="folder with train.txt and dev.txt (observation,failure mode)")
    ] = DEFAULT_DATA_DIR,
    out: Annotated[
        Path, typer.Option(help="folder to write the adapters and manifest.json into")
    ] = MANIFEST_PATH.parent,
    seeds: Annotated[
        list[int] | None,
        typer.Option(
            "--seed",
            help="train one adapter per seed (its initial weights and batch order); repeat "
            f"for an ensemble [default: {' '.join(map(str, SEEDS))}, the shipped one]",
        ),
    ] = None,
    threads: Annotated[int, typer.Option(min=1, max=64, help="torch CPU threads")] = 2,
    with_dev: Annotated[
        bool,
        typer.Option(
            "--with-dev",
            help="train on dev.txt too (the final adapter, once settings are fixed on dev); "
            "dev.txt is then not scored",
        ),
    ] = False,
) -> None:
    """Fine-tune Qwen2.5-Coder-1.5B (LoRA) on train.txt and the plant's fault records, once per
    seed, write the adapters and their manifest, and score dev.txt with the ensemble. About 45
    minutes per seed on two cores; needs the `train` extra (torch, transformers, PEFT, gguf)."""
    missing = [name for name in TRAINING_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        fail(f"training needs {', '.join(missing)}: pip install 'andon[train]'")
    from andon.settings import Settings
    from assistant.llm.weights import model_file

    from .train import manifest, train

    try:
        train_rows = read_split(data / "train.txt")
        dev_rows = read_split(data / "dev.txt")  # before most of an hour of training, not after
        rows = training_rows(train_rows, dev_rows if with_dev else ())
    except DatasetError as exc:
        fail(str(exc))
    models_dir = Settings().models_dir
    try:
        base = model_file(BASE_MODEL, models_dir)
    except WeightsError as exc:
        fail(str(exc))
    seeds = list(dict.fromkeys(seeds or SEEDS))  # a seed twice would train the same adapter
    settings = TrainingSettings()
    console.print(
        f"{len(rows)} observations, {len({r.label for r in rows})} classes; LoRA rank "
        f"{settings.rank} on {BASE_MODEL.file_name}, {settings.epochs} epochs, "
        f"{len(seeds)} adapter(s): seed {', '.join(map(str, seeds))}"
    )
    members = []
    with _bar() as bar:
        for number, seed in enumerate(seeds, start=1):
            task = bar.add_task(
                f"seed {seed} ({number} of {len(seeds)})", total=None, note="loading the model"
            )
            member, _ = train(
                rows,
                base,
                out,
                settings.model_copy(update={"seed": seed}),
                threads=threads,
                progress=partial(_report_step, bar, task),
            )
            members.append(member)
    sha256 = artifact.write(manifest(rows, members), out)
    classifier = FailureModeClassifier.load(
        out / MANIFEST_PATH.name, sha256, models_dir=models_dir, threads=threads
    )
    if with_dev:
        console.print("dev.txt was trained on: not scored (test.txt is the held-out split)")
    else:
        with _bar() as bar:
            task = bar.add_task("dev.txt", total=None, note="")
            dev = evaluate(
                data / "dev.txt",
                classifier,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        console.print(format_report(dev))
    pin = "the pinned one" if sha256 == MANIFEST_SHA256 else "NOT the pinned one: pin it"
    console.print(
        f"wrote {', '.join(m.adapter for m in members)} and {MANIFEST_PATH.name} in {out}\n"
        f"manifest sha256 {sha256} ({pin}: MANIFEST_SHA256 in {CLASSIFIER_SOURCE})"
    )
