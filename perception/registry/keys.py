"""Ed25519 keys that sign model artifacts, and the trust list that verifies them.

The repository ships a DEMO key pair (perception/keys/): its private half is public, so
anyone can sign with it. It exists so a fresh install runs the shipped demo models; a real
site makes its own pair (`andon models keygen`) and trusts only that public key
(ANDON_MODEL_TRUSTED_KEYS).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEYS_DIR = Path(__file__).resolve().parents[1] / "keys"
DEMO_SIGNING_KEY = KEYS_DIR / "demo-signing-key.pem"  # DEMO ONLY: the private key is public
DEMO_PUBLIC_KEY = KEYS_DIR / "demo-signing-key.pub"


class SigningKeyError(Exception):
    """A key file is missing, unreadable or not an Ed25519 key."""


def key_id(public_key: Ed25519PublicKey) -> str:
    """Stable id of a public key: the first 16 hex digits of sha256 over its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """An unencrypted PKCS#8 PEM Ed25519 private key."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"cannot read signing key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A PEM (SubjectPublicKeyInfo) Ed25519 public key."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"cannot read public key {path}: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{path} is not an Ed25519 public key")
    return key


def trusted_keys(paths: Iterable[Path]) -> dict[str, Ed25519PublicKey]:
    """The trust list: key id -> public key, for each PEM public key file."""
    keys = (load_public_key(path) for path in paths)
    return {key_id(key): key for key in keys}


def generate_key_pair(private_path: Path, public_path: Path) -> str:
    """Write a new key pair (private key readable by the owner only); returns its key id."""
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for path in (private_path, public_path):
        if path.exists():
            raise SigningKeyError(f"{path} exists; not overwriting a key")
        path.parent.mkdir(parents=True, exist_ok=True)
    private_path.touch(mode=0o600)
    private_path.write_bytes(private_pem)
    public_path.write_bytes(public_pem)
    return key_id(key.public_key())
