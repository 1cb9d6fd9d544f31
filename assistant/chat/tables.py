"""Chat tables: conversations, owned by one user each, and their question-answer turns."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
)

from control.db import Base, RowId, UTCDateTime

conversations = Table(
    "chat_conversations",
    Base.metadata,
    Column("id", String(32), primary_key=True),
    Column("user", String(), nullable=False),
    Column("title", String(120), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_chat_conversations_user_updated", "user", "updated_at"),
)

turns = Table(
    "chat_turns",
    Base.metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("conversation_id", ForeignKey("chat_conversations.id"), nullable=False, index=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("citations", JSON, nullable=False),
    Column("facts", JSON, nullable=False),
    Column("abstained", Boolean, nullable=False),
    Column("latency_s", Float, nullable=False),
)
