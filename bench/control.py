"""Control round trip: REST action -> decision -> OPC-UA write -> read-back -> response.

Runs the real thing as a user would: the simulated plant and the API each in their own
process on loopback, embedded defaults (SQLite), an operator's API key. Besides latency and
throughput it reports the CPU time the API, the plant and the benchmark's own client spent
per action (from /proc, so on Linux only): on a small machine that, not the network, bounds
both.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import Progress

from bench.stats import percentile
from bench.wire import Connection
from control.auth.keys import KeyStore
from control.plant.loader import load_plant
from simulator.server import free_tcp_port

# (asset, tag, two values within max_step of each other and inside the safe range)
Target = tuple[str, str, tuple[float, float]]
TARGETS: tuple[Target, ...] = (
    ("conveyor-2", "speed_mps", (0.8, 0.9)),
    ("press-3", "speed_spm", (20.0, 22.0)),
    ("feeder-2", "feed_length_mm", (420.0, 440.0)),
    ("press-1", "speed_spm", (30.0, 32.0)),
    ("feeder-1", "feed_length_mm", (300.0, 320.0)),
)


@dataclass(frozen=True)
class System:
    base: str  # the API's base URL
    key: str  # an operator's API key
    pids: dict[str, int]  # "api", "plant" and "client" (this benchmark's own) processes


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used so far; None where /proc cannot tell."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def cpu_per_action(
    pids: dict[str, int], into: dict[str, float], phase: str
) -> Iterator[list[float]]:
    """The block appends its actions' latencies to the list it gets; afterwards each
    process's CPU ms per action goes to `into[f"{name}_cpu_ms_per_action_{phase}"]`."""
    done: list[float] = []
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    yield done
    for name, pid in pids.items():
        start, end = before[name], cpu_seconds(pid)
        if start is not None and end is not None and done:
            into[f"{name}_cpu_ms_per_action_{phase}"] = (end - start) * 1000 / len(done)


@contextmanager
def running_system(data_dir: Path) -> Iterator[System]:
    """Start simulator and API as separate processes and yield them, once ready."""
    sim_port, api_port = free_tcp_port(), free_tcp_port()
    env = {
        **os.environ,
        "ANDON_DATA_DIR": str(data_dir),
        "ANDON_OPCUA_URL": f"opc.tcp://127.0.0.1:{sim_port}/andon/",
        "ANDON_LOG_LEVEL": "WARNING",
    }
    plant = load_plant()
    keys = KeyStore(data_dir / "api_keys.json", roles={r.id for r in plant.roles})
    operator = keys.create("bench-operator", "operator")
    andon = [sys.executable, "-m", "andon.cli"]
    sim = subprocess.Popen([*andon, "sim", "run", "--port", str(sim_port)], env=env)
    api = subprocess.Popen([*andon, "api", "--port", str(api_port)], env=env)
    base = f"http://127.0.0.1:{api_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or api.poll() is not None or sim.poll() is not None:
                raise RuntimeError("the system did not become ready within 60 s")
            time.sleep(0.2)
        # The client's CPU too: on two cores it competes with the API and the plant.
        yield System(base, operator, {"api": api.pid, "plant": sim.pid, "client": os.getpid()})
    finally:
        for proc in (api, sim):  # the API first, so it does not log the plant going away
            proc.terminate()
            proc.wait(timeout=20)


async def _timed(connection: Connection, request: bytes, what: str) -> float:
    started = time.perf_counter()
    reply = await connection.send(request)
    elapsed = (time.perf_counter() - started) * 1000
    if reply.status != 200:
        raise RuntimeError(f"{what} failed: {reply.status} {reply.body[:300]!r}")
    return elapsed


def _action_requests(connection: Connection, key: str, target: Target) -> tuple[bytes, bytes]:
    """The two requests that move the target's tag between its values, built once."""
    asset, tag, (first, second) = target
    headers = {"Authorization": f"Bearer {key}"}

    def request(value: float) -> bytes:
        action = {"command": "set_parameter", "asset": asset, "tag": tag, "value": value}
        body = {"action": action, "reason": "benchmark"}
        return connection.request_bytes("POST", "/actions", body, headers)

    return request(first), request(second)


async def _measure(
    system: System, n_seq: int, n_conc: int, clients: int, n_estop: int, progress: Progress
) -> tuple[list[float], list[float], float, list[float], dict[str, float]]:
    cpu: dict[str, float] = {}
    connection = await Connection.open(system.base)
    try:
        task = progress.add_task("sequential actions", total=n_seq)
        requests = _action_requests(connection, system.key, TARGETS[0])
        with cpu_per_action(system.pids, cpu, "sequential") as sequential:
            for i in range(n_seq):
                sequential.append(await _timed(connection, requests[i % 2], "action"))
                progress.advance(task)

        task = progress.add_task(f"concurrent actions ({clients} clients)", total=n_conc)
        counter = itertools.count()

        async def worker(target: Target) -> list[float]:
            own = await Connection.open(system.base)
            requests = _action_requests(own, system.key, target)
            out = []
            try:
                while next(counter) < n_conc:
                    out.append(await _timed(own, requests[len(out) % 2], "action"))
                    progress.advance(task)
            finally:
                await own.close()
            return out

        with cpu_per_action(system.pids, cpu, "concurrent") as concurrent:
            started = time.perf_counter()
            per_worker = await asyncio.gather(
                *(worker(TARGETS[i % len(TARGETS)]) for i in range(clients))
            )
            wall = time.perf_counter() - started
            concurrent += [x for xs in per_worker for x in xs]

        # A fresh connection: the server closes one idle for its keep-alive timeout (5 s).
        await connection.close()
        connection = await Connection.open(system.base)
        task = progress.add_task("emergency stops", total=n_estop)
        estop = connection.request_bytes(
            "POST",
            "/lines/line-1/emergency-stop",
            {"reason": "benchmark"},
            {"Authorization": f"Bearer {system.key}"},
        )
        with cpu_per_action(system.pids, cpu, "estop") as estops:
            for _ in range(n_estop):
                estops.append(await _timed(connection, estop, "e-stop"))
                progress.advance(task)
    finally:
        await connection.close()
    return sequential, concurrent, wall, estops, cpu


def run(quick: bool, console: Console) -> dict[str, float | int | str]:
    n_seq, n_conc, n_estop = (100, 200, 50) if quick else (1000, 3000, 300)
    clients = len(TARGETS)
    with (
        tempfile.TemporaryDirectory(prefix="andon-bench-") as tmp,
        running_system(Path(tmp)) as system,
        Progress(console=console, transient=True) as progress,
    ):
        sequential, concurrent, wall, estops, cpu = asyncio.run(
            _measure(system, n_seq, n_conc, clients, n_estop, progress)
        )
    return {
        "control_roundtrip_p50_ms": statistics.median(sequential),
        "control_roundtrip_p99_ms": percentile(sequential, 0.99),
        "control_actions_per_s": len(concurrent) / wall,
        "control_concurrent_p99_ms": percentile(concurrent, 0.99),
        "estop_p50_ms": statistics.median(estops),
        "estop_p99_ms": percentile(estops, 0.99),
        "sequential_actions": len(sequential),
        "concurrent_actions": len(concurrent),
        "concurrent_clients": clients,
        "estops": len(estops),
        **cpu,
    }
