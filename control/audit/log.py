"""The append-only, hash-chained audit log.

Record n stores prev_hash = hash of record n-1 (64 zeros for seq 1) and hash = sha256 of
its own canonical JSON including prev_hash, so an edited, deleted, inserted or reordered
record breaks the chain at that point. See `anchor` for the tail.

Appends are serialised so the chain never forks: an asyncio.Lock between tasks of one
process, and between processes a database lock held for the whole read-head-then-insert
transaction (PostgreSQL: a transaction-scoped advisory lock per schema; SQLite:
BEGIN IMMEDIATE). The primary key on seq refuses a fork even if a lock were bypassed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Executable, Text, cast, insert, select, text
from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from control.actions.models import ProposedBy
from control.audit.anchor import Anchor, AnchorError, HeadAnchor
from control.audit.records import (
    GENESIS_HASH,
    AuditKind,
    AuditRecord,
    canonical_json,
    record_hash,
)
from control.audit.tables import audit_records as t
from control.db import run_transaction, write_lock

# Advisory lock key space "ANDO"; the second key is the schema, so schemas do not contend.
_PG_LOCK = text("SELECT pg_advisory_xact_lock(1095648335, hashtext(current_schema()))")


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    records: int  # records checked
    head_seq: int  # last record that checked out (0 for an empty or broken-at-1 chain)
    head_hash: str
    anchor: Anchor | None  # None: no anchor file, tail truncation not checked
    first_bad_seq: int | None = None
    problem: str | None = None

    def summary(self) -> str:
        if not self.ok:
            where = f" at seq {self.first_bad_seq}" if self.first_bad_seq else ""
            return f"TAMPERED{where}: {self.problem}"
        anchor = (
            f"anchor seq {self.anchor.seq} matches"
            if self.anchor
            else "no anchor: tail truncation not checked"
        )
        return (
            f"OK: {self.records} records, head seq {self.head_seq} hash {self.head_hash} ({anchor})"
        )


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One record of a batch for `AuditLog.append_many`."""

    kind: AuditKind | str
    data: Mapping[str, Any] | None = None


# What a batch's waiter gets: its records and the row its change returned; ([], None) when
# the change matched no row and nothing was written, (records, None) without a change.
_Outcome = tuple[list[AuditRecord], Row[Any] | None]
# A statement RETURNING the one row it changes, and its parameters: built once with bind
# parameters, a statement's SQL is compiled once (building one per call costs more CPU than
# running it).
Change = tuple[Executable, Mapping[str, Any]]
_HEAD = select(t.c.seq, t.c.hash).order_by(t.c.seq.desc()).limit(1)
_INSERT = insert(t)


@dataclass(frozen=True, slots=True)
class _Batch:
    fields: list[dict[str, Any]]  # the records, not chained yet
    change: Change | None
    done: asyncio.Future[_Outcome]


