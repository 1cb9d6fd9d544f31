"""Opening one OPC-UA session to the plant, plain or Basic256Sha256 SignAndEncrypt."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

from asyncua import Client, ua
from asyncua.client.ua_client import UaClientState
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

from control.opcua.errors import DriverError, status_name
from control.opcua.pki import ensure_client_keypair

# Refusals that no retry will fix, with what to check.
LOGIN_REFUSALS = frozenset(
    {"BadUserAccessDenied", "BadIdentityTokenInvalid", "BadIdentityTokenRejected"}
)
CERTIFICATE_REFUSALS = frozenset(
    {
        "BadCertificateUntrusted",
        "BadCertificateInvalid",
        "BadSecurityChecksFailed",
        "BadSecurityPolicyRejected",
    }
)


@dataclass(frozen=True)
class SecurityConfig:
    """Basic256Sha256 + SignAndEncrypt with the control plane's certificate and a user login."""

    pki_dir: Path
    username: str
    password: str
    # Pin the plant's certificate; None trusts the one its endpoint list presents.
    server_cert: Path | None = None


async def open_client(
    url: str, security: SecurityConfig | None, timeout_s: float, watchdog_interval_s: float
) -> Client:
    """Connect and activate a session; DriverError (with the status code) if that fails."""
    # No auto_reconnect: the driver supervises and rebuilds whole sessions itself.
    client = Client(url, timeout=timeout_s, watchdog_intervall=watchdog_interval_s)
    try:
        if security is not None:
            pair = await ensure_client_keypair(security.pki_dir)
            client.application_uri = pair.app_uri
            client.set_user(security.username)
            client.set_password(security.password)
            await client.set_security(
                SecurityPolicyBasic256Sha256,
                certificate=pair.cert,
                private_key=pair.key,
                server_certificate=str(security.server_cert) if security.server_cert else None,
                mode=ua.MessageSecurityMode.SignAndEncrypt,
            )
        await client.connect()
    except ua.UaStatusCodeError as exc:
        await close_client(client, timeout_s)
        raise _refusal(url, status_name(exc.code)) from exc
    except (OSError, TimeoutError) as exc:
        await close_client(client, timeout_s)
        raise DriverError(f"cannot connect to {url}: {exc!r}", "BadConnectionClosed") from exc
    except ua.UaError as exc:  # e.g. no endpoint with the security asked for
        await close_client(client, timeout_s)
        raise DriverError(f"cannot connect to {url}: {exc}", "BadCommunicationError") from exc
    return client


def _refusal(url: str, status: str) -> DriverError:
    if status in LOGIN_REFUSALS:
        return DriverError(
            f"the plant refused the login ({status}): check user and password", status
        )
    if status in CERTIFICATE_REFUSALS:
        return DriverError(
            f"the plant refused the certificate ({status}): does it trust the control "
            "plane's certificate?",
            status,
        )
    return DriverError(f"cannot open a session at {url} ({status})", status)


async def close_client(client: Client, timeout_s: float) -> None:
    """Tear a session down without raising: the server may already be gone."""
    if client.state is UaClientState.CONNECTED:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(timeout_s):
                await client.disconnect()
                return
    # Dead transport: stop the client's background tasks and drop the socket; a
    # CloseSession request would only fail (and log a traceback).
    with contextlib.suppress(Exception):
        async with asyncio.timeout(timeout_s):
            await client.close_session()
    client.disconnect_socket()
