"""Offline certificates for OPC-UA Basic256Sha256: made locally, never fetched."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography.x509.oid import ExtendedKeyUsageOID

SERVER_APP_URI = "urn:andon:simulator"
CLIENT_APP_URI = "urn:andon:control"


@dataclass(frozen=True)
class KeyPair:
    cert: Path  # DER
    key: Path  # PEM
    app_uri: str


async def ensure_keypair(pki_dir: Path, name: str, app_uri: str, server: bool) -> KeyPair:
    """Create (or reuse, if still valid) a self-signed application certificate and key."""
    await asyncio.to_thread(pki_dir.mkdir, parents=True, exist_ok=True)
    pair = KeyPair(
        cert=pki_dir / f"{name}-cert.der", key=pki_dir / f"{name}-key.pem", app_uri=app_uri
    )
    use = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    await setup_self_signed_certificate(
        pair.key, pair.cert, app_uri, "localhost", [use], {"organizationName": "Andon"}
    )
    return pair


async def ensure_server_keypair(pki_dir: Path) -> KeyPair:
    return await ensure_keypair(pki_dir, "simulator", SERVER_APP_URI, server=True)


async def ensure_client_keypair(pki_dir: Path) -> KeyPair:
    return await ensure_keypair(pki_dir, "control", CLIENT_APP_URI, server=False)
