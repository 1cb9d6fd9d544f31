"""The audit_records table; UPDATE, DELETE and TRUNCATE are refused by triggers.

The triggers stop mistakes, not a database owner (who can drop them): the hash chain and
the head anchor are what reveal tampering.
"""

from __future__ import annotations

from sqlalchemy import (
    DDL,
    JSON,
    Column,
    Index,
    String,
    Table,
    Text,
    event,
)

from control.db import Base, RowId, UTCDateTime

audit_records = Table(
    "audit_records",
    Base.metadata,
    # The primary key is the unique constraint on seq that keeps the chain from forking.
    # Strings are unbounded: an over-long subject must not make an audit append fail.
    Column("seq", RowId, primary_key=True),
    Column("ts", UTCDateTime(), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("actor", String(), nullable=False),
    Column("role", String(), nullable=False),
    Column("subject", String()),
    Column("request_id", String()),
    Column("proposed_by_kind", String(16)),
    Column("proposed_by_name", String()),
    Column("reason", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_records_subject_seq", "subject", "seq"),
    Index("ix_audit_records_request_id", "request_id"),
    Index("ix_audit_records_ts", "ts"),
)

_APPEND_ONLY_DDL = [
    DDL(
        "CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records "
        "BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END"
    ).execute_if(dialect="sqlite"),
    DDL(
        "CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records "
        "BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END"
    ).execute_if(dialect="sqlite"),
    DDL(
        "CREATE OR REPLACE FUNCTION audit_records_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'audit records are append-only'; END $$"
    ).execute_if(dialect="postgresql"),
    DDL(
        "CREATE TRIGGER audit_records_append_only "
        "BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_records "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_records_append_only()"
    ).execute_if(dialect="postgresql"),
]
for _ddl in _APPEND_ONLY_DDL:
    event.listen(audit_records, "after_create", _ddl)
