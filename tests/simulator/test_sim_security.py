"""Secure mode: Basic256Sha256 SignAndEncrypt only, password users, pinned certificates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from typer.testing import CliRunner

from control.opcua.pki import CLIENT_APP_URI, KeyPair, ensure_client_keypair, ensure_keypair
from control.plant.models import PlantModel
from simulator.cli import app
from simulator.security import SecuritySettings
from simulator.server import SimulatedPlant, free_tcp_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

USERS = {"andon-control": "control-pw", "andon-admin": "admin-pw"}


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def secure_sim(plant_model: PlantModel, pki_dir: Path) -> AsyncIterator[SimulatedPlant]:
    security = SecuritySettings(pki_dir, users=USERS)
    async with SimulatedPlant(
        plant_model, port=free_tcp_port(), tick_s=None, security=security
    ) as plant:
        yield plant


async def secure_client(url: str, pair: KeyPair, user: str | None, password: str) -> Client:
    client = Client(url, timeout=5)
    client.application_uri = pair.app_uri
    await client.set_security(
        SecurityPolicyBasic256Sha256,
        str(pair.cert),
        str(pair.key),
        mode=ua.MessageSecurityMode.SignAndEncrypt,
    )
    if user:
        client.set_user(user)
        client.set_password(password)
    return client


async def test_only_basic256sha256_sign_and_encrypt_is_offered(secure_sim: SimulatedPlant) -> None:
    client = Client(secure_sim.url)
    endpoints = await client.connect_and_get_server_endpoints()
    assert {(e.SecurityPolicyUri, e.SecurityMode) for e in endpoints} == {
        (SecurityPolicyBasic256Sha256.URI, ua.MessageSecurityMode.SignAndEncrypt)
    }
    tokens = {t.TokenType for e in endpoints for t in e.UserIdentityTokens}
    assert tokens == {ua.UserTokenType.UserName}


async def test_unsecured_client_is_refused(secure_sim: SimulatedPlant) -> None:
    with pytest.raises(ua.UaError):
        async with Client(secure_sim.url, timeout=5):
            pass


async def test_session_over_an_unsecured_channel_cannot_log_in(secure_sim: SimulatedPlant) -> None:
    """asyncua would serve a session on a None channel; the login must refuse it."""
    client = Client(secure_sim.url, timeout=5)
    await client.connect_socket()
    try:
        await client.send_hello()
        await client.open_secure_channel()
        await client.uaclient.create_session(
            ua.CreateSessionParameters(
                ClientDescription=ua.ApplicationDescription(
                    ApplicationUri=CLIENT_APP_URI, ApplicationType=ua.ApplicationType.Client
                ),
                EndpointUrl=secure_sim.url,
                SessionName="sneaky",
                ClientNonce=b"0" * 32,
                RequestedSessionTimeout=60_000,
            )
        )
        token = ua.UserNameIdentityToken(
            PolicyId="username", UserName="andon-control", Password=b"control-pw"
        )
        with pytest.raises(ua.uaerrors.BadUserAccessDenied):
            await client.uaclient.activate_session(
                ua.ActivateSessionParameters(UserIdentityToken=token)
            )
    finally:
        client.disconnect_socket()


async def test_anonymous_and_wrong_password_are_refused(
    secure_sim: SimulatedPlant, pki_dir: Path
) -> None:
    pair = await ensure_client_keypair(pki_dir)
    with pytest.raises(ua.uaerrors.BadIdentityTokenRejected):
        async with await secure_client(secure_sim.url, pair, None, ""):
            pass
    with pytest.raises(ua.uaerrors.BadUserAccessDenied):
        async with await secure_client(secure_sim.url, pair, "andon-control", "guess"):
            pass


async def test_untrusted_client_certificate_is_refused(
    secure_sim: SimulatedPlant, tmp_path: Path
) -> None:
    stranger = await ensure_keypair(tmp_path, "stranger", CLIENT_APP_URI, server=False)
    with pytest.raises(ua.uaerrors.BadCertificateUntrusted):
        async with await secure_client(secure_sim.url, stranger, "andon-control", "control-pw"):
            pass


async def test_control_user_runs_the_plant_but_cannot_inject_faults(
    secure_sim: SimulatedPlant, pki_dir: Path
) -> None:
    pair = await ensure_client_keypair(pki_dir)
    async with await secure_client(secure_sim.url, pair, "andon-control", "control-pw") as c:
        assert await c.get_node("ns=2;s=press-3").call_method("2:Start", "") == "done"
        assert await c.get_node("ns=2;s=press-3.State").read_value() == "running"
        with pytest.raises(ua.uaerrors.BadUserAccessDenied):
            await c.get_node("ns=2;s=simulator").call_method(
                "2:InjectFault", "feeder_jam", "feeder-2", 1.0
            )
    assert secure_sim.process.active_faults() == ()


async def test_admin_injects_faults_from_the_cli(secure_sim: SimulatedPlant, pki_dir: Path) -> None:
    args = ["fault", "sensor_miscalibration", "--asset", "press-1", "--severity", "0.5"]
    args += ["--url", secure_sim.url, "--secure", "--pki-dir", str(pki_dir)]
    env = {"ANDON_SIM_ADMIN_PASSWORD": "admin-pw"}
    result = await asyncio.to_thread(CliRunner().invoke, app, args, env=env)
    assert result.exit_code == 0, result.output
    assert secure_sim.process.active_faults() == ("sensor_miscalibration:press-1:0.5",)
