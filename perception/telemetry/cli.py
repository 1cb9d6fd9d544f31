"""`andon train telemetry` and `andon telemetry record|evaluate-skab`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from perception.telemetry.config import DetectorConfig
from perception.telemetry.data import TelemetryDataError, read_table
from perception.train_cli import artifact_signer, console, fail

telemetry_app = typer.Typer(
    help="Telemetry anomaly detection: record normal operation, evaluate on SKAB.",
    no_args_is_help=True,
)


def _default(field: str) -> Any:
    return DetectorConfig.model_fields[field].default


def _names(value: str | None) -> tuple[str, ...]:
    return tuple(t.strip() for t in value.split(",") if t.strip()) if value else ()


def train_telemetry_command(
    data: Annotated[
        list[Path],
        typer.Option(help="CSV recording of normal operation (repeatable; each one continuous)"),
    ],
    out: Annotated[Path, typer.Option(help="artifact directory to write (signed)")],
    tags: Annotated[
        str | None, typer.Option(help="comma-separated columns (default: every numeric one)")
    ] = None,
    rate_tags: Annotated[
        str | None,
        typer.Option(help="comma-separated tags whose level drifts normally: scored by rate"),
    ] = None,
    asset: Annotated[str | None, typer.Option(help="asset the model watches live")] = None,
    smooth: Annotated[int, typer.Option(min=2, max=3600, help="samples per mean")] = _default(
        "smooth"
    ),
    rate_lag: Annotated[
        int, typer.Option(min=1, max=3600, help="samples between means")
    ] = _default("rate_lag"),
    margin: Annotated[
        float, typer.Option(min=0.1, help="threshold, in 99th percentiles of training")
    ] = _default("margin"),
    sample_period: Annotated[float, typer.Option(min=0.001, help="seconds per sample")] = _default(
        "sample_period_s"
    ),
    alarm_after: Annotated[
        int, typer.Option(min=1, help="anomalous windows in a row that raise the alarm")
    ] = _default("alarm_after"),
    clear_after: Annotated[
        int, typer.Option(min=1, help="normal windows in a row that clear it")
    ] = _default("clear_after"),
    holdout: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="tail of each recording held out")
    ] = 0.2,
    name: Annotated[str, typer.Option(help="model name in the registry")] = "telemetry-anomaly",
    version: Annotated[str | None, typer.Option(help="default: the UTC date and time")] = None,
    signing_key: Annotated[
        Path | None,
        typer.Option(help="Ed25519 PEM (default: ANDON_MODEL_SIGNING_KEY, the DEMO key)"),
    ] = None,
) -> None:
    """Fit the PCA T²+Q detector on recordings of normal operation, count its false alarms
    on their held-out tails, export ONNX and sign the artifact into OUT."""
    try:
        from perception.telemetry.train import train_telemetry
    except ImportError as exc:
        fail(f"training needs the onnx package: pip install 'andon[train]' ({exc})")
    from perception.telemetry.detector import FitError
    from perception.telemetry.export import ExportError

    key = artifact_signer(name, version, signing_key)
    try:
        columns = _names(tags) or read_table(data[0]).columns
        config = DetectorConfig(
            tags=columns,
            rate_tags=_names(rate_tags),
            smooth=smooth,
            rate_lag=rate_lag,
            margin=margin,
            sample_period_s=sample_period,
            alarm_after=alarm_after,
            clear_after=clear_after,
        )
    except ValidationError as exc:
        fail(f"bad detector settings: {exc.errors()[0]['msg'].removeprefix('Value error, ')}")
    except TelemetryDataError as exc:
        fail(str(exc))
    try:
        result = train_telemetry(
            data, out, key, config, asset=asset, name=name, version=version, holdout=holdout
        )
    except (TelemetryDataError, FitError, ExportError) as exc:
        fail(str(exc))
    meta = result.metadata
    table = Table(
        title=f"{meta.name} {meta.version}: {len(config.tags)} tags, window {config.window} samples"
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key_name, value in meta.metrics.items():
        table.add_row(key_name, f"{value:.4g}")
    console.print(table)
    typer.echo(f"wrote {out}: {meta.name} {meta.version}")


@telemetry_app.command("record")
def record_command(
    asset: Annotated[str, typer.Option(help="asset to record (it must be running)")],
    tags: Annotated[str, typer.Option(help="comma-separated tags of the asset")],
    out: Annotated[Path, typer.Option(help="CSV file to write")],
    seconds: Annotated[float, typer.Option(min=1, help="how long to record")] = 3600,
    period: Annotated[float, typer.Option(min=0.01, help="seconds between samples")] = 1.0,
    url: Annotated[
        str | None, typer.Option(help="plant endpoint (default: ANDON_OPCUA_URL)")
    ] = None,
) -> None:
    """Record normal operation of a running asset over OPC-UA (for `andon train telemetry`).
    Ends early, keeping what it has, if the asset stops or the plant drops the connection."""
    from andon.settings import Settings
    from control.opcua.driver import DriverError, PlantDriver
    from control.plant.loader import PlantModelError, load_plant
    from perception.telemetry.record import record
    from perception.telemetry.stream import TelemetryConfigError

    settings = Settings()
    names = _names(tags)
    if not names:
        fail("give at least one tag")
    try:
        plant = load_plant(settings.plant_file)
    except PlantModelError as exc:
        fail(str(exc))
    spec = next((a for a in plant.assets if a.id == asset), None)
    if spec is None:
        fail(f"the plant has no asset {asset!r}")
    unknown = [t for t in names if spec.tag(t) is None]
    if unknown:
        fail(f"{asset} has no tag {', '.join(unknown)}")
    samples = int(seconds / period)

    async def run() -> int:
        async with PlantDriver(plant, url or settings.opcua_url) as driver:
            return await record(driver, asset, names, out, samples=samples, period_s=period)

    try:
        written = asyncio.run(run())
    except (DriverError, TelemetryConfigError, OSError) as exc:
        fail(str(exc))
    if not written:
        fail(f"{asset} did not run: nothing recorded")
    typer.echo(f"wrote {written} samples of {asset} to {out}")


@telemetry_app.command("evaluate-skab")
def evaluate_skab_command(
    data: Annotated[Path | None, typer.Option(help="SKAB's data directory")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the figures here")] = None,
) -> None:
    """The detector on SKAB with SKAB's protocol (first 400 rows of each run fit it, every
    row scored, F1 over all runs): F1, FAR, MAR, false alarms per hour."""
    from perception.telemetry.evaluation import SKAB_DIR, evaluate_skab

    try:
        result = evaluate_skab(data or SKAB_DIR)
    except TelemetryDataError as exc:
        fail(str(exc))
    table = Table(title=f"SKAB, {len(result['runs'])} runs, {result['rows']} rows")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in (
        "f1",
        "precision",
        "recall",
        "far_percent",
        "mar_percent",
        "false_alarms_per_hour",
        "mean_detection_delay_s",
    ):
        table.add_row(key, f"{result[key]:.3f}")
    console.print(table)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=2) + "\n")
        typer.echo(f"wrote {json_out}")
