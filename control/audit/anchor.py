"""A copy of the chain head kept outside the database, to reveal tail truncation.

A hash chain shows edits, deletions and reordering inside it, but not records cut off at
its end: the shorter chain is still valid. So after each append commits, the new head
(seq, hash) is written to a small file beside the data (the caller picks the path):

* Written only after the records it names are durably committed (SQLite audit commits use
  synchronous=FULL), so the anchor never names a record the database could lose.
* Only ever advanced: writers take an exclusive flock and skip a seq not above the stored
  one, so concurrent processes cannot move it back.
* One fixed-size pwrite at offset 0, not synced: readers see it at once, and after a power
  loss the anchor can only lag the database (its records were fsynced first), which is the
  safe direction. An fsync here would double the cost of every audited action. A checksum
  turns a torn write into a readable error instead of a wrong anchor.

The anchor is therefore a lower bound of the head: `AuditLog.verify` reads it before the
chain and reports records missing when the chain ends before it (deleted tail, or a
database restored from an older backup), or a rewritten chain when the record at its seq
has another hash. It guards against whoever can change the database but not this file.
A missing file only means "not checked" (new host, first start). Records appended after
the anchor by someone who can write the database are beyond what a chain and an anchor can
show (that needs signatures or an off-site copy of the anchor).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

ANCHOR_FILENAME = "audit.anchor"
_SIZE = 160  # bytes; every write has this length so a shorter one never leaves old tail bytes


class AnchorError(Exception):
    """The anchor file exists but cannot be read as an anchor."""


@dataclass(frozen=True, slots=True)
class Anchor:
    seq: int
    hash: str


def _check(seq: int, hash_: str) -> str:
    return hashlib.sha256(f"{seq}:{hash_}".encode()).hexdigest()[:16]


class HeadAnchor:
    def __init__(self, path: Path) -> None:
        self.path = path

    def advance(self, seq: int, hash_: str) -> None:
        """Record (seq, hash) as the head unless the stored head is already further on.

        Blocking (flock): call it from a worker thread in async code.
        """
        line = json.dumps({"seq": seq, "hash": hash_, "check": _check(seq, hash_)})
        payload = line.encode("ascii").ljust(_SIZE - 1) + b"\n"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current = _parse(os.pread(fd, 4096, 0))
            except AnchorError:
                current = None  # a write torn by a crash: replace it rather than fail appends
            if current is not None and current.seq >= seq:
                return
            os.pwrite(fd, payload, 0)
        finally:
            os.close(fd)  # also releases the flock

    def read(self) -> Anchor | None:
        """The stored head, or None when there is no anchor file yet."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            raw = os.pread(fd, 4096, 0)
        finally:
            os.close(fd)
        try:
            return _parse(raw)
        except AnchorError as exc:
            raise AnchorError(f"{self.path}: {exc}") from None


def _parse(raw: bytes) -> Anchor | None:
    if not raw:
        return None
    try:
        doc = json.loads(raw)
        anchor = Anchor(seq=int(doc["seq"]), hash=str(doc["hash"]))
        ok = doc["check"] == _check(anchor.seq, anchor.hash)
    except (ValueError, KeyError, TypeError):
        raise AnchorError("not an audit anchor (unreadable)") from None
    if not ok:
        raise AnchorError("audit anchor checksum mismatch (torn or edited)")
    return anchor
