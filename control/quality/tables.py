"""Quality-hold table."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, String, Table, Text

from control.db import Base, RowId, UTCDateTime

quality_holds = Table(
    "quality_holds",
    Base.metadata,
    Column("number", RowId, primary_key=True, autoincrement=True),  # shown as QH-000123
    Column("asset", String(64), nullable=False),
    Column("line", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("parts_from", BigInteger),
    Column("parts_to", BigInteger),
    Column("evidence", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("placed_by", String(), nullable=False),
    Column("placed_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("resolved_by", String()),
    Column("resolution_note", Text),
    # A plan step places at most one hold, however often a crash makes it run again.
    Column("source_request", String(), unique=True),
    Index("ix_quality_holds_asset_status", "asset", "status"),
    sqlite_autoincrement=True,
)
