"""`andon audit verify` and `andon audit tail`: exit 0 intact, 1 tampered, 2 cannot check."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy import inspect, make_url
from sqlalchemy.exc import DBAPIError

from andon.settings import Settings
from control.audit.anchor import ANCHOR_FILENAME
from control.audit.log import AuditLog
from control.audit.records import AuditRecord
from control.audit.tables import audit_records
from control.db import make_engine

audit_app = typer.Typer(help="Audit trail: check the hash chain, show recent records.")
_T = TypeVar("_T")

DataDir = Annotated[
    Path | None, typer.Option(help="state directory (default: ANDON_DATA_DIR or ./var)")
]
DatabaseUrl = Annotated[
    str | None, typer.Option(help="postgresql:// URL (default: ANDON_DATABASE_URL or SQLite)")
]
AnchorPath = Annotated[
    Path | None, typer.Option(help=f"head anchor file (default: <data-dir>/{ANCHOR_FILENAME})")
]


@audit_app.command()
def verify(
    data_dir: DataDir = None, database_url: DatabaseUrl = None, anchor: AnchorPath = None
) -> None:
    """Check every record's hash and link, and the chain's end against the anchor."""
    report = _run(data_dir, database_url, anchor, lambda log: log.verify())
    typer.echo(report.summary(), err=not report.ok)
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command()
def tail(
    lines: Annotated[int, typer.Option("-n", "--lines", min=1, help="how many records")] = 20,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Print the latest records, oldest first (not verified: use `verify`)."""
    records = _run(data_dir, database_url, None, lambda log: log.list(limit=lines))
    for record in reversed(records):
        typer.echo(_format(record))


def _run(
    data_dir: Path | None,
    database_url: str | None,
    anchor: Path | None,
    action: Callable[[AuditLog], Awaitable[_T]],
) -> _T:
    overrides = {"data_dir": data_dir, "database_url": database_url}
    try:
        settings = Settings(**{key: value for key, value in overrides.items() if value})
        url = settings.app_database_url()
    except ValueError as exc:
        _fail(str(exc))
    shown = make_url(url).render_as_string(hide_password=True)
    database = make_url(url).database
    if url.startswith("sqlite") and database and not Path(database).exists():
        _fail(f"no database at {database}: wrong --data-dir, or Andon never started here")

    async def run() -> _T:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                found = await conn.run_sync(lambda c: inspect(c).has_table(audit_records.name))
            if not found:
                _fail(f"no audit trail in {shown} (table {audit_records.name} missing)")
            return await action(AuditLog(engine, anchor or settings.data_dir / ANCHOR_FILENAME))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except (DBAPIError, OSError) as exc:
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        _fail(f"cannot read the audit trail at {shown}: {str(reason).strip().splitlines()[0]}")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _format(record: AuditRecord) -> str:
    parts = [
        f"{record.seq:>6}",
        record.ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        f"{record.kind.value:<10}",
        f"{record.actor}/{record.role}",
        record.subject or "-",
    ]
    if record.request_id:
        parts.append(f"request={record.request_id}")
    if record.proposed_by:
        parts.append(f"by={record.proposed_by.kind.value}:{record.proposed_by.name}")
    if record.reason:
        parts.append(json.dumps(record.reason))
    if record.data:
        parts.append(json.dumps(record.data, sort_keys=True, separators=(",", ":")))
    return "  ".join(parts)
