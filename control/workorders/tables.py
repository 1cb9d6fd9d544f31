"""Work-order tables: the orders themselves and their status history."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
)

from control.db import Base, RowId, UTCDateTime

work_orders = Table(
    "work_orders",
    Base.metadata,
    Column("number", RowId, primary_key=True, autoincrement=True),  # shown as WO-000123
    Column("asset", String(64), nullable=False),
    Column("symptom", Text, nullable=False),
    Column("failure_mode", String(8), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("tasks", JSON, nullable=False),
    Column("parts", JSON, nullable=False),
    Column("lockout_required", Boolean, nullable=False),
    Column("due", UTCDateTime()),
    Column("status", String(16), nullable=False),
    Column("status_note", Text),
    Column("created_by", String(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("source_request", String()),
    # Observations a rule acted on (control.evidence.Evidence); NULL in older rows: none.
    Column("evidence", JSON),
    Index("ix_work_orders_asset_status", "asset", "status"),
    Index("ix_work_orders_created_at", "created_at"),
    sqlite_autoincrement=True,  # never reuse a number
)

work_order_transitions = Table(
    "work_order_transitions",
    Base.metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("number", ForeignKey("work_orders.number"), nullable=False, index=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("from_status", String(16)),  # None for creation
    Column("to_status", String(16), nullable=False),
    Column("actor", String(), nullable=False),
    Column("note", Text),
)
