"""The OpenAI-compatible client against a real HTTP server speaking the protocol over loopback.

The server is a fake of vLLM (see fake_openai_server.py), acceptable only because vLLM itself
cannot run in this test suite; checking against a real vLLM server is a separate, later task.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from assistant.llm import ChatMessage, LLMError, OpenAICompatibleLLM, generation_schema

from .fake_openai_server import FakeServer, Script, free_port, running_server

MODEL = "Qwen/Qwen2.5-Coder-1.5B-Instruct"
MESSAGES = [
    ChatMessage(role="system", content="You draft maintenance work orders."),
    ChatMessage(role="user", content="press-3 main bearing is at 92 C."),
]


class WorkOrder(BaseModel):
    equipment: Literal["press-1", "press-3"]
    summary: str = Field(max_length=80)


ANSWER = WorkOrder(equipment="press-3", summary="Inspect the main bearing")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    yield from running_server()


@pytest.fixture
def fake(server: FakeServer) -> FakeServer:
    server.script = Script()
    server.requests.clear()
    server.streams_completed.clear()
    return server


@pytest.fixture
async def client(fake: FakeServer) -> AsyncIterator[OpenAICompatibleLLM]:
    llm = OpenAICompatibleLLM(fake.url, MODEL, api_key="secret-token", read_timeout_s=5)
    yield llm
    await llm.aclose()


async def collect(chunks: AsyncIterator[str]) -> list[str]:
    return [chunk async for chunk in chunks]


async def test_a_constrained_answer_is_requested_with_the_json_schema_and_validated(
    fake: FakeServer, client: OpenAICompatibleLLM
) -> None:
    fake.script = Script(content=ANSWER.model_dump_json())

    answer = await client.generate_json(MESSAGES, WorkOrder, max_tokens=200, temperature=0.1)

    assert answer.value == ANSWER
    assert isinstance(answer.value, WorkOrder)
    assert answer.raw == ANSWER.model_dump_json()
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (31, 17)
    assert answer.usage.elapsed_s > 0
    [request] = fake.requests
    assert request.authorization == "Bearer secret-token"
    assert request.body == {
        "model": MODEL,
        "messages": [message.model_dump() for message in MESSAGES],
        "max_tokens": 200,
        "temperature": 0.1,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "WorkOrder",
                "schema": generation_schema(WorkOrder),
                "strict": True,
            },
        },
    }


async def test_no_api_key_sends_no_authorization(fake: FakeServer) -> None:
    fake.script = Script(content=ANSWER.model_dump_json())
    llm = OpenAICompatibleLLM(fake.url + "/", MODEL)  # a trailing slash changes nothing
    try:
        await llm.generate_json(MESSAGES, WorkOrder, max_tokens=50)
    finally:
        await llm.aclose()

    assert fake.requests[0].authorization is None


async def test_an_unbounded_schema_is_refused_before_any_request(
    fake: FakeServer, client: OpenAICompatibleLLM
) -> None:
    class Essay(BaseModel):
        text: str

    with pytest.raises(ValueError, match=r"Essay\.text: string without max_length"):
        await client.generate_json(MESSAGES, Essay, max_tokens=50)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("content", "finish_reason", "expected"),
    [
        ('{"equipment": "press-3", "summ', "stop", "not a valid WorkOrder"),
        ('{"equipment": "press-9", "summary": "x"}', "stop", "not a valid WorkOrder"),
        ('{"equipment": "press-3", "summary": "Inspect', "length", "reached max_tokens=50"),
    ],
    ids=["invalid-json", "fails-validation", "cut-at-max-tokens"],
)
async def test_an_unusable_constrained_answer_is_an_llm_error(
    fake: FakeServer, client: OpenAICompatibleLLM, content: str, finish_reason: str, expected: str
) -> None:
    fake.script = Script(content=content, finish_reason=finish_reason)

    with pytest.raises(LLMError, match=expected):
        await client.generate_json(MESSAGES, WorkOrder, max_tokens=50)


@pytest.mark.parametrize(
    ("status", "error_body", "expected"),
    [
        (
            400,
            {"error": {"message": "max_tokens is too large", "type": "BadRequestError"}},
            "HTTP 400: max_tokens is too large",
        ),
        (
            404,
            {"object": "error", "message": "The model `x` does not exist.", "code": 404},
            "HTTP 404: The model `x` does not exist.",
        ),
        (422, {"detail": "field required"}, "HTTP 422: field required"),
        (503, "upstream overloaded", "HTTP 503: upstream overloaded"),
    ],
)
async def test_http_errors_carry_the_servers_message(
    fake: FakeServer, client: OpenAICompatibleLLM, status: int, error_body: object, expected: str
) -> None:
    fake.script = Script(status=status, error_body=error_body)

    with pytest.raises(LLMError, match=expected):
        await client.generate_json(MESSAGES, WorkOrder, max_tokens=50)
    with pytest.raises(LLMError, match=expected):
        await collect(client.stream_text(MESSAGES, max_tokens=50))


async def test_a_body_that_is_not_a_completion_is_an_llm_error(
    fake: FakeServer, client: OpenAICompatibleLLM
) -> None:
    fake.script = Script(body={"choices": []})

    with pytest.raises(LLMError, match="not a chat completion"):
        await client.generate_json(MESSAGES, WorkOrder, max_tokens=50)


async def test_a_refused_connection_is_an_llm_error_naming_the_server() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    llm = OpenAICompatibleLLM(url, MODEL)
    try:
        with pytest.raises(LLMError, match=rf"{url}: cannot connect"):
            await llm.generate_json(MESSAGES, WorkOrder, max_tokens=50)
        with pytest.raises(LLMError, match=rf"{url}: cannot connect"):
            await collect(llm.stream_text(MESSAGES, max_tokens=50))
    finally:
        await llm.aclose()


async def test_a_server_slower_than_the_read_timeout_is_an_llm_error(fake: FakeServer) -> None:
    fake.script = Script(content=ANSWER.model_dump_json(), delay_s=1.0)
    llm = OpenAICompatibleLLM(fake.url, MODEL, read_timeout_s=0.2)
    try:
        with pytest.raises(LLMError, match=r"no answer within 0.2 s"):
            await llm.generate_json(MESSAGES, WorkOrder, max_tokens=50)
    finally:
        await llm.aclose()


async def test_proxy_settings_in_the_environment_are_ignored(
    fake: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A dead proxy: a client that honoured it would fail instead of reaching the server.
    for variable in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(variable, f"http://127.0.0.1:{free_port()}")
    for variable in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(variable, raising=False)
    fake.script = Script(content=ANSWER.model_dump_json())
    llm = OpenAICompatibleLLM(fake.url, MODEL)
    try:
        answer = await llm.generate_json(MESSAGES, WorkOrder, max_tokens=50)
    finally:
        await llm.aclose()

    assert answer.value == ANSWER


async def test_text_streams_in_the_servers_chunks(
    fake: FakeServer, client: OpenAICompatibleLLM
) -> None:
    text = "Lock out press-3, then check the main bearing lubrication."
    fake.script = Script(content=text, piece_chars=7)

    chunks = await collect(client.stream_text(MESSAGES, max_tokens=120))

    assert chunks == [text[i : i + 7] for i in range(0, len(text), 7)]
    [request] = fake.requests
    assert request.body["stream"] is True
    assert request.body["max_tokens"] == 120
    assert "response_format" not in request.body


async def test_an_error_event_mid_stream_is_an_llm_error_after_the_text_so_far(
    fake: FakeServer, client: OpenAICompatibleLLM
) -> None:
    fake.script = Script(content="abcdefghijkl", piece_chars=4, error_after_pieces=2)
    received: list[str] = []

    with pytest.raises(LLMError, match="failed while streaming: engine died"):
        async for chunk in client.stream_text(MESSAGES, max_tokens=50):
            received.append(chunk)

    assert received == ["abcd", "efgh"]


async def test_a_stream_cut_before_done_is_an_llm_error(
    fake: FakeServer, client: OpenAICompatibleLLM
) -> None:
    fake.script = Script(content="partial answer", send_done=False)

    with pytest.raises(LLMError, match=r"without its closing \[DONE\] event"):
        await collect(client.stream_text(MESSAGES, max_tokens=50))


async def test_closing_a_stream_early_hangs_up_on_the_server(
    fake: FakeServer, client: OpenAICompatibleLLM
) -> None:
    # vLLM aborts a request whose client went away: that is what frees its GPU for others.
    fake.script = Script(content="x" * 200, piece_chars=1, chunk_gap_s=0.02)
    stream = client.stream_text(MESSAGES, max_tokens=300)

    assert await anext(stream) == "x"
    await stream.aclose()

    for _ in range(100):
        if fake.streams_completed:
            break
        await asyncio.sleep(0.05)
    assert fake.streams_completed == [False]


async def test_non_ascii_text_arrives_intact(fake: FakeServer, client: OpenAICompatibleLLM) -> None:
    text = "Température 92 °C – palier principal"
    fake.script = Script(content=text, piece_chars=3)

    assert "".join(await collect(client.stream_text(MESSAGES, max_tokens=50))) == text