class AuditLog:
    def __init__(self, engine: AsyncEngine, anchor_path: Path | None = None) -> None:
        self._engine = engine
        self._anchor = HeadAnchor(anchor_path) if anchor_path else None
        # Group commit: batches waiting for the next commit, and the task committing them.
        self._waiting: list[_Batch] = []
        self._flusher: asyncio.Task[None] | None = None
        # Shared with the other SQLite writers of this process (see control.db.write_lock).
        self._lock = write_lock(engine) if engine.dialect.name == "sqlite" else asyncio.Lock()

    async def append(
        self,
        kind: AuditKind | str,
        *,
        actor: str,
        role: str,
        subject: str | None = None,
        request_id: str | None = None,
        proposed_by: ProposedBy | None = None,
        reason: str = "",
        data: Mapping[str, Any] | None = None,
    ) -> AuditRecord:
        """Append one record and return it. `kind` is an AuditKind (or its value); `data`
        must be JSON-able (models, enums and datetimes are converted)."""
        (record,) = await self.append_many(
            [AuditEntry(kind, data)],
            actor=actor,
            role=role,
            subject=subject,
            request_id=request_id,
            proposed_by=proposed_by,
            reason=reason,
        )
        return record

    async def append_many(
        self,
        entries: Sequence[AuditEntry],
        *,
        actor: str,
        role: str,
        subject: str | None = None,
        request_id: str | None = None,
        proposed_by: ProposedBy | None = None,
        reason: str = "",
    ) -> list[AuditRecord]:
        """Append consecutive records sharing who/what/why; returns once they are durable.

        Group commit: batches that arrive while another commit is in flight are written
        together in the next one, so concurrent requests share one fsync.
        """
        fields = _fields(entries, actor, role, subject, request_id, proposed_by, reason)
        records, _ = await self._enqueue(fields, change=None)
        return records

    async def append_with_change(
        self,
        change: Change,
        entries: Sequence[AuditEntry],
        *,
        actor: str,
        role: str,
        subject: str | None = None,
        request_id: str | None = None,
        proposed_by: ProposedBy | None = None,
        reason: str = "",
    ) -> tuple[Row[Any], list[AuditRecord]] | None:
        """Run `change` (a statement RETURNING the one row it changes) and append `entries`
        in the same transaction; when `change` matches no row, neither happens: None.

        A state change and the records that tell of it are then never apart, and doing
        the pair again (a workflow replayed after a crash) changes and appends nothing.
        """
        fields = _fields(entries, actor, role, subject, request_id, proposed_by, reason)
        records, row = await self._enqueue(fields, change)
        return None if row is None else (row, records)

    async def _enqueue(self, fields: list[dict[str, Any]], change: Change | None) -> _Outcome:
        batch = _Batch(fields, change, asyncio.get_running_loop().create_future())
        self._waiting.append(batch)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await batch.done

    async def _flush(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                outcomes = await self._commit(group)
            except Exception as exc:  # every waiter learns its records were not written
                for batch in group:
                    batch.done.set_exception(exc)
                continue
            for batch, outcome in zip(group, outcomes, strict=True):
                batch.done.set_result(outcome)

    async def _commit(self, group: list[_Batch]) -> list[_Outcome]:
        async with self._lock:
            outcomes, _ = await run_transaction(
                self._engine,
                partial(_chain, [(b.fields, b.change) for b in group]),
                exclusive=True,
                then=self._advance_anchor,
            )
        return outcomes

    def _advance_anchor(self, chained: tuple[list[_Outcome], tuple[int, str] | None]) -> None:
        head = chained[1]
        if self._anchor and head is not None:
            self._anchor.advance(*head)

    async def list(
        self,
        *,
        subject: str | None = None,
        kind: AuditKind | None = None,
        request_id: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[AuditRecord]:
        query = select(t).order_by(t.c.seq.desc() if newest_first else t.c.seq).limit(limit)
        if subject is not None:
            query = query.where(t.c.subject == subject)
        if kind is not None:
            query = query.where(t.c.kind == AuditKind(kind).value)
        if request_id is not None:
            query = query.where(t.c.request_id == request_id)
        if since is not None:
            query = query.where(t.c.ts >= since)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [AuditRecord.model_validate(_from_row(row, row.data)) for row in rows]

    async def verify(self) -> VerifyReport:
        """Walk the whole chain in seq order and compare its end with the anchor."""
        try:
            # Read before the chain: the anchor only names committed records, so a chain
            # read afterwards must reach it even while appends go on.
            anchor = self._anchor.read() if self._anchor else None
        except AnchorError as exc:
            return VerifyReport(False, 0, 0, GENESIS_HASH, anchor=None, problem=str(exc))
        walk = _ChainWalk()
        async with self._engine.connect() as conn:
            try:
                await _walk(conn, walk)
            except (ValueError, TypeError) as exc:  # a value no longer decodes (e.g. bad ts)
                walk.fail(walk.seq + 1, f"record after seq {walk.seq} is unreadable: {exc}")
            if walk.problem is None and anchor is not None:
                await _check_anchor(conn, walk, anchor)
        return VerifyReport(
            ok=walk.problem is None,
            records=walk.count,
            head_seq=walk.seq,
            head_hash=walk.hash,
            anchor=anchor,
            first_bad_seq=walk.bad_seq,
            problem=walk.problem,
        )


def _chain(
    batches: list[tuple[list[dict[str, Any]], Change | None]], conn: Connection
) -> tuple[list[_Outcome], tuple[int, str] | None]:
    """In one transaction: apply the batches' changes, chain the records of every batch
    whose change took (or that has none) onto the current head and insert them.

    Returns each batch's outcome and the new head (None when nothing was appended).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_LOCK)
    head = conn.execute(_HEAD).first()
    seq, prev_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    now = datetime.now(UTC)
    outcomes: list[_Outcome] = []
    records: list[dict[str, Any]] = []
    for fields, change in batches:
        row = None
        if change is not None:
            row = conn.execute(*change).first()
            if row is None:  # nothing to change: nothing to tell either
                outcomes.append(([], None))
                continue
        mine = []
        for partial_fields in fields:
            record = {"seq": seq + 1, "ts": now, **partial_fields, "prev_hash": prev_hash}
            record["hash"] = record_hash(record)
            seq, prev_hash = record["seq"], record["hash"]
            mine.append(record)
        records += mine
        outcomes.append(([AuditRecord.model_validate(r) for r in mine], row))
    if not records:
        return outcomes, None
    conn.execute(_INSERT, [_to_columns(r) for r in records])
    return outcomes, (seq, prev_hash)


class _ChainWalk:
    def __init__(self) -> None:
        self.count = 0
        self.seq = 0
        self.hash = GENESIS_HASH
        self.bad_seq: int | None = None
        self.problem: str | None = None

    def fail(self, seq: int, problem: str) -> None:
        self.bad_seq, self.problem = seq, problem

    def step(self, fields: dict[str, Any], stored_hash: str) -> bool:
        seq, expected = fields["seq"], self.seq + 1
        if seq != expected:
            self.fail(expected, f"seq {expected} is missing (next is {seq}): records deleted")
        elif fields["prev_hash"] != self.hash:
            self.fail(
                seq,
                f"prev_hash does not match the hash of seq {self.seq}: "
                "records deleted, inserted or reordered",
            )
        elif record_hash(fields) != stored_hash:
            self.fail(seq, "contents do not match the stored hash: record edited")
        else:
            self.count, self.seq, self.hash = self.count + 1, seq, stored_hash
            return True
        return False


async def _walk(conn: AsyncConnection, walk: _ChainWalk) -> None:
    # data as raw text: a tampered value that is not JSON is reported, not raised.
    columns = [c for c in t.c if c.name != "data"]
    query = select(*columns, cast(t.c.data, Text).label("data_text")).order_by(t.c.seq)
    result = await conn.stream(query.execution_options(yield_per=2000))
    async for row in result:
        fields = _from_row(row, data=_loads_or_text(row.data_text))
        if not walk.step(fields, row.hash):
            break
    await result.close()


async def _check_anchor(conn: AsyncConnection, walk: _ChainWalk, anchor: Anchor) -> None:
    if anchor.seq > walk.seq:
        walk.fail(
            walk.seq + 1,
            f"the chain ends at seq {walk.seq} but the anchor saw seq {anchor.seq}: "
            "records at the end were deleted (or the database restored from an older backup)",
        )
        return
    stored = (await conn.execute(select(t.c.hash).where(t.c.seq == anchor.seq))).scalar_one()
    if stored != anchor.hash:
        walk.fail(anchor.seq, "hash differs from the anchor: the chain was rewritten")


def _fields(
    entries: Sequence[AuditEntry],
    actor: str,
    role: str,
    subject: str | None,
    request_id: str | None,
    proposed_by: ProposedBy | None,
    reason: str,
) -> list[dict[str, Any]]:
    """The records of a batch as columns, all but their place in the chain."""
    common = {
        "actor": actor,
        "role": role,
        "subject": subject,
        "request_id": request_id,
        "proposed_by": proposed_by.model_dump(mode="json") if proposed_by else None,
        "reason": reason,
    }
    fields = []
    for entry in entries:
        # Exactly what reading a record back gives (string keys, lists), or ValueError.
        data = json.loads(canonical_json(to_jsonable_python(entry.data or {})))
        fields.append({**common, "kind": AuditKind(entry.kind).value, "data": data})
    return fields


def _loads_or_text(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _to_columns(fields: dict[str, Any]) -> dict[str, Any]:
    columns = {key: value for key, value in fields.items() if key != "proposed_by"}
    proposed = fields["proposed_by"] or {}
    columns["proposed_by_kind"] = proposed.get("kind")
    columns["proposed_by_name"] = proposed.get("name")
    return columns


def _from_row(row: Row[Any], data: Any) -> dict[str, Any]:
    proposed = (
        {"kind": row.proposed_by_kind, "name": row.proposed_by_name}
        if row.proposed_by_kind is not None
        else None
    )
    return {
        "seq": row.seq,
        "ts": row.ts,
        "kind": row.kind,
        "actor": row.actor,
        "role": row.role,
        "subject": row.subject,
        "request_id": row.request_id,
        "proposed_by": proposed,
        "reason": row.reason,
        "data": data,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }
