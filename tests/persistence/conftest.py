"""Fixtures running persistence tests on SQLite (temp dir) and on PostgreSQL.

PostgreSQL tests get a fresh schema each (dropped afterwards), so concurrent runs and CI
jobs sharing one server do not collide. Server: ANDON_TEST_POSTGRES_URL, default below.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from control.db import create_schema, make_engine

PG_URL = os.environ.get(
    "ANDON_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@cache
def _pg_conninfo() -> str:
    return make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)


@cache
def _pg_unreachable() -> str | None:
    try:
        psycopg.connect(_pg_conninfo(), connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at {make_url(PG_URL).render_as_string()} unreachable: {exc}"
    return None


@dataclass(frozen=True)
class Database:
    kind: str  # "sqlite" or "postgres"
    url: str
    schema: str | None
    anchor: Path

    def engine(self) -> AsyncEngine:
        return make_engine(self.url, schema=self.schema)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    anchor = tmp_path / "audit.anchor"
    if request.param == "sqlite":
        yield Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'andon.sqlite'}", None, anchor)
        return
    if reason := _pg_unreachable():
        pytest.skip(reason)
    schema = f"andon_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_pg_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield Database("postgres", PG_URL, schema, anchor)
    finally:
        with psycopg.connect(_pg_conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
async def engine(database: Database) -> AsyncIterator[AsyncEngine]:
    engine = database.engine()
    await create_schema(engine)
    yield engine
    await engine.dispose()


async def tamper(engine: AsyncEngine, *statements: str) -> None:
    """Change audit records behind Andon's back, as someone with database access could."""
    async with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.execute(text("DROP TRIGGER IF EXISTS audit_records_no_update"))
            await conn.execute(text("DROP TRIGGER IF EXISTS audit_records_no_delete"))
        else:
            await conn.execute(text("ALTER TABLE audit_records DISABLE TRIGGER USER"))
        for statement in statements:
            await conn.execute(text(statement))
