"""The audit chain verifies, and reveals edits, deletions, reordering and forgeries."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from control.actions.models import ProposedBy, ProposerKind
from control.audit import GENESIS_HASH, AuditKind, AuditLog, AuditRecord
from control.audit.anchor import Anchor, AnchorError, HeadAnchor
from control.audit.records import record_hash

from .conftest import Database, tamper


async def _chain(log: AuditLog, n: int = 10) -> list[AuditRecord]:
    return [
        await log.append(
            AuditKind.write,
            actor="alice",
            role="operator",
            subject=f"press-{i % 2}",
            request_id=f"req-{i}",
            proposed_by=ProposedBy(kind=ProposerKind.model, name="llama-3"),
            reason="raise speed for the rush order",
            data={"tag": "speed", "value": 1.5 + i, "ok": True, "when": datetime.now(UTC)},
        )
        for i in range(1, n + 1)
    ]


async def test_chain_links_and_verifies(engine: AsyncEngine, database: Database) -> None:
    log = AuditLog(engine, database.anchor)
    records = await _chain(log)
    assert [r.seq for r in records] == list(range(1, 11))
    assert records[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in pairwise(records))

    report = await log.verify()
    assert report.ok, report.problem
    assert (report.records, report.head_seq, report.head_hash) == (10, 10, records[-1].hash)
    assert report.anchor is not None and report.anchor.seq == 10
    assert report.summary().startswith("OK: 10 records, head seq 10")


async def test_hash_is_sha256_of_canonical_json(engine: AsyncEngine) -> None:
    record = (await _chain(AuditLog(engine), 1))[0]
    body = record.model_dump(mode="json", exclude={"hash"})
    body["ts"] = record.ts.isoformat(timespec="microseconds")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert record.hash == hashlib.sha256(canonical).hexdigest()


async def test_empty_chain_is_ok(engine: AsyncEngine, database: Database) -> None:
    report = await AuditLog(engine, database.anchor).verify()
    assert report.ok
    assert (report.head_seq, report.head_hash, report.anchor) == (0, GENESIS_HASH, None)


async def test_records_are_append_only_in_the_database(engine: AsyncEngine) -> None:
    await _chain(AuditLog(engine), 2)
    for statement in ("UPDATE audit_records SET reason = 'x'", "DELETE FROM audit_records"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(statement))


async def test_detects_edited_record(engine: AsyncEngine, database: Database) -> None:
    log = AuditLog(engine, database.anchor)
    await _chain(log)
    await tamper(engine, "UPDATE audit_records SET reason = 'routine check' WHERE seq = 5")
    report = await log.verify()
    assert not report.ok
    assert (report.first_bad_seq, report.head_seq, report.records) == (5, 4, 4)
    assert "edited" in (report.problem or "")


async def test_detects_edited_data(engine: AsyncEngine, database: Database) -> None:
    log = AuditLog(engine, database.anchor)
    await _chain(log)
    await tamper(engine, "UPDATE audit_records SET data = '{\"value\": 0}' WHERE seq = 7")
    report = await log.verify()
    assert (report.ok, report.first_bad_seq) == (False, 7)


async def test_detects_deleted_middle_record(engine: AsyncEngine, database: Database) -> None:
    log = AuditLog(engine, database.anchor)
    await _chain(log)
    await tamper(engine, "DELETE FROM audit_records WHERE seq = 5")
    report = await log.verify()
    assert (report.ok, report.first_bad_seq) == (False, 5)
    assert "seq 5 is missing" in (report.problem or "")


async def test_detects_deleted_tail_via_anchor(engine: AsyncEngine, database: Database) -> None:
    log = AuditLog(engine, database.anchor)
    await _chain(log)
    await tamper(engine, "DELETE FROM audit_records WHERE seq >= 9")
    report = await log.verify()
    assert (report.ok, report.first_bad_seq, report.head_seq) == (False, 9, 8)
    assert "anchor saw seq 10" in (report.problem or "")


async def test_tail_deletion_is_invisible_without_anchor(engine: AsyncEngine) -> None:
    log = AuditLog(engine)  # why the anchor exists
    await _chain(log)
    await tamper(engine, "DELETE FROM audit_records WHERE seq >= 9")
    report = await log.verify()
    assert report.ok and report.anchor is None
    assert "tail truncation not checked" in report.summary()


async def test_detects_reordered_records(engine: AsyncEngine, database: Database) -> None:
    log = AuditLog(engine, database.anchor)
    await _chain(log)
    await tamper(
        engine,
        "UPDATE audit_records SET seq = -1 WHERE seq = 4",
        "UPDATE audit_records SET seq = 4 WHERE seq = 5",
        "UPDATE audit_records SET seq = 5 WHERE seq = -1",
    )
    report = await log.verify()
    assert (report.ok, report.first_bad_seq) == (False, 4)


async def test_detects_inserted_forged_record(engine: AsyncEngine, database: Database) -> None:
    log = AuditLog(engine, database.anchor)
    records = await _chain(log)
    # Make room after seq 5 and insert a record whose own hash and link are correct.
    await tamper(
        engine,
        "UPDATE audit_records SET seq = -seq WHERE seq > 5",
        "UPDATE audit_records SET seq = 1 - seq WHERE seq < 0",
    )
    await _insert_forged(engine, seq=6, prev_hash=records[4].hash)
    report = await log.verify()
    assert (report.ok, report.first_bad_seq) == (False, 7)


async def test_detects_rewritten_suffix_via_anchor(engine: AsyncEngine, database: Database) -> None:
    log = AuditLog(engine, database.anchor)
    records = await _chain(log)
    # Replace seq 10 by a forgery that chains correctly: only the anchor can tell.
    await tamper(engine, "DELETE FROM audit_records WHERE seq = 10")
    await _insert_forged(engine, seq=10, prev_hash=records[8].hash)
    report = await log.verify()
    assert (report.ok, report.first_bad_seq) == (False, 10)
    assert "rewritten" in (report.problem or "")


async def _insert_forged(engine: AsyncEngine, seq: int, prev_hash: str) -> None:
    fields = {
        "seq": seq,
        "ts": datetime.now(UTC),
        "kind": "approval",
        "actor": "mallory",
        "role": "supervisor",
        "subject": "press-1",
        "request_id": "req-x",
        "proposed_by": None,
        "reason": "approved",
        "data": {},
        "prev_hash": prev_hash,
    }
    digest = record_hash(fields)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO audit_records (seq, ts, kind, actor, role, subject, request_id,"
                " reason, data, prev_hash, hash) VALUES (:seq, :ts, :kind, :actor, :role,"
                " :subject, :request_id, :reason, '{}', :prev_hash, :hash)"
            ),
            {**fields, "ts": fields["ts"].replace(tzinfo=None), "hash": digest},
        )


async def test_corrupt_anchor_fails_verify(engine: AsyncEngine, database: Database) -> None:
    log = AuditLog(engine, database.anchor)
    await _chain(log, 3)
    database.anchor.write_text('{"seq": 3, "hash": "00", "check": "nope"}')
    report = await log.verify()
    assert not report.ok and "checksum" in (report.problem or "")
    await _chain(log, 1)  # a torn anchor is replaced by the next append
    assert (await log.verify()).ok


def test_anchor_only_moves_forward(tmp_path: Path) -> None:
    anchor = HeadAnchor(tmp_path / "a")
    assert anchor.read() is None
    anchor.advance(5, "b" * 64)
    anchor.advance(4, "a" * 64)
    assert anchor.read() == Anchor(5, "b" * 64)
    assert oct((tmp_path / "a").stat().st_mode & 0o777) == "0o600"
    (tmp_path / "a").write_text("garbage")
    with pytest.raises(AnchorError):
        anchor.read()


async def test_list_filters(engine: AsyncEngine) -> None:
    log = AuditLog(engine)
    start = datetime.now(UTC)
    await _chain(log, 6)
    await log.append(AuditKind.estop, actor="bob", role="supervisor", subject="line-1")
    assert [r.seq for r in await log.list(subject="press-1")] == [5, 3, 1]
    assert [r.seq for r in await log.list(kind=AuditKind.estop)] == [7]
    assert [r.seq for r in await log.list(request_id="req-2")] == [2]
    assert [r.seq for r in await log.list(limit=2)] == [7, 6]
    assert [r.seq for r in await log.list(limit=2, newest_first=False)] == [1, 2]
    assert len(await log.list(since=start)) == 7
    assert await log.list(since=datetime.now(UTC) + timedelta(seconds=1)) == []
    first = (await log.list(newest_first=False, limit=1))[0]
    assert first.proposed_by == ProposedBy(kind=ProposerKind.model, name="llama-3")
    assert first.data["value"] == 2.5 and first.ts.tzinfo is UTC
