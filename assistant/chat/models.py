"""Contracts of the chat: requests, answers, the streamed events and stored conversations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

# uuid4().hex: what the store mints, so anything else is rejected before a lookup.
ConversationId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
# The search query's own bound (retrieval.models.SearchRequest).
MAX_MESSAGE_CHARS = 1000


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MESSAGE_CHARS)
    ]
    conversation_id: ConversationId | None = None


class ChatAnswer(BaseModel):
    """One finished answer: ``citations`` are the ids cited inline in ``text``, all resolvable."""

    conversation_id: str
    text: str
    citations: list[str]
    abstained: bool
    latency_s: float


class Source(BaseModel):
    """A source shown beside an answer: a passage (open it with GET /passages) or a plant fact."""

    citation_id: str
    kind: Literal["passage", "plant"]
    title: str
    # The fact's text for plant facts (it is not stored anywhere else); empty for passages.
    text: str = ""


# --- streamed events (Server-Sent Events of POST /chat) ------------------------------------


class SourcesEvent(BaseModel):
    event: Literal["sources"] = "sources"
    conversation_id: str
    sources: list[Source]


class TokenEvent(BaseModel):
    event: Literal["token"] = "token"
    text: str


class CitationsEvent(BaseModel):
    event: Literal["citations"] = "citations"
    citations: list[str]
    # Sentences the model wrote that were withheld: not borne out by the source they cite, or
    # an answer that spoke of something other than the question.
    dropped: list[str]


class DoneEvent(BaseModel):
    event: Literal["done"] = "done"
    answer: ChatAnswer
    # Why the answer abstained, when it did: for the operator, one sentence.
    note: str | None = None


class PlanEvent(BaseModel):
    """An action request typed into the chat, answered by the planner (assistant/plans)."""

    event: Literal["plan"] = "plan"
    status: str
    steps: list[dict[str, object]]
    citations: list[str]
    refusal: str | None = None
    request_status: str | None = None
    message: str | None = None


ChatEvent = SourcesEvent | TokenEvent | CitationsEvent | DoneEvent | PlanEvent


# --- stored conversations -----------------------------------------------------------------


class Turn(BaseModel):
    at: datetime
    question: str
    answer: str
    citations: list[str]
    # The cited plant facts as they read at the time (live state moves on; this does not).
    facts: list[Source]
    abstained: bool
    latency_s: float


class ConversationSummary(BaseModel):
    conversation_id: str
    title: str
    created_at: datetime
    updated_at: datetime


class Conversation(ConversationSummary):
    turns: list[Turn]
