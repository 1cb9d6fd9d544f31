"""The control benchmark runs end to end, and its lean HTTP client parses what it claims to."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bench.wire import Connection, WireError

ROOT = Path(__file__).resolve().parents[2]
ISSUE_KEYS = {
    "control_roundtrip_p50_ms",
    "control_roundtrip_p99_ms",
    "control_actions_per_s",
    "estop_p99_ms",
}


@pytest.mark.slow
def test_quick_run_measures_every_action_and_writes_the_issue_keys(tmp_path: Path) -> None:
    out = tmp_path / "control.json"
    subprocess.run(
        [sys.executable, "-m", "bench", "control", "--quick", "--json", str(out)],
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    results = json.loads(out.read_text())
    assert results.keys() >= ISSUE_KEYS
    assert (results["sequential_actions"], results["concurrent_actions"]) == (100, 200)
    assert results["estops"] == 50
    assert results["control_roundtrip_p50_ms"] <= results["control_roundtrip_p99_ms"]
    assert results["control_actions_per_s"] > 0


# The API never answers chunked or hangs up mid-reply, so these replies come from a small
# asyncio server written for the test: the client's error paths cannot be reached otherwise.
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _ask(handler: Handler) -> bytes | WireError:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connection = await Connection.open(f"http://127.0.0.1:{port}")
    try:
        reply = await connection.send(connection.request_bytes("POST", "/x", {"a": 1}, {}))
        return reply.status.to_bytes(2, "big") + reply.body
    except WireError as exc:
        return exc
    finally:
        await connection.close()
        server.close()
        await server.wait_closed()


def _replying(raw: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        writer.write(raw)
        await writer.drain()
        writer.close()

    return handler


def test_a_content_length_reply_is_parsed_whole() -> None:
    got = asyncio.run(_ask(_replying(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 4\r\n\r\nnope")))
    assert got == (403).to_bytes(2, "big") + b"nope"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnope\r\n0\r\n\r\n", "chunked"),
        (b"HTTP/1.1 200 OK\r\n\r\n", "no Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "inside a reply"),
        (b"", "without a reply"),
    ],
)
def test_replies_it_does_not_parse_are_errors_not_results(raw: bytes, message: str) -> None:
    got = asyncio.run(_ask(_replying(raw)))
    assert isinstance(got, WireError)
    assert message in str(got)
