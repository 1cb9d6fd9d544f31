"""REST of the chat: ``POST /chat`` streams an answer as Server-Sent Events; conversations; the
chat page at ``/``.

The page is static and public (a browser cannot send a bearer key when it navigates); everything
it shows comes from the endpoints below, each of which authenticates the caller.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from functools import lru_cache
from pathlib import Path as FilePath
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from fastapi.responses import HTMLResponse
from sse_starlette import EventSourceResponse

from assistant.llm import LLMError
from control.deps import Authenticated, ServicesDep, role_of

from .models import ChatEvent, ChatRequest, Conversation, ConversationSummary
from .service import ChatService, ConversationNotFound

log = structlog.get_logger()

router = APIRouter(tags=["chat"])

PAGE = FilePath(__file__).with_name("static") / "index.html"
# The page is one file with its script and style inline; nothing may load from elsewhere.
PAGE_POLICY = (
    "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


async def chat_service(request: Request) -> ChatService:
    service: ChatService | None = getattr(request.app.state, "chat", None)
    if service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the chat is not available")
    return service


ChatDep = Annotated[ChatService, Depends(chat_service)]
ConversationIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


@router.post("/chat")
async def chat(
    body: ChatRequest, who: Authenticated, svc: ServicesDep, chat: ChatDep
) -> EventSourceResponse:
    """Answer a question from the documents the caller may read and the live plant state.

    Streams events: ``sources`` (what the answer may cite), ``token`` (the answer's text, each
    sentence followed by the id of the source it cites), ``citations`` (what the answer cites,
    and sentences withheld because their source does not bear them out), ``done`` (the answer,
    and why it abstained when it did) or ``error``.
    """
    role_of(svc, who)  # 403 for a role the plant model no longer has
    events = chat.stream(body.message, who, body.conversation_id)
    try:
        first = await anext(events)
    except ConversationNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return EventSourceResponse(_sse(first, events), ping=15)


async def _sse(
    first: ChatEvent, events: AsyncGenerator[ChatEvent, None]
) -> AsyncIterator[dict[str, str]]:
    try:
        yield _frame(first)
        async for event in events:
            yield _frame(event)
    except LLMError as exc:
        log.warning("chat.llm_failed", error=str(exc))
        yield _error(f"the language model failed: {exc}")
    except Exception:
        log.exception("chat.failed")
        yield _error("internal error; the server log has the details")
    finally:
        await events.aclose()


def _frame(event: ChatEvent) -> dict[str, str]:
    return {"event": event.event, "data": event.model_dump_json(exclude={"event"})}


def _error(message: str) -> dict[str, str]:
    return {"event": "error", "data": json.dumps({"message": message})}


@router.get("/chat/conversations")
async def conversations(who: Authenticated, chat: ChatDep) -> list[ConversationSummary]:
    """The caller's conversations, most recently active first."""
    return await chat.store.list(who.user)


@router.get("/chat/conversations/{conversation_id}")
async def conversation(
    conversation_id: ConversationIdPath, who: Authenticated, chat: ChatDep
) -> Conversation:
    """One of the caller's conversations with its turns (404 for anyone else's)."""
    found = await chat.store.get(conversation_id, who.user)
    if found is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no conversation {conversation_id!r} for you"
        )
    return found


@router.get("/", include_in_schema=False)
async def page() -> HTMLResponse:
    """The chat page: paste an API key once, ask, read cited answers."""
    return HTMLResponse(_page(), headers={"Content-Security-Policy": PAGE_POLICY})


@lru_cache(maxsize=1)
def _page() -> str:
    return PAGE.read_text(encoding="utf-8")
