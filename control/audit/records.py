"""Audit record contract and the hash that chains records together."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from control.actions.models import ProposedBy

GENESIS_HASH = "0" * 64  # prev_hash of seq 1


class AuditKind(StrEnum):
    request = "request"  # a plan was asked for
    decision = "decision"  # allowed, denied or needs approval, and why
    approval = "approval"  # approved or rejected by a second person
    write = "write"  # a value or command sent to the plant
    readback = "readback"  # what the plant reported after a write
    result = "result"  # how a request ended: executed, failed, rejected, expired
    estop = "estop"
    override = "override"  # manual override engaged or released
    work_order = "work_order"
    quality_hold = "quality_hold"  # held parts released or scrapped
    model = "model"  # perception model promoted, rolled back or put in shadow
    auth = "auth"  # failed logins, key created or revoked
    fault = "fault"  # injected or detected faults
    system = "system"  # start, stop, configuration changes


class AuditRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    ts: datetime
    kind: AuditKind
    actor: str  # user id, or "system"
    role: str
    subject: str | None = None  # asset, line or work order id
    request_id: str | None = None
    proposed_by: ProposedBy | None = None  # the person, rule or model that proposed it
    reason: str = ""
    data: dict[str, Any]
    prev_hash: str
    hash: str


def canonical_json(value: Any) -> bytes:
    # Sorted keys, no whitespace, ASCII only: one byte string per value on every platform.
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def canonical_ts(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def record_hash(fields: Mapping[str, Any]) -> str:
    """sha256 hex over the canonical JSON of every record field except `hash`.

    `fields` holds plain values: ts as a datetime, proposed_by as {"kind", "name"} or None.
    """
    body = {key: value for key, value in fields.items() if key != "hash"}
    body["ts"] = canonical_ts(body["ts"])
    return hashlib.sha256(canonical_json(body)).hexdigest()
