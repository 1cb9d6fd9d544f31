"""Calling a running simulator's control methods as an OPC-UA client (for `andon sim ...`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

from control.opcua.pki import CLIENT_APP_URI, ensure_client_keypair
from simulator.address_space import SIMULATOR_NODE
from simulator.security import ADMIN_USER, users_from_env

# The site namespace is registered right after the server's own, so it is always ns=2.
PLANT_NS = 2
TIMEOUT_S = 5.0


class SimulatorUnreachable(Exception):
    """No OPC-UA session could be opened with the simulator."""


class SimulatorRefused(Exception):
    """The simulator answered with a bad status code."""


@dataclass(frozen=True)
class SimulatorConnection:
    url: str
    pki_dir: Path  # where the client certificate is, in secure mode
    secure: bool = False
    user: str = ADMIN_USER
    password: str | None = None  # None: from the environment, as the server reads it

    async def call(self, method: str, *args: ua.Variant) -> str:
        """Call `simulator.<method>`; returns its result text or raises one of the above."""
        client = Client(self.url, timeout=TIMEOUT_S)
        client.session_timeout = 60_000  # one call; also below the server's cap, no warning
        try:
            if self.secure:
                await self._secure(client)
            await client.connect()
        except ua.UaStatusCodeError as exc:
            raise SimulatorRefused(f"login refused: {type(exc).__name__}") from None
        except (OSError, TimeoutError, ua.UaError) as exc:
            raise SimulatorUnreachable(f"cannot reach the simulator at {self.url}: {exc}") from None
        try:
            request = ua.CallMethodRequest(
                ObjectId=ua.NodeId(SIMULATOR_NODE, PLANT_NS),
                MethodId=ua.NodeId(f"{SIMULATOR_NODE}.{method}", PLANT_NS),
                InputArguments=list(args),
            )
            (result,) = await client.uaclient.call([request])
        except ua.UaStatusCodeError as exc:
            raise SimulatorRefused(f"{type(exc).__name__}: {exc}") from None
        finally:
            await client.disconnect()
        if not result.StatusCode.is_good():
            # The plant puts its reason in the one output argument of a refusal.
            name = result.StatusCode.name
            reason = result.OutputArguments[0].Value if result.OutputArguments else None
            raise SimulatorRefused(f"{name}: {reason}" if reason else name)
        return str(result.OutputArguments[0].Value)

    async def _secure(self, client: Client) -> None:
        pair = await ensure_client_keypair(self.pki_dir)
        client.application_uri = CLIENT_APP_URI
        await client.set_security(
            SecurityPolicyBasic256Sha256,
            certificate=str(pair.cert),
            private_key=str(pair.key),
            mode=ua.MessageSecurityMode.SignAndEncrypt,
        )
        client.set_user(self.user)
        password = self.password
        if password is None:
            password = users_from_env().get(self.user, "")
        client.set_password(password)
