"""`andon sim ...` against a running simulator: one-line results, clean errors."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest
from asyncua import Client
from click.testing import Result
from typer.testing import CliRunner

from simulator.cli import app
from simulator.server import SimulatedPlant, free_tcp_port

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def invoke(*args: str) -> Result:
    """Run the CLI in a thread: it runs its own event loop, the simulator runs in ours."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


def said(result: Result) -> str:
    """The CLI's own line: the in-process simulator's log lines land in the same capture."""
    return result.output.splitlines()[-1]


async def test_fault_command_injects_a_fault(sim: SimulatedPlant) -> None:
    result = await invoke(
        "fault", "bearing_wear", "--asset", "press-3", "--severity", "2", "--url", sim.url
    )
    assert result.exit_code == 0, result.output
    assert said(result) == "injected bearing_wear on press-3 (severity 2)"
    assert sim.process.active_faults() == ("bearing_wear:press-3:2",)
    result = await invoke("clear-faults", "--url", sim.url)
    assert result.exit_code == 0
    assert said(result) == "cleared all faults"
    assert sim.process.active_faults() == ()


async def test_refusal_is_one_clear_line(sim: SimulatedPlant) -> None:
    result = await invoke("fault", "feeder_jam", "--asset", "press-9", "--url", sim.url)
    assert result.exit_code == 1
    assert said(result) == "error: refused: BadInvalidArgument: unknown asset 'press-9'"


async def test_unreachable_simulator_is_one_clear_line() -> None:
    url = f"opc.tcp://127.0.0.1:{free_tcp_port()}/andon/"
    result = await invoke("clear-faults", "--url", url)
    assert result.exit_code == 1
    assert result.output.startswith(f"error: cannot reach the simulator at {url}")
    assert len(result.output.splitlines()) == 1


async def test_restart_command(sim: SimulatedPlant) -> None:
    result = await invoke("restart", "--down", "0.2", "--url", sim.url)
    assert result.exit_code == 0, result.output
    assert said(result) == f"simulator at {sim.url} restarting, back in 0.2 s"
    async with asyncio.timeout(5):  # wait until it is back, for the tests that follow
        while True:
            try:
                async with Client(sim.url, timeout=1) as client:
                    assert await client.get_node("ns=2;s=press-3.State").read_value() == "stopped"
                    return
            except OSError:
                await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_run_serves_until_sigterm() -> None:
    port = free_tcp_port()
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "simulator.cli", "run", "--port", str(port)),
        stderr=asyncio.subprocess.PIPE,
        env=os.environ | {"ANDON_LOG_JSON": "true"},
    )
    try:
        async with asyncio.timeout(20):
            while True:
                try:
                    async with Client(f"opc.tcp://127.0.0.1:{port}/andon/") as client:
                        node = client.get_node("ns=2;s=press-3.State")
                        assert await node.read_value() == "stopped"
                        break
                except OSError:
                    await asyncio.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            _, stderr = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert b'"event": "simulator.started"' in stderr
    assert b'"event": "simulator.stopped"' in stderr
