"""`andon sim`: run the simulated plant, inject faults, restart its server.

Also runs on its own: `python -m simulator.cli run`.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated, NoReturn

import structlog
import typer
from asyncua import ua

from andon.logging import configure_logging
from andon.settings import Settings
from control.plant.loader import PlantModelError, load_plant
from simulator.camera.folder import render_camera
from simulator.remote import SimulatorConnection, SimulatorRefused, SimulatorUnreachable
from simulator.security import ADMIN_USER, SecuritySettings
from simulator.server import DEFAULT_PORT, SimulatedPlant

app = typer.Typer(help="The simulated stamping plant (OPC-UA server).", no_args_is_help=True)
app.command("render-camera")(render_camera)
log = structlog.get_logger("simulator")

UrlOpt = Annotated[str | None, typer.Option(help="Simulator endpoint (default: ANDON_OPCUA_URL)")]
SecureOpt = Annotated[
    bool | None,
    typer.Option("--secure/--no-secure", help="Basic256Sha256 (default: ANDON_OPCUA_SECURITY)"),
]
PkiOpt = Annotated[Path | None, typer.Option(help="Certificates (default: ANDON_DATA_DIR/pki)")]
UserOpt = Annotated[
    str, typer.Option(help="User in secure mode; password from ANDON_SIM_ADMIN_PASSWORD")
]


@app.command()
def run(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = DEFAULT_PORT,
    seed: Annotated[int, typer.Option(help="Random seed of the process noise")] = 0,
    tick: Annotated[float, typer.Option(help="Real seconds between model steps")] = 0.1,
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second")] = 1.0,
    secure: SecureOpt = None,
    pki_dir: PkiOpt = None,
    trust: Annotated[
        list[Path] | None,
        typer.Option(help="Client certificate (DER) to trust, repeatable (default: control's)"),
    ] = None,
    plant_file: Annotated[Path | None, typer.Option(help="Plant model YAML")] = None,
) -> None:
    """Serve the plant until Ctrl-C or SIGTERM."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    try:
        plant_model = load_plant(plant_file or settings.plant_file)
    except PlantModelError as exc:
        _fail(str(exc))
    use_security = settings.opcua_security if secure is None else secure
    security = (
        SecuritySettings(pki_dir or settings.pki_dir, trusted_certs=tuple(trust or ()))
        if use_security
        else None
    )
    plant = SimulatedPlant(
        plant_model, host, port, seed, tick_s=tick, sim_dt=tick * speed, security=security
    )
    try:
        asyncio.run(_serve(plant))
    except OSError as exc:
        _fail(f"cannot serve on {plant.url}: {exc}")


async def _serve(plant: SimulatedPlant) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with plant:
        await stop.wait()
        log.info("simulator.shutting_down")


@app.command()
def fault(
    fault: Annotated[
        str,
        typer.Argument(
            help="bearing_wear, sensor_miscalibration, feeder_jam; camera: lighting_drift "
            "(vision station), coil_material (feeder), defect_burst (press)"
        ),
    ],
    asset: Annotated[str, typer.Option(help="Asset id, e.g. press-3")],
    severity: Annotated[
        float, typer.Option(help="Wear rate factor, sensor offset, or camera fault in (0, 1]")
    ] = 1.0,
    url: UrlOpt = None,
    secure: SecureOpt = None,
    pki_dir: PkiOpt = None,
    user: UserOpt = ADMIN_USER,
) -> None:
    """Inject a fault into the running simulator."""
    args = (
        ua.Variant(fault, ua.VariantType.String),
        ua.Variant(asset, ua.VariantType.String),
        ua.Variant(severity, ua.VariantType.Double),
    )
    _call(_connection(url, secure, pki_dir, user), "InjectFault", args)
    typer.echo(f"injected {fault} on {asset} (severity {severity:g})")


@app.command("clear-faults")
def clear_faults(
    url: UrlOpt = None, secure: SecureOpt = None, pki_dir: PkiOpt = None, user: UserOpt = ADMIN_USER
) -> None:
    """Remove every injected fault (a jammed feeder stays faulted until stopped)."""
    _call(_connection(url, secure, pki_dir, user), "ClearFaults", ())
    typer.echo("cleared all faults")


@app.command()
def restart(
    down: Annotated[float, typer.Option(help="Seconds the server stays down")] = 5.0,
    url: UrlOpt = None,
    secure: SecureOpt = None,
    pki_dir: PkiOpt = None,
    user: UserOpt = ADMIN_USER,
) -> None:
    """Restart the simulator's OPC-UA server; the process keeps running."""
    args = (ua.Variant(down, ua.VariantType.Double),)
    conn = _connection(url, secure, pki_dir, user)
    _call(conn, "RestartServer", args)
    typer.echo(f"simulator at {conn.url} restarting, back in {down:g} s")


def _connection(
    url: str | None, secure: bool | None, pki_dir: Path | None, user: str
) -> SimulatorConnection:
    settings = Settings()
    return SimulatorConnection(
        url=url or settings.opcua_url,
        secure=settings.opcua_security if secure is None else secure,
        pki_dir=pki_dir or settings.pki_dir,
        user=user,
    )


def _call(conn: SimulatorConnection, method: str, args: tuple[ua.Variant, ...]) -> None:
    try:
        asyncio.run(conn.call(method, *args))
    except SimulatorUnreachable as exc:
        _fail(str(exc))
    except SimulatorRefused as exc:
        _fail(f"refused: {exc}")


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


if __name__ == "__main__":
    app()
