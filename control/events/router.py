"""Server-Sent Events: state changes, decisions, actuations, alarms, e-stops."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sse_starlette import EventSourceResponse

from control.deps import Authenticated, ServicesDep

router = APIRouter(tags=["events"])


@router.get("/events")
async def events(
    request: Request,
    svc: ServicesDep,
    who: Authenticated,
    kinds: Annotated[list[str] | None, Query(description="only these event kinds")] = None,
) -> EventSourceResponse:
    """Stream events as they happen (`event:` is the kind, `data:` a JSON object)."""

    async def stream() -> AsyncIterator[dict[str, str]]:
        async with svc.events.subscribe() as queue:
            while not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=1.0)
                except TimeoutError:
                    continue
                if kinds and event["kind"] not in kinds:
                    continue
                yield {"id": str(event["id"]), "event": event["kind"], "data": json.dumps(event)}

    return EventSourceResponse(stream(), ping=15)
