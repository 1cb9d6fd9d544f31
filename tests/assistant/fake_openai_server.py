"""A small real HTTP server speaking the OpenAI chat-completions protocol, as vLLM serves it.

This is a fake of vLLM, acceptable only because vLLM itself cannot run in this test suite (no GPU,
no model server on the test machines): it checks our client's side of the protocol, not vLLM's
behaviour. A check against a real vLLM server is a separate, later task.

Each test scripts the next answer (``Script``); the server records every request it gets.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse


@dataclass
class Script:
    """What the server answers next."""

    content: str = ""
    finish_reason: str = "stop"
    status: int = 200
    error_body: Any = None  # JSON-encoded unless it is a str
    delay_s: float = 0.0
    body: Any = None  # replaces the whole completion body when set
    # Streaming: the content is sent in pieces of this many characters, chunk_gap_s apart.
    piece_chars: int = 4
    chunk_gap_s: float = 0.0
    error_after_pieces: int | None = None
    send_done: bool = True


@dataclass
class Recorded:
    body: dict[str, Any]
    authorization: str | None


@dataclass
class FakeServer:
    url: str = ""
    script: Script = field(default_factory=Script)
    requests: list[Recorded] = field(default_factory=list)
    # Per streamed request: True once every piece was sent, False if the client went away first.
    streams_completed: list[bool] = field(default_factory=list)


def _completion(model: str, script: Script) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": script.content},
                "finish_reason": script.finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 31, "completion_tokens": 17, "total_tokens": 48},
    }


def _event(data: Any) -> str:
    return f"data: {json.dumps(data)}\n\n"


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None = None) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model}
    return _event({**chunk, "choices": [choice]})


def build_app(server: FakeServer) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        body = await request.json()
        server.requests.append(Recorded(body, request.headers.get("authorization")))
        script = server.script
        await asyncio.sleep(script.delay_s)
        if script.status >= 400:
            if isinstance(script.error_body, str):
                return PlainTextResponse(script.error_body, status_code=script.status)
            return JSONResponse(script.error_body, status_code=script.status)
        if body.get("stream"):
            return StreamingResponse(_stream(body["model"], script), media_type="text/event-stream")
        return JSONResponse(script.body or _completion(body["model"], script))

    async def _stream(model: str, script: Script) -> AsyncIterator[str]:
        completed = False
        try:
            yield ": keep-alive comment, ignored by clients\n\n"
            yield _chunk(model, {"role": "assistant", "content": ""})
            text = script.content
            pieces = [
                text[i : i + script.piece_chars] for i in range(0, len(text), script.piece_chars)
            ]
            for index, piece in enumerate(pieces):
                if index == script.error_after_pieces:
                    yield _event(
                        {"error": {"message": "engine died", "type": "InternalServerError"}}
                    )
                    return
                yield _chunk(model, {"content": piece})
                await asyncio.sleep(script.chunk_gap_s)
            yield _chunk(model, {}, script.finish_reason)
            if script.send_done:
                yield "data: [DONE]\n\n"
            completed = True
        finally:
            server.streams_completed.append(completed)

    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def running_server() -> Iterator[FakeServer]:
    """Serves on a free loopback port in a background thread until the generator is closed."""
    server = FakeServer()
    config = uvicorn.Config(
        build_app(server), host="127.0.0.1", port=free_port(), log_level="error"
    )
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uvicorn_server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake OpenAI server did not start")
        time.sleep(0.01)
    server.url = f"http://127.0.0.1:{config.port}/v1"
    try:
        yield server
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=10)
