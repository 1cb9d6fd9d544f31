"""A live Andon system for the chat tests, and reading its Server-Sent Events.

The real app (tests/api's ``LiveSystem``: uvicorn, the embedded simulated plant over OPC-UA,
DBOS, API keys) with a few of the demo plant's documents indexed by the real retrieval service,
a restricted one among them, and the real embedded model (Qwen2.5-Coder-1.5B, loaded on the
first question that needs it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from andon.settings import Settings
from assistant.llm import QWEN_CODER_1_5B, model_file
from simulator.server import endpoint_url, free_tcp_port
from tests.api.api_helpers import LiveSystem

ROOT = Path(__file__).resolve().parents[2]
# The app's model cache: reassembled once per machine, then reused (as test_plant_request).
MODELS = ROOT / "var" / "models"
CORPORA = ROOT / "corpora"
DOCUMENTS = (
    CORPORA / "manuals" / "press-3-manual.md",
    CORPORA / "lockout" / "press-3-loto.md",
    # Readable by maintenance and engineering only.
    CORPORA / "restricted" / "maint-press-3-bearing-replacement.md",
)
RESTRICTED_DOC = "maint-press-3-bearing-replacement"


def start_chat_system(data_dir: Path) -> LiveSystem:
    settings = Settings(
        data_dir=data_dir,
        opcua_url=endpoint_url("127.0.0.1", free_tcp_port()),
        api_host="127.0.0.1",
        api_port=free_tcp_port(),
        llm_model_file=model_file(QWEN_CODER_1_5B, MODELS),
        corpora=(),
        log_level="WARNING",
    )
    # Generous: the tests share 2 cores with whatever else runs (the app alone starts in seconds).
    live = LiveSystem.start(settings, start_timeout_s=300)
    try:
        report = live.run(live.app.state.retrieval.sync(DOCUMENTS), timeout=600)
        assert report.ok, report.errors
    except BaseException:
        live.stop()
        raise
    return live


def sse_events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event name, JSON data) of each event of a streamed response, as they arrive."""
    name, data = "message", []
    for line in response.iter_lines():
        if not line:
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:") :].removeprefix(" "))


def ask(
    live: LiveSystem, user: str, message: str, conversation_id: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Every event of one POST /chat, in order (asserting a 200 stream)."""
    body: dict[str, Any] = {"message": message}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    with live.client.stream(
        "POST", "/chat", json=body, headers=live.auth(user), timeout=600
    ) as response:
        assert response.status_code == 200, response.read().decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(sse_events(response))
