"""A lean HTTP/1.1 keep-alive client for load generation: one connection, one request at a time.

The control benchmark runs client, API and plant on the same two cores, so the client's own
CPU is taken from the system it measures and, for a sequential request, added to the latency
it reports. httpx spends ~1.5-2 ms of CPU per request here; this client writes the request
bytes and parses only the status line, Content-Length and the body (~0.1 ms), as load
generators such as wrk do. It speaks only what the API answers: Content-Length bodies, no
chunked transfer coding, no redirects.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class WireError(Exception):
    """The server closed the connection or answered something this client does not parse."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self._reader, self._writer, self._host = reader, writer, host

    @classmethod
    async def open(cls, base_url: str) -> Connection:
        url = urlsplit(base_url)
        if url.scheme != "http" or url.hostname is None or url.port is None:
            raise WireError(f"need http://host:port, got {base_url!r}")
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        return cls(reader, writer, f"{url.hostname}:{url.port}")

    def request_bytes(self, method: str, path: str, body: Any, headers: dict[str, str]) -> bytes:
        """The whole request, to build once and send many times."""
        payload = json.dumps(body).encode()
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self._host}",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload

    async def send(self, request: bytes) -> Reply:
        self._writer.write(request)
        try:
            head = await self._reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            raise WireError("the server closed the connection without a reply") from None
        status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        length = None
        for line in header_lines:
            name, _, value = line.partition(":")
            match name.strip().lower():
                case "content-length":
                    length = int(value)
                case "transfer-encoding":
                    raise WireError(f"unsupported Transfer-Encoding: {value.strip()}")
        if length is None:
            raise WireError(f"no Content-Length in the reply to {request[:60]!r}")
        try:
            body = await self._reader.readexactly(length)
        except asyncio.IncompleteReadError:
            raise WireError("the server closed the connection inside a reply") from None
        return Reply(int(status_line.split(" ", 2)[1]), body)

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()
