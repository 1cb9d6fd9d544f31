"""Engine and schema helpers shared by every table."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Column, Integer, MetaData, Table, select

from control.db import UTCDateTime, create_schema

from .conftest import Database


async def test_schema_created_concurrently_once(database: Database) -> None:
    engines = [database.engine() for _ in range(3)]
    try:
        await asyncio.gather(*(create_schema(engine) for engine in engines))
        await create_schema(engines[0])  # and again: idempotent
    finally:
        for engine in engines:
            await engine.dispose()


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
