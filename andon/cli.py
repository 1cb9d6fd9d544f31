"""`andon` command line: start the system, the simulator, audits and keys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from andon.logging import configure_logging
from andon.settings import Settings
from assistant.failure_modes.cli import train_failure_modes_command
from control.audit.cli import audit_app
from control.auth.cli import keys_app
from control.auth.keys import ensure_demo_keys
from control.plant.loader import PlantModelError, load_plant
from perception.cli import models_app
from perception.telemetry.cli import telemetry_app, train_telemetry_command
from perception.vision.cli import train_vision_command
from retrieval.cli import index_app
from retrieval.cli import ingest as ingest_command
from retrieval.cli import search as search_command
from simulator.cli import app as sim_app

app = typer.Typer(
    help="Andon: operator assistant and deterministic control plane.", no_args_is_help=True
)
app.add_typer(
    sim_app, name="sim", help="The simulated plant (OPC-UA server) and its fault injection."
)
app.add_typer(audit_app, name="audit", help="Verify and read the tamper-evident audit trail.")
app.add_typer(keys_app, name="keys", help="API keys of users and the MES.")
app.add_typer(index_app, name="index")
app.add_typer(models_app, name="models")
train_app = typer.Typer(
    help="Train the perception models (signed artifacts) and the failure-mode adapter.",
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")
train_app.command("telemetry")(train_telemetry_command)
train_app.command("vision")(train_vision_command)
train_app.command("failure-modes")(train_failure_modes_command)
app.add_typer(telemetry_app, name="telemetry")
app.command("ingest")(ingest_command)
app.command("search")(search_command)
plant_app = typer.Typer(help="The plant model file.", no_args_is_help=True)
app.add_typer(plant_app, name="plant")
console = Console(stderr=True)


def _settings() -> Settings:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return settings


def _serve(
    settings: Settings,
    host: str | None,
    port: int | None,
    embedded_simulator: bool,
    sync_corpora: bool = False,
) -> None:
    from andon.app import create_app  # heavy imports only for the commands that serve

    try:
        plant = load_plant(settings.plant_file)
    except PlantModelError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    created = ensure_demo_keys(settings.keys_path, [r.id for r in plant.people_roles()])
    if created:
        table = Table(title=f"Demo API keys (shown once; stored hashed in {settings.keys_path})")
        for column in ("user", "role", "key"):
            table.add_column(column)
        for user, role, key in created:
            table.add_row(user, role, key)
        console.print(table)
    host, port = host or settings.api_host, port or settings.api_port
    console.print(
        f"Andon API on http://{host}:{port}  (docs at /docs)  plant at {settings.opcua_url}"
    )
    uvicorn.run(
        create_app(settings, embedded_simulator=embedded_simulator, sync_corpora=sync_corpora),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        # Named, not "auto": a missing package fails at start instead of costing CPU silently.
        loop="uvloop",
        http="httptools",
    )


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="API address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="API port (default 8080)")] = None,
    index_documents: Annotated[
        bool, typer.Option(help="keep ANDON_CORPORA indexed (in the background)")
    ] = True,
) -> None:
    """Run the whole system in one process: simulated plant, control API and document search
    (the demo corpora are indexed in the background on first start), embedded defaults."""
    _serve(_settings(), host, port, embedded_simulator=True, sync_corpora=index_documents)


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="API address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="API port (default 8080)")] = None,
    index_documents: Annotated[
        bool, typer.Option(help="keep ANDON_CORPORA indexed (in the background)")
    ] = False,
) -> None:
    """Run the control API against the plant at ANDON_OPCUA_URL (a real one or `andon sim run`)."""
    _serve(_settings(), host, port, embedded_simulator=False, sync_corpora=index_documents)


@plant_app.command("check")
def plant_check(path: Annotated[Path, typer.Argument(help="plant model YAML")]) -> None:
    """Validate a plant model file and summarise it."""
    try:
        plant = load_plant(path)
    except PlantModelError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    tags = sum(len(a.tags) for a in plant.assets)
    typer.echo(
        f"{path}: OK - site {plant.site.id}, {len(plant.lines)} lines, {len(plant.assets)} assets, "
        f"{tags} tags, {len(plant.interlocks)} interlocks, {len(plant.roles)} roles"
    )


if __name__ == "__main__":
    app()
