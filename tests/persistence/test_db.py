"""Engine and schema helpers shared by every table."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, Table, select

from control.db import UTCDateTime, create_schema, make_engine, run_transaction

from .conftest import Database


async def test_schema_created_concurrently_once(database: Database) -> None:
    engines = [database.engine() for _ in range(3)]
    try:
        await asyncio.gather(*(create_schema(engine) for engine in engines))
        await create_schema(engines[0])  # and again: idempotent
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_new_sqlite_file_opened_by_several_engines_at_once(tmp_path: Path) -> None:
    """The first connections to a new file race to switch it to WAL; SQLite answers the loser
    "database is locked" at once, without its busy handler (CI saw it). Many new files, so the
    race happens."""
    for round_ in range(20):
        url = f"sqlite+aiosqlite:///{tmp_path / f'new-{round_}.db'}"
        engines = [make_engine(url) for _ in range(4)]
        try:
            await asyncio.gather(*(create_schema(engine) for engine in engines))
        finally:
            for engine in engines:
                await engine.dispose()
        with sqlite3.connect(tmp_path / f"new-{round_}.db") as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_utc_datetime_round_trip(database: Database) -> None:
    table = Table(
        "times", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime())
    )
    engine = database.engine()
    cet = timezone(timedelta(hours=1))
    written = [datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=cet), datetime(2026, 3, 1, 12)]
    try:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
            rows = [{"id": i, "at": at} for i, at in enumerate(written)]
            await conn.execute(table.insert(), rows)
            read = (await conn.execute(select(table.c.at).order_by(table.c.id))).scalars().all()
    finally:
        await engine.dispose()
    assert read == [written[0], written[1].replace(tzinfo=UTC)]
    assert all(at.tzinfo is UTC for at in read)


async def test_run_transaction_commits_or_rolls_back(database: Database) -> None:
    table = Table("counts", MetaData(), Column("id", Integer, primary_key=True))
    engine = database.engine()

    def fail(conn: Connection) -> None:
        conn.execute(table.insert(), {"id": 2})
        raise RuntimeError("half way")

    try:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
        await run_transaction(engine, lambda conn: conn.execute(table.insert(), {"id": 1}))
        with pytest.raises(RuntimeError, match="half way"):
            await run_transaction(engine, fail, exclusive=True)
        async with engine.connect() as conn:
            ids = (await conn.execute(select(table.c.id))).scalars().all()
    finally:
        await engine.dispose()
    assert ids == [1]  # seen by the engine's own connections; the failed one left nothing


async def test_exclusive_sqlite_transactions_are_durable_and_hold_the_write_lock(
    tmp_path: Path,
) -> None:
    # What the audit anchor relies on: the records it names survive power loss (FULL), and
    # no other writer can slip in between reading the chain head and appending (IMMEDIATE).
    path = tmp_path / "andon.sqlite"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")

    def probe(conn: Connection) -> tuple[int, bool]:
        synchronous = conn.exec_driver_sql("PRAGMA synchronous").scalar_one()
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return synchronous, True  # locked out while this transaction runs
        other.execute("ROLLBACK")
        return synchronous, False

    try:
        assert await run_transaction(engine, probe, exclusive=True) == (2, True)  # 2: FULL
        assert await run_transaction(engine, probe) == (1, False)  # 1: NORMAL, deferred
    finally:
        await engine.dispose()
