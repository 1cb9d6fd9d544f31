"""In-process fan-out of plant events (state changes, decisions, alarms) to SSE clients.

Each subscriber has a bounded queue; a client too slow to keep up loses its oldest events
(counted, and visible to it as a gap in the event ids), so one stuck browser never slows
the control path.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter

EVENTS_DROPPED = Counter("andon_events_dropped_total", "Events dropped for slow SSE clients")


class EventBus:
    def __init__(self, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._ids = itertools.count(1)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        event = {"id": next(self._ids), "kind": kind, "ts": datetime.now(UTC).isoformat(), **data}
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
                EVENTS_DROPPED.inc()
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
