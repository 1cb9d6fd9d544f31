"""Appends audit records from a separate process, for the cross-process test.

Usage: audit_worker.py URL SCHEMA|- ANCHOR NAME COUNT. Prints "ready" once connected, then
waits for a line on stdin so that all workers start appending at the same moment.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from control.audit import AuditKind, AuditLog
from control.db import make_engine

TASKS = 4  # concurrent appenders inside this process


async def main(url: str, schema: str, anchor: str, name: str, count: int) -> None:
    engine = make_engine(url, schema=None if schema == "-" else schema)
    log = AuditLog(engine, Path(anchor))
    async with engine.connect():
        pass
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)

    async def appender(task: int) -> None:
        for i in range(task, count, TASKS):
            await log.append(AuditKind.write, actor=name, role="operator", data={"i": i})
            # SQLite's busy handler lets one writer starve the other; a pause between appends
            # gives the other process a turn, so the two chains really interleave.
            await asyncio.sleep(0.002)

    await asyncio.gather(*(appender(task) for task in range(TASKS)))
    await engine.dispose()


if __name__ == "__main__":
    url, schema, anchor, name, count = sys.argv[1:]
    asyncio.run(main(url, schema, anchor, name, int(count)))
