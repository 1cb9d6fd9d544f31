"""Secure mode: Basic256Sha256 SignAndEncrypt, username/password users, pinned client certs.

Client certificates are pinned rather than accepted blindly: the server trusts exactly the
certificate files it is given, by default the control plane's own certificate from the
shared PKI directory (created there if missing, as control/opcua/pki.py would). Users must
still log in with a password; the certificate only proves which application connects.

asyncua lets a client open a session over an unsecured channel even when no such endpoint
is offered, so the login itself also checks the channel's certificate: no trusted
certificate (which a None channel never has), no session.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from asyncua import Server, ua
from asyncua.common.utils import Buffer
from asyncua.crypto.permission_rules import SimpleRoleRuleset, User, UserRole
from asyncua.server.user_managers import UserManager
from asyncua.ua.ua_binary import struct_from_binary
from asyncua.ua.uaerrors import BadCertificateUntrusted
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from control.opcua.pki import ensure_client_keypair, ensure_server_keypair

log = structlog.get_logger("simulator")

CONTROL_USER = "andon-control"
ADMIN_USER = "andon-admin"
# Embedded-demo defaults, used only when the environment sets no password.
DEMO_CONTROL_PASSWORD = "andon-demo-control"
DEMO_ADMIN_PASSWORD = "andon-demo-admin"


def users_from_env(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    return {
        CONTROL_USER: env.get("ANDON_OPCUA_PASSWORD") or DEMO_CONTROL_PASSWORD,
        ADMIN_USER: env.get("ANDON_SIM_ADMIN_PASSWORD") or DEMO_ADMIN_PASSWORD,
    }


@dataclass(frozen=True)
class SecuritySettings:
    pki_dir: Path
    users: Mapping[str, str] = field(default_factory=users_from_env)  # name -> password
    admins: frozenset[str] = frozenset({ADMIN_USER})  # may call the simulator's methods
    # Client certificates (DER) to trust; empty: the control plane's certificate in pki_dir.
    trusted_certs: tuple[Path, ...] = ()


async def secure_server(
    server: Server, settings: SecuritySettings, admin_methods: frozenset[ua.NodeId]
) -> None:
    """Configure a not yet started server for secure mode."""
    pair = await ensure_server_keypair(settings.pki_dir)
    await server.load_certificate(pair.cert)
    await server.load_private_key(pair.key)
    trusted = settings.trusted_certs or ((await ensure_client_keypair(settings.pki_dir)).cert,)
    trust = TrustList(trusted)
    demo = {DEMO_CONTROL_PASSWORD, DEMO_ADMIN_PASSWORD} & set(settings.users.values())
    if demo:
        log.warning(
            "simulator.demo_passwords", hint="set ANDON_OPCUA_PASSWORD, ANDON_SIM_ADMIN_PASSWORD"
        )
    server.set_security_policy(
        [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt],
        permission_ruleset=AdminOnlyMethods(admin_methods, settings.admins),
    )
    server.set_identity_tokens([ua.UserNameIdentityToken])
    server.iserver.set_user_manager(PasswordUsers(settings.users, trust))
    server.set_certificate_validator(trust.validate)


class TrustList:
    """The pinned client certificates, re-read at each check so a renewed one counts."""

    def __init__(self, paths: tuple[Path, ...]) -> None:
        self._paths = paths

    def trusts(self, der: bytes | None) -> bool:
        return der is not None and any(p.is_file() and p.read_bytes() == der for p in self._paths)

    async def validate(self, cert: x509.Certificate, _app: ua.ApplicationDescription) -> None:
        """asyncua's certificate validator hook, run when a session is created."""
        if not self.trusts(cert.public_bytes(Encoding.DER)):
            raise BadCertificateUntrusted()


class PasswordUsers(UserManager):
    def __init__(self, users: Mapping[str, str], trust: TrustList) -> None:
        self._users = dict(users)
        self._trust = trust

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        """For a username token asyncua passes the secure channel's client certificate."""
        expected = self._users.get(username or "")
        if expected is None or password is None or not self._trust.trusts(certificate):
            return None
        if not hmac.compare_digest(expected.encode(), password.encode()):
            return None
        return User(role=UserRole.User, name=username)


class AdminOnlyMethods(SimpleRoleRuleset):
    """asyncua's role rules, plus: only admins may call the given methods."""

    _CALL = ua.NodeId(ua.ObjectIds.CallRequest_Encoding_DefaultBinary)

    def __init__(self, methods: frozenset[ua.NodeId], admins: frozenset[str]) -> None:
        super().__init__()
        self._methods = methods
        self._admins = admins

    def check_validity(self, user: User, action_type_id: ua.NodeId, body: Buffer) -> bool:
        if not super().check_validity(user, action_type_id, body):
            return False
        if action_type_id != self._CALL or user.name in self._admins:
            return True
        # Decode a copy: the request handler decodes the body itself afterwards.
        params = struct_from_binary(ua.CallParameters, body.copy())
        return not any(call.MethodId in self._methods for call in params.MethodsToCall)
