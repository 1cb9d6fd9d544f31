"""API keys: who is asking (user) and with which role, for every API call.

A key is sent as `X-API-Key: <key>` or `Authorization: Bearer <key>`; both are the same
secret. The keys file holds only the sha256 of each key (keys are 256-bit random, so a
plain hash suffices), with user, role, creation time and a revoked flag. The file is
written atomically with mode 0600 under an flock, and re-read when it changes on disk, so
`andon keys revoke` takes effect in a running API without a restart.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from control.actions.models import Requester

KEY_PREFIX = "andon_"
DEMO_USERS = {  # role id -> demo user created on an empty install
    "operator": "alice",
    "supervisor": "bob",
    "maintenance": "carol",
    "engineer": "dave",
    "admin": "root",
}
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_T = TypeVar("_T")


class KeyFileError(Exception):
    """The keys file exists but cannot be read."""


class UnknownRole(ValueError):
    pass


class UnknownKey(LookupError):
    pass


class IssuedKey(NamedTuple):
    user: str
    role: str
    key: str  # plaintext: show it once


class ApiKey(BaseModel):
    """One entry of the keys file; never holds the key itself."""

    model_config = ConfigDict(extra="forbid")
    id: str  # first 12 hex digits of sha256: names the key in listings and revoke
    sha256: str
    user: str
    role: str
    created_at: datetime
    revoked: bool = False
    revoked_at: datetime | None = None


class _KeysFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    keys: list[ApiKey] = []


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """`roles`: the plant model's role ids. When given, keys are only issued for those
    roles, and a key whose role has left the plant model no longer authenticates."""

    def __init__(self, path: Path, roles: Collection[str] | None = None) -> None:
        self.path = path
        self.roles = frozenset(roles) if roles is not None else None
        self._by_hash: dict[str, ApiKey] = {}
        self._stamp: tuple[int, int, int] | None = None

    def create(self, user: str, role: str) -> str:
        """Issue a key for user/role and return it; it is shown once and never stored."""
        self._check(user, role)
        key = f"{KEY_PREFIX}{secrets.token_urlsafe(32)}"
        self._modify(lambda doc: doc.keys.append(_entry(key, user, role)))
        return key

    def authenticate(self, key: str) -> Requester | None:
        if not key.startswith(KEY_PREFIX):
            return None
        self._refresh()
        digest = hash_key(key)
        entry = self._by_hash.get(digest)
        if entry is None or not hmac.compare_digest(entry.sha256, digest) or entry.revoked:
            return None
        if self.roles is not None and entry.role not in self.roles:
            return None
        return Requester(user=entry.user, role=entry.role)

    def revoke(self, key_or_id: str) -> ApiKey:
        """Revoke by key id (as listed) or by the key itself; raises UnknownKey."""
        wanted = hash_key(key_or_id) if key_or_id.startswith(KEY_PREFIX) else None

        def revoke(doc: _KeysFile) -> ApiKey:
            for entry in doc.keys:
                if entry.sha256 == wanted or entry.id == key_or_id:
                    if not entry.revoked:
                        entry.revoked, entry.revoked_at = True, datetime.now(UTC)
                    return entry
            raise UnknownKey(f"no API key {key_or_id!r}")

        return self._modify(revoke)

    def list(self) -> list[ApiKey]:
        self._refresh()
        return sorted(self._by_hash.values(), key=lambda entry: entry.created_at)

    def _check(self, user: str, role: str) -> None:
        if not _USER.fullmatch(user):
            raise ValueError(f"invalid user id {user!r}: letters, digits, _ . @ - (max 64)")
        if self.roles is not None and role not in self.roles:
            raise UnknownRole(f"unknown role {role!r}; roles: {', '.join(sorted(self.roles))}")

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._by_hash, self._stamp = {}, None
            return
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._by_hash = {entry.sha256: entry for entry in _read(self.path).keys}
            self._stamp = stamp

    def _modify(self, change: Callable[[_KeysFile], _T]) -> _T:
        with _locked(self.path):
            doc = _read(self.path)
            result = change(doc)
            _write(self.path, doc)
        self._stamp = None  # re-read on next use
        return result


def ensure_demo_keys(path: Path, roles: Collection[str]) -> list[IssuedKey]:
    """On an empty install, issue one key per role (alice/operator, bob/supervisor, ...).

    Returns [] when the keys file already has entries (revoked ones included), so the keys
    are printed once, on the first start.
    """
    store = KeyStore(path, roles)
    issued: list[IssuedKey] = []

    def add_demo_keys(doc: _KeysFile) -> None:
        if doc.keys:
            return
        for role in roles:
            user = DEMO_USERS.get(role, role)
            store._check(user, role)
            key = f"{KEY_PREFIX}{secrets.token_urlsafe(32)}"
            doc.keys.append(_entry(key, user, role))
            issued.append(IssuedKey(user, role, key))

    store._modify(add_demo_keys)
    return issued


def _entry(key: str, user: str, role: str) -> ApiKey:
    digest = hash_key(key)
    return ApiKey(id=digest[:12], sha256=digest, user=user, role=role, created_at=datetime.now(UTC))


def _read(path: Path) -> _KeysFile:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _KeysFile()
    try:
        return _KeysFile.model_validate_json(raw)
    except ValidationError as exc:
        raise KeyFileError(f"{path}: not a valid keys file ({exc.error_count()} errors)") from None


def _write(path: Path, doc: _KeysFile) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is masked by umask and ignored if tmp existed
        os.write(fd, doc.model_dump_json(indent=2).encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_name(f"{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
