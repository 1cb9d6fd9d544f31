"""Secure mode: Basic256Sha256 SignAndEncrypt with the control plane's certificate and a
user login; a wrong password or a missing login fails with a clear error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from control.opcua.driver import DriverError, PlantDriver, SecurityConfig
from control.plant.models import PlantModel
from simulator.security import SecuritySettings
from simulator.server import SimulatedPlant, free_tcp_port

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

USERS = {"andon-control": "control-secret", "andon-admin": "admin-secret"}


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def secure_simulator(plant: PlantModel, pki_dir: Path) -> AsyncIterator[SimulatedPlant]:
    security = SecuritySettings(pki_dir=pki_dir, users=USERS)
    async with SimulatedPlant(plant, port=free_tcp_port(), tick_s=None, security=security) as sim:
        yield sim


async def test_reads_and_writes_over_an_encrypted_session(
    plant: PlantModel, pki_dir: Path, secure_simulator: SimulatedPlant
) -> None:
    # Pin the plant's certificate rather than trusting what its endpoint list presents.
    security = SecurityConfig(
        pki_dir,
        "andon-control",
        USERS["andon-control"],
        server_cert=pki_dir / "simulator-cert.der",
    )
    async with PlantDriver(plant, secure_simulator.url, security=security) as driver:
        assert driver.connected
        assert (await driver.read_state(["press-3"])).assets["press-3"].tags["speed_spm"] == 20.0
        assert (await driver.write_setpoint("press-3", "speed_spm", 22.0)).value == 22.0


async def test_a_wrong_password_is_refused_clearly(
    plant: PlantModel, pki_dir: Path, secure_simulator: SimulatedPlant
) -> None:
    security = SecurityConfig(pki_dir, "andon-control", "guess")
    driver = PlantDriver(plant, secure_simulator.url, security=security)
    with pytest.raises(DriverError, match="check user and password") as refused:
        await driver.connect()
    assert refused.value.status == "BadUserAccessDenied"
    assert not driver.connected


async def test_a_certificate_the_plant_does_not_trust_is_refused(
    plant: PlantModel, tmp_path: Path, secure_simulator: SimulatedPlant
) -> None:
    stranger = SecurityConfig(tmp_path / "other-pki", "andon-control", USERS["andon-control"])
    with pytest.raises(DriverError, match="refused the certificate") as refused:
        await PlantDriver(plant, secure_simulator.url, security=stranger).connect()
    assert refused.value.status == "BadCertificateUntrusted"


async def test_an_anonymous_plain_session_is_refused(
    plant: PlantModel, secure_simulator: SimulatedPlant
) -> None:
    with pytest.raises(DriverError, match="No matching endpoints"):
        await PlantDriver(plant, secure_simulator.url).connect()
