"""Async database access for application data: engine, declarative base, schema, sessions.

One engine per process, from `Settings.app_database_url()`: SQLite (embedded install) or
PostgreSQL through psycopg (scale-out). Tables register on `Base.metadata`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    Table,
    create_engine,
    event,
    insert,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import Pool
from sqlalchemy.types import TypeDecorator

SQLITE_BUSY_TIMEOUT_MS = 10_000

# Execution option for a read-modify-write transaction that must hold SQLite's write lock
# from its first read (`BEGIN IMMEDIATE`) and survive power loss (`synchronous=FULL`).
# PostgreSQL ignores it (callers lock rows or take an advisory lock there).
EXCLUSIVE_WRITE = "andon_exclusive_write"
# Advisory lock keys: (class "ANDP", schema) for DDL; control.audit uses class "ANDO".
_PG_SCHEMA_LOCK = text("SELECT pg_advisory_xact_lock(1095648336, hashtext(current_schema()))")


class Base(DeclarativeBase):
    pass


# Surrogate keys and sequence numbers: BIGINT, but INTEGER on SQLite, whose INTEGER PRIMARY KEY
# is the rowid (autoincrements; a BIGINT primary key would not).
RowId = BigInteger().with_variant(Integer(), "sqlite")


async def insert_once(
    conn: AsyncConnection, table: Table, values: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Insert ``values`` into ``table`` (keyed by ``number``) unless a row with the same
    non-null ``source_request`` exists: a plan step run again after a crash finds what it made
    before. Returns the row and whether it was inserted now. Call it under the write lock."""
    source = values.get("source_request")
    if source is not None:
        found = (await conn.execute(select(table).where(table.c.source_request == source))).first()
        if found is not None:
            return found._asdict(), False
    inserted = insert(table).values(values).returning(table.c.number)
    number = (await conn.execute(inserted)).scalar_one()
    return {**values, "number": number}, True


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite stores them naive, PostgreSQL as timestamptz.

    Naive input is taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str, *, schema: str | None = None, **kwargs: Any) -> AsyncEngine:
    """Engine for a `sqlite+aiosqlite://` or `postgresql+psycopg://` URL.

    `schema` (PostgreSQL only) puts every table in that schema via search_path; tests use
    it to keep concurrent runs apart.
    """
    dialect = make_url(url).get_backend_name()
    if dialect == "postgresql":
        connect_args = kwargs.setdefault("connect_args", {})
        connect_args.setdefault("connect_timeout", 10)
        if schema:
            connect_args["options"] = f"-c search_path={schema}"
        return create_async_engine(url, pool_pre_ping=True, **kwargs)
    if dialect != "sqlite":
        raise ValueError(f"unsupported database {dialect!r}: use SQLite or PostgreSQL")
    engine = create_async_engine(url, **kwargs)
    _configure_sqlite(engine)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, synchronous: str) -> None:
    # SQLAlchemy, not the sqlite3 driver, emits BEGIN (see _on_begin and _sqlite_twin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    _enter_wal(cursor)
    # NORMAL: no fsync per commit, still consistent (FULL for exclusive writes: _on_begin).
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _enter_wal(cursor: Any) -> None:
    """WAL: readers never block the writer. The mode is stored in the file, so only the first
    connection to a new database switches it; the switch answers "database is locked" at once,
    without the busy handler, while another connection opens the same new file, so retry."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        cursor.execute("PRAGMA journal_mode")
        if cursor.fetchone()[0].lower() == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        _sqlite_pragmas(dbapi_connection, "NORMAL")
        record.info["synchronous"] = "NORMAL"

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        exclusive = conn.get_execution_options().get(EXCLUSIVE_WRITE, False)
        synchronous = "FULL" if exclusive else "NORMAL"
        info = conn.connection.info
        if info.get("synchronous") != synchronous:  # each statement costs a thread hop
            conn.exec_driver_sql(f"PRAGMA synchronous={synchronous}")
            info["synchronous"] = synchronous
        # A deferred transaction that reads then writes can fail with SQLITE_BUSY when another
        # process wrote in between; IMMEDIATE takes the write lock (waiting busy_timeout) first.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if exclusive else "BEGIN")


async def create_schema(engine: AsyncEngine) -> None:
    """Create missing tables, triggers and indexes (idempotent) of every table module
    imported so far; the audit and work-order tables are always included."""
    # Imported here, not at the top, to avoid an import cycle (they import Base).
    import control.audit.tables
    import control.quality.tables
    import control.workorders.tables  # noqa: F401

    # Serialised, so API workers starting together do not both create a table.
    async with engine.execution_options(**{EXCLUSIVE_WRITE: True}).begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(_PG_SCHEMA_LOCK)
        await conn.run_sync(Base.metadata.create_all)
        await conn.run_sync(_add_missing_columns)


def _add_missing_columns(conn: Connection) -> None:
    """Add the nullable columns a newer release declares to tables an older one created.

    `create_all` creates only missing tables; this is the one kind of schema change that
    keeps every stored row as it was, so it is the only one done automatically.
    """
    inspector = inspect(conn)
    for table in Base.metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable:
                raise RuntimeError(
                    f"table {table.name} lacks column {column.name}, which cannot be added "
                    "without a default: migrate the database by hand"
                )
            quote = conn.dialect.identifier_preparer.quote
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(
                text(f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} {kind}")
            )


_WRITE_LOCKS: WeakKeyDictionary[Pool, asyncio.Lock] = WeakKeyDictionary()


def write_lock(engine: AsyncEngine) -> asyncio.Lock:
    """The lock this process's writers to a SQLite database take before writing.

    SQLite admits one writer at a time anyway; queueing on an asyncio lock is cheap, while
    SQLite's own busy handler sleeps up to 100 ms between retries and wrecks tail latency.
    """
    return _WRITE_LOCKS.setdefault(engine.sync_engine.pool, asyncio.Lock())


def serialized_writes(engine: AsyncEngine) -> AbstractAsyncContextManager[object]:
    """`write_lock` on SQLite; nothing on PostgreSQL, which handles concurrent writers."""
    return write_lock(engine) if engine.dialect.name == "sqlite" else nullcontext()


T = TypeVar("T")
_TWINS: WeakKeyDictionary[Engine, dict[bool, Engine]] = WeakKeyDictionary()


async def run_transaction(
    engine: AsyncEngine,
    work: Callable[[Connection], T],
    *,
    exclusive: bool = False,
    then: Callable[[T], object] | None = None,
) -> T:
    """`work(connection)` in one transaction (committed unless it raises); its result.

    `exclusive`: as EXCLUSIVE_WRITE. `then(result)`, which may block, runs once the
    transaction has committed. On a SQLite file all of it runs in one worker-thread hop,
    on a synchronous twin of the engine: aiosqlite takes three or four thread hops per
    statement, most of the cost of a small transaction on the hot path. Elsewhere `work`
    runs on the engine's own async connection and `then` in a worker thread.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        target = engine.execution_options(**{EXCLUSIVE_WRITE: True}) if exclusive else engine
        async with target.begin() as conn:
            result = await conn.run_sync(work)
        if then is not None:
            await asyncio.to_thread(then, result)
        return result
    twin = _sqlite_twin(engine, exclusive)

    def run() -> T:
        with twin.begin() as conn:
            result = work(conn)
        if then is not None:
            then(result)
        return result

    return await asyncio.to_thread(run)


def _sqlite_twin(engine: AsyncEngine, exclusive: bool) -> Engine:
    """A synchronous engine on the same SQLite file, one per mode, so a connection never
    switches `synchronous` (each switch is one more statement)."""
    if engine.sync_engine not in _TWINS:
        _TWINS[engine.sync_engine] = {}
        event.listen(engine.sync_engine, "engine_disposed", _dispose_twins)
    twins = _TWINS[engine.sync_engine]
    if exclusive not in twins:
        twin = create_engine(
            engine.url.set(drivername="sqlite+pysqlite"),
            connect_args={"check_same_thread": False},  # used from worker threads
        )
        synchronous = "FULL" if exclusive else "NORMAL"
        begin = "BEGIN IMMEDIATE" if exclusive else "BEGIN"
        event.listen(twin, "connect", lambda conn, _record: _sqlite_pragmas(conn, synchronous))
        event.listen(twin, "begin", lambda conn: conn.exec_driver_sql(begin))
        twins[exclusive] = twin
    return twins[exclusive]


def _dispose_twins(engine: Engine) -> None:
    for twin in _TWINS.pop(engine, {}).values():
        twin.dispose()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
