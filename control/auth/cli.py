"""`andon keys create|list|revoke`: manage API keys in the keys file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from andon.settings import Settings
from control.auth.keys import KeyFileError, KeyStore, UnknownKey, UnknownRole
from control.plant.loader import PlantModelError, load_plant

keys_app = typer.Typer(help="API keys: who may call the API, and with which role.")

KeysFile = Annotated[
    Path | None,
    typer.Option(help="keys file (default: ANDON_API_KEYS_FILE or <data-dir>/api_keys.json)"),
]


@keys_app.command()
def create(
    user: Annotated[str, typer.Option(help="user id recorded in the audit trail")],
    role: Annotated[str, typer.Option(help="a role of the plant model")],
    keys_file: KeysFile = None,
) -> None:
    """Issue a key; it is printed once and only its hash is stored."""
    store = _store(keys_file)
    try:
        key = store.create(user, role)
    except (UnknownRole, ValueError, KeyFileError) as exc:
        _fail(str(exc))
    typer.echo(f"API key for {user} ({role}); shown only this once:", err=True)
    typer.echo(key)


@keys_app.command("list")
def list_keys(keys_file: KeysFile = None) -> None:
    """Show issued keys (ids, never the keys)."""
    try:
        keys = _store(keys_file).list()
    except KeyFileError as exc:
        _fail(str(exc))
    for entry in keys:
        state = f"revoked {entry.revoked_at:%Y-%m-%d %H:%M}" if entry.revoked_at else "active"
        typer.echo(
            f"{entry.id}  {entry.user:<16} {entry.role:<12} "
            f"created {entry.created_at:%Y-%m-%d %H:%M}  {state}"
        )


@keys_app.command()
def revoke(
    key: Annotated[str, typer.Argument(help="key id from `andon keys list`, or the key itself")],
    keys_file: KeysFile = None,
) -> None:
    """Revoke a key; a running API refuses it from its next request."""
    try:
        entry = _store(keys_file).revoke(key)
    except (UnknownKey, KeyFileError) as exc:
        _fail(str(exc.args[0]))
    typer.echo(f"revoked {entry.id} ({entry.user}, {entry.role})")


def _store(keys_file: Path | None) -> KeyStore:
    settings = Settings()
    try:
        roles = [role.id for role in load_plant(settings.plant_file).people_roles()]
    except PlantModelError as exc:
        _fail(str(exc))
    return KeyStore(keys_file or settings.keys_path, roles)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)
