"""Camera frames written as a training folder: `<out>/<label>/<part id>.png`, the layout
`andon train vision --data` reads, plus `truth.jsonl` with each part's defect box."""

from __future__ import annotations

import json
from collections import Counter
from itertools import islice
from pathlib import Path
from typing import Annotated

import typer
from PIL import Image

from simulator.camera.render import IMAGE_SIZE, Conditions
from simulator.camera.station import InspectionCamera

TRUTH_FILE = "truth.jsonl"


def write_frames(camera: InspectionCamera, count: int, out: Path) -> Counter[str]:
    """Render `count` successive parts into `out` (new or empty: frames left from another
    render would mix into the training set); returns how many of each label."""
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    labels: Counter[str] = Counter()
    with (out / TRUTH_FILE).open("w") as truth:
        for frame in islice(camera, count):
            folder = out / frame.truth.label
            folder.mkdir(exist_ok=True)
            Image.fromarray(frame.image).save(folder / f"{frame.part_id}.png")
            record = {"part_id": frame.part_id, "label": frame.truth.label, "box": frame.truth.box}
            truth.write(json.dumps(record) + "\n")
            labels[frame.truth.label] += 1
    return labels


def render_camera(
    out: Annotated[Path, typer.Argument(help="folder to write <label>/<part id>.png into")],
    count: Annotated[int, typer.Option(min=1, max=1_000_000, help="frames to render")] = 2000,
    seed: Annotated[int, typer.Option(help="which parts (a different seed: new parts)")] = 0,
    defect_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of parts with a defect")
    ] = 0.75,
    lighting_drift: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.0,
    coil_material: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="0 cold-rolled, 1 galvanised coil")
    ] = 0.0,
    size: Annotated[int, typer.Option(min=32, max=1024, help="pixels")] = IMAGE_SIZE,
) -> None:
    """Render inspection-camera frames of stamped parts (cracks, scratches, dents) as a
    training folder for `andon train vision`."""
    camera = InspectionCamera(
        seed=seed,
        defect_rate=defect_rate,
        conditions=Conditions(lighting_drift=lighting_drift, coil_material=coil_material),
        size=size,
    )
    try:
        labels = write_frames(camera, count, out)
    except (FileExistsError, NotADirectoryError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    summary = ", ".join(f"{label} {n}" for label, n in sorted(labels.items()))
    typer.echo(f"wrote {count} frames to {out} ({summary})")
