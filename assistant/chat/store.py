"""Conversations in the app database. Every read takes the user: nobody sees another's chats."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from control.db import serialized_writes

from .models import Conversation, ConversationSummary, Source, Turn
from .tables import conversations as c
from .tables import turns as t

TITLE_CHARS = 120
MAX_LIST = 200


class ConversationStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(
        self, user: str, title: str, *, conversation_id: str | None = None
    ) -> ConversationSummary:
        """A new conversation of ``user``, titled after its first question."""
        now = datetime.now(UTC)
        row = {
            "id": conversation_id or uuid.uuid4().hex,
            "user": user,
            "title": _title(title),
            "created_at": now,
            "updated_at": now,
        }
        async with serialized_writes(self._engine), self._engine.begin() as conn:
            await conn.execute(insert(c).values(row))
        return _summary(row)

    async def summary(self, conversation_id: str, user: str) -> ConversationSummary | None:
        """The conversation if ``user`` owns it; None for a missing and a foreign one alike."""
        query = select(c).where(c.c.id == conversation_id, c.c.user == user)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return _summary(row) if row else None

    async def list(self, user: str, limit: int = 50) -> list[ConversationSummary]:
        """``user``'s conversations, most recently active first."""
        query = (
            select(c)
            .where(c.c.user == user)
            .order_by(c.c.updated_at.desc(), c.c.id)
            .limit(max(1, min(limit, MAX_LIST)))
        )
        async with self._engine.connect() as conn:
            return [_summary(row) for row in (await conn.execute(query)).mappings()]

    async def get(self, conversation_id: str, user: str) -> Conversation | None:
        summary = await self.summary(conversation_id, user)
        if summary is None:
            return None
        return Conversation(**summary.model_dump(), turns=await self.turns(conversation_id))

    async def turns(self, conversation_id: str, last: int | None = None) -> list[Turn]:
        """The conversation's turns, oldest first; only the ``last`` ones when given."""
        query = select(t).where(t.c.conversation_id == conversation_id).order_by(t.c.id.desc())
        if last is not None:
            query = query.limit(last)
        async with self._engine.connect() as conn:
            rows = list((await conn.execute(query)).mappings())
        return [_turn(row) for row in reversed(rows)]

    async def turn_count(self, conversation_id: str) -> int:
        query = select(func.count()).select_from(t).where(t.c.conversation_id == conversation_id)
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def add_turn(self, conversation_id: str, turn: Turn) -> None:
        values = {"conversation_id": conversation_id, **turn.model_dump(mode="json")}
        values["at"] = turn.at  # the column type takes the datetime itself
        async with serialized_writes(self._engine), self._engine.begin() as conn:
            await conn.execute(insert(t).values(values))
            await conn.execute(
                update(c).where(c.c.id == conversation_id).values(updated_at=turn.at)
            )


def _title(question: str) -> str:
    line = " ".join(question.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 3] + "..."


def _summary(row: Any) -> ConversationSummary:
    return ConversationSummary(
        conversation_id=row["id"],
        title=row["title"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _turn(row: Any) -> Turn:
    return Turn(
        at=row["at"],
        question=row["question"],
        answer=row["answer"],
        citations=row["citations"],
        facts=[Source.model_validate(f) for f in row["facts"]],
        abstained=row["abstained"],
        latency_s=row["latency_s"],
    )
