"""Append-only, hash-chained audit trail of every request, decision, write and override."""

from control.audit.anchor import ANCHOR_FILENAME, Anchor, AnchorError
from control.audit.log import AuditLog, VerifyReport
from control.audit.records import GENESIS_HASH, AuditKind, AuditRecord

__all__ = [
    "ANCHOR_FILENAME",
    "GENESIS_HASH",
    "Anchor",
    "AnchorError",
    "AuditKind",
    "AuditLog",
    "AuditRecord",
    "VerifyReport",
]
