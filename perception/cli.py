"""`andon models list|promote|rollback|shadow|import|verify|keygen`.

Changes go through the same service as the REST API: the version is verified and loaded
before any pointer moves, and each change is audited (the actor is the local user: holding
the data directory is an administrator's right). A running `andon api` picks the change up
within seconds.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from andon.settings import Settings
from control.audit.anchor import ANCHOR_FILENAME
from control.audit.log import AuditLog
from control.db import create_schema, make_engine
from perception.models import ModelStatus
from perception.registry.artifact import ArtifactError, load_artifact
from perception.registry.keys import SigningKeyError, generate_key_pair, trusted_keys
from perception.registry.store import RegistryError
from perception.runtime.providers import ProviderError

if TYPE_CHECKING:
    from perception.runtime.service import Actor, PerceptionService

models_app = typer.Typer(help="Perception models: signed versions, active/shadow, rollback.")
console = Console()
_T = TypeVar("_T")

DataDir = Annotated[
    Path | None, typer.Option(help="state directory (default: ANDON_DATA_DIR or ./var)")
]


def _check_reason(value: str) -> str:
    if len(value.strip()) < 3:
        raise typer.BadParameter("say why, in at least 3 characters")
    return value


Reason = Annotated[
    str, typer.Option(help="why (recorded in the audit trail)", callback=_check_reason)
]
User = Annotated[str | None, typer.Option(help="who (default: the local user name)")]
CLI_ROLE = "cli"  # the audit trail's role for changes made from the data directory


@models_app.command("list")
def list_models(data_dir: DataDir = None) -> None:
    """Installed models, their versions (and why any is refused), active and shadow."""
    statuses = _run(data_dir, lambda svc: _status(svc), audited=False)
    if not statuses:
        typer.echo("no models installed")
        return
    table = Table()
    for column in ("model", "version", "state", "created", "key", "metrics / problem"):
        table.add_column(column)
    for status in statuses:
        shadow = status.shadow.version if status.shadow else None
        for info in status.versions:
            state = (
                "active"
                if info.version == status.active
                else "shadow"
                if info.version == shadow
                else "previous"
                if info.version in status.previous
                else ""
            )
            detail = info.problem or ", ".join(f"{k}={v:.4g}" for k, v in info.metrics.items())
            created = f"{info.created_at:%Y-%m-%d %H:%M}" if info.created_at else "-"
            table.add_row(status.name, info.version, state, created, info.key_id or "-", detail)
    console.print(table)


@models_app.command()
def promote(
    name: Annotated[str, typer.Argument(help="model name")],
    version: Annotated[str, typer.Argument(help="version to make active")],
    reason: Reason,
    user: User = None,
    data_dir: DataDir = None,
) -> None:
    """Make a version active (verified and loaded first; audited)."""
    status = _run(data_dir, lambda svc: svc.promote(name, version, _actor(user), reason))
    typer.echo(f"{name}: active {status.active}")


@models_app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="model name")],
    reason: Reason,
    user: User = None,
    data_dir: DataDir = None,
) -> None:
    """Make the previously active version active again (audited)."""
    status = _run(data_dir, lambda svc: svc.rollback(name, _actor(user), reason))
    typer.echo(f"{name}: active {status.active}")


@models_app.command()
def shadow(
    name: Annotated[str, typer.Argument(help="model name")],
    reason: Reason,
    version: Annotated[
        str | None, typer.Argument(help="candidate version; omit with --off")
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="stop shadowing")] = False,
    user: User = None,
    data_dir: DataDir = None,
) -> None:
    """Run a candidate beside the active version, compared and never acted on (audited)."""
    if (version is None) != off:
        _fail("give a VERSION to shadow, or --off to stop")
    status = _run(data_dir, lambda svc: svc.set_shadow(name, version, _actor(user), reason))
    typer.echo(f"{name}: shadow {status.shadow.version if status.shadow else 'off'}")


@models_app.command("import")
def import_artifacts(
    paths: Annotated[list[Path], typer.Argument(help="artifact directories to install")],
    data_dir: DataDir = None,
) -> None:
    """Verify artifacts and copy them into the registry (does not activate them)."""

    async def install(svc: PerceptionService) -> None:
        for path in paths:
            artifact, added = svc.registry.install(path)
            what = "installed" if added else "already installed"
            typer.echo(f"{artifact.name} {artifact.version}: {what} (signed by {artifact.key_id})")

    _run(data_dir, install, audited=False)


@models_app.command()
def verify(
    path: Annotated[Path, typer.Argument(help="artifact directory")],
    data_dir: DataDir = None,
) -> None:
    """Check an artifact's signature against the trust list; exit 1 if refused."""
    settings = _settings(data_dir)
    try:
        artifact = load_artifact(path, trusted_keys(settings.model_trusted_keys))
    except (ArtifactError, SigningKeyError) as exc:
        typer.echo(f"REFUSED: {exc}", err=True)
        raise typer.Exit(1) from None
    meta = artifact.metadata
    typer.echo(
        f"OK: {meta.name} {meta.version} ({meta.kind}), signed by {artifact.key_id}, "
        f"trained on {meta.training_data.samples} samples from {meta.training_data.source}"
    )


@models_app.command()
def keygen(
    out: Annotated[Path, typer.Option(help="path prefix: writes PREFIX.pem and PREFIX.pub")],
) -> None:
    """Make a site's own signing key pair (the shipped one is a public demo key)."""
    private, public = out.with_name(out.name + ".pem"), out.with_name(out.name + ".pub")
    try:
        kid = generate_key_pair(private, public)
    except (SigningKeyError, OSError) as exc:
        _fail(str(exc))
    typer.echo(f"key {kid}: {private} (keep secret, sign with it), {public} (trust it)")


def _actor(user: str | None) -> Actor:
    from perception.runtime.service import Actor

    return Actor(user or getpass.getuser(), CLI_ROLE)


async def _status(svc: PerceptionService) -> list[ModelStatus]:
    return svc.status()


def _settings(data_dir: Path | None) -> Settings:
    try:
        return Settings(**({"data_dir": data_dir} if data_dir else {}))
    except ValueError as exc:
        _fail(str(exc))


def _run(
    data_dir: Path | None,
    action: Callable[[PerceptionService], Awaitable[_T]],
    audited: bool = True,
) -> _T:
    # ONNX Runtime and numpy load only for the commands that use them.
    from perception.runtime.service import service_from_settings
    from perception.runtime.session import ModelLoadError

    settings = _settings(data_dir)

    async def run() -> _T:
        engine = make_engine(settings.app_database_url()) if audited else None
        try:
            audit = None
            if engine is not None:
                settings.data_dir.mkdir(parents=True, exist_ok=True)
                await create_schema(engine)
                audit = AuditLog(engine, anchor_path=settings.data_dir / ANCHOR_FILENAME)
            svc = service_from_settings(settings, audit=audit)
            try:
                return await action(svc)
            finally:
                await svc.aclose()
        finally:
            if engine is not None:
                await engine.dispose()

    try:
        return asyncio.run(run())
    except (RegistryError, ArtifactError, ModelLoadError, SigningKeyError, ProviderError) as exc:
        _fail(str(exc))


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)
