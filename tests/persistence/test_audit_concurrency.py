"""Concurrent appenders, in one process and in several, keep one unforked chain."""

from __future__ import annotations

import asyncio
import sys
from itertools import pairwise
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from control.audit import AuditKind, AuditLog

from .conftest import Database

WORKER = Path(__file__).with_name("audit_worker.py")


async def test_concurrent_tasks_keep_one_chain(engine: AsyncEngine, database: Database) -> None:
    log = AuditLog(engine, database.anchor)
    records = await asyncio.gather(
        *(log.append(AuditKind.write, actor="a", role="r", data={"i": i}) for i in range(200))
    )
    assert sorted(r.seq for r in records) == list(range(1, 201))
    report = await log.verify()
    assert report.ok, report.problem
    assert (report.head_seq, report.anchor and report.anchor.seq) == (200, 200)


async def test_logs_on_separate_engines_keep_one_chain(
    engine: AsyncEngine, database: Database
) -> None:
    # No shared asyncio.Lock here: only the database lock keeps the chain straight.
    other = database.engine()
    logs = [AuditLog(engine, database.anchor), AuditLog(other, database.anchor)]
    try:
        await asyncio.gather(
            *(logs[i % 2].append(AuditKind.write, actor="a", role="r") for i in range(100))
        )
    finally:
        await other.dispose()
    report = await logs[0].verify()
    assert report.ok and report.head_seq == 100, report.problem


async def test_processes_keep_one_chain(engine: AsyncEngine, database: Database) -> None:
    count = 150
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            database.url,
            database.schema or "-",
            str(database.anchor),
            name,
            str(count),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for name in ("worker-a", "worker-b")
    ]
    for worker in workers:
        assert worker.stdout is not None
        assert await asyncio.wait_for(worker.stdout.readline(), 60) == b"ready\n"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(b"go\n")
        await worker.stdin.drain()
    assert [await asyncio.wait_for(w.wait(), 120) for w in workers] == [0, 0]

    log = AuditLog(engine, database.anchor)
    report = await log.verify()
    assert report.ok, report.problem
    assert report.head_seq == 2 * count and report.anchor and report.anchor.seq == 2 * count
    actors = [r.actor for r in await log.list(limit=2 * count, newest_first=False)]
    assert sorted(set(actors)) == ["worker-a", "worker-b"]
    switches = sum(a != b for a, b in pairwise(actors))
    assert switches >= 2, "the workers did not append at the same time"
