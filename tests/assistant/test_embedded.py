"""The embedded llama.cpp backend, for real, with SmolLM2-135M: small enough to be fast.

The tiny model's answers are often wrong, so these tests check what the backend guarantees, not
what the model knows: constrained output always parses and validates, text streams, generations
run one at a time, and a closed stream frees the model.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from assistant.llm import SMOLLM2_135M, ChatMessage, EmbeddedLLM, LLMError, model_file

MODELS = Path(__file__).resolve().parents[2] / "var" / "models"  # the app's cache; unused here
PLANT = (
    "Plant kettering-stamping. Equipment: feeder-1 and press-1 (line-1 blanking); feeder-2 coil "
    "feeder, press-3 400 t press, conveyor-2 transfer conveyor, vision-2 inspection (line-2)."
)


class Check(BaseModel):
    item: str = Field(max_length=30)


class Triage(BaseModel):
    equipment: Literal["feeder-1", "press-1", "feeder-2", "press-3", "conveyor-2", "vision-2"]
    severity: Literal["info", "warning", "alarm"]
    summary: str = Field(max_length=60)
    checks: list[Check] = Field(max_length=2)
    stop_line: bool


class Unbounded(BaseModel):
    checks: list[str] = Field(max_length=3)  # the list is bounded, its strings are not


REQUESTS = [
    "press-3 main bearing temperature is 92 C and rising.",
    "The vision station on line 2 rejects every part since the lamp was changed.",
    "Coil feeder feeder-2 reports a strip jam.",
]


def ask(text: str) -> list[ChatMessage]:
    return [
        ChatMessage(role="system", content=f"{PLANT} Triage the operator's report as JSON."),
        ChatMessage(role="user", content=text),
    ]


@pytest.fixture(scope="module")
def llm() -> Iterator[EmbeddedLLM]:
    model = EmbeddedLLM(model_file(SMOLLM2_135M, MODELS), threads=2, context_tokens=1024)
    yield model
    asyncio.run(model.aclose())


async def collect(chunks: AsyncIterator[str]) -> list[str]:
    return [chunk async for chunk in chunks]


@pytest.mark.parametrize("request_text", REQUESTS)
async def test_constrained_output_always_parses_and_validates(
    llm: EmbeddedLLM, request_text: str
) -> None:
    answer = await llm.generate_json(ask(request_text), Triage, max_tokens=300)

    assert isinstance(answer.value, Triage)
    assert Triage.model_validate_json(answer.raw) == answer.value
    assert len(answer.value.summary) <= 60
    assert answer.usage.prompt_tokens > 20
    assert 0 < answer.usage.completion_tokens <= 300
    assert answer.usage.elapsed_s > 0


async def test_without_the_grammar_the_same_model_answers_no_valid_json(llm: EmbeddedLLM) -> None:
    # Shows the grammar, not the model, is what makes the answers above parse.
    text = "".join(await collect(llm.stream_text(ask(REQUESTS[0]), max_tokens=100)))

    with pytest.raises(ValueError):
        Triage.model_validate_json(text)


async def test_sampling_with_temperature_still_respects_the_schema(llm: EmbeddedLLM) -> None:
    for _ in range(2):
        answer = await llm.generate_json(ask(REQUESTS[0]), Triage, max_tokens=300, temperature=1.2)
        assert isinstance(answer.value, Triage)


class Poem(BaseModel):
    poem: str = Field(max_length=200)


async def test_strings_hold_no_raw_line_breaks_even_when_asked_for(llm: EmbeddedLLM) -> None:
    # llama-cpp-python's schema grammar admits raw control characters inside strings, which is
    # not JSON; seen here: the 135M model wrote a raw newline into a poem's string.
    ask_poem = [
        ChatMessage(role="system", content="Answer in JSON."),
        ChatMessage(
            role="user",
            content="Write a four-line poem about a press, with line breaks between the lines.",
        ),
    ]
    for _ in range(6):
        answer = await llm.generate_json(ask_poem, Poem, max_tokens=120, temperature=1.0)
        assert not any(ord(ch) < 0x20 for ch in answer.value.poem)


async def test_an_answer_cut_by_max_tokens_is_an_llm_error(llm: EmbeddedLLM) -> None:
    with pytest.raises(LLMError, match="reached max_tokens=8 before its JSON was complete"):
        await llm.generate_json(ask(REQUESTS[0]), Triage, max_tokens=8)


async def test_a_prompt_longer_than_the_context_is_an_llm_error(llm: EmbeddedLLM) -> None:
    flood = "press-3 bearing temperature reading. " * 400

    with pytest.raises(LLMError, match="exceed context window"):
        await llm.generate_json(ask(flood), Triage, max_tokens=50)


async def test_an_unbounded_schema_is_refused_before_generating(llm: EmbeddedLLM) -> None:
    with pytest.raises(ValueError, match=r"Unbounded\.checks\[\]: string without max_length"):
        await llm.generate_json(ask(REQUESTS[0]), Unbounded, max_tokens=50)


async def test_text_streams_in_several_chunks(llm: EmbeddedLLM) -> None:
    messages = [ChatMessage(role="user", content="Explain in two sentences what a press does.")]

    chunks = await collect(llm.stream_text(messages, max_tokens=60))

    assert len(chunks) > 5
    assert all(chunks)
    assert len("".join(chunks).split()) > 5


async def test_a_second_generation_waits_for_the_first(llm: EmbeddedLLM) -> None:
    first, second = await asyncio.gather(
        llm.generate_json(ask(REQUESTS[0]), Triage, max_tokens=300),
        llm.generate_json(ask(REQUESTS[1]), Triage, max_tokens=300),
    )

    # Queued behind the first for all of its run: they did not overlap.
    assert first.usage.wait_s < 0.1
    assert second.usage.wait_s >= first.usage.elapsed_s - 0.05


async def test_a_generation_waits_for_a_stream_in_progress(llm: EmbeddedLLM) -> None:
    messages = [ChatMessage(role="user", content="List ten safety rules for a stamping press.")]
    stream = llm.stream_text(messages, max_tokens=120)
    await anext(stream)  # the stream now holds the model

    submitted = time.perf_counter()
    waiting = asyncio.create_task(llm.generate_json(ask(REQUESTS[2]), Triage, max_tokens=300))
    rest = await collect(stream)
    stream_left_s = time.perf_counter() - submitted
    answer = await waiting

    assert len(rest) > 10, "the stream must still have work to do for this check to mean much"
    assert answer.usage.wait_s >= stream_left_s - 0.05
    assert isinstance(answer.value, Triage)


async def test_closing_a_stream_frees_the_model_at_once(llm: EmbeddedLLM) -> None:
    messages = [ChatMessage(role="user", content="Write a long story about a stamping press.")]
    started = time.perf_counter()
    full = await collect(llm.stream_text(messages, max_tokens=200))
    full_s = time.perf_counter() - started
    assert len(full) > 100, "the comparison below needs a long stream"

    stream = llm.stream_text(messages, max_tokens=200)
    await anext(stream)
    waiting = asyncio.create_task(llm.generate_json(ask(REQUESTS[0]), Triage, max_tokens=300))
    await asyncio.sleep(0)  # queue the generation behind the stream
    await stream.aclose()
    answer = await waiting

    assert answer.usage.wait_s < full_s / 4


async def test_a_request_cancelled_while_queued_never_runs(llm: EmbeddedLLM) -> None:
    messages = [ChatMessage(role="user", content="List ten safety rules for a stamping press.")]
    stream = llm.stream_text(messages, max_tokens=60)
    await anext(stream)
    queued = asyncio.create_task(llm.generate_json(ask(REQUESTS[0]), Triage, max_tokens=300))
    await asyncio.sleep(0.05)  # let it reach the queue
    queued.cancel()
    await collect(stream)

    answer = await llm.generate_json(ask(REQUESTS[1]), Triage, max_tokens=300)

    assert queued.cancelled()
    # Had the cancelled request run after the stream, this one would have waited for it.
    assert answer.usage.wait_s < 0.1


async def test_the_event_loop_stays_free_while_the_model_works(llm: EmbeddedLLM) -> None:
    generation = asyncio.create_task(llm.generate_json(ask(REQUESTS[1]), Triage, max_tokens=300))
    ticks = 0
    while not generation.done():
        await asyncio.sleep(0.01)
        ticks += 1
    answer = await generation

    # A blocked loop would tick once; a free one ticks about every 10 ms (slack for busy CPUs).
    assert answer.usage.elapsed_s > 0.2
    assert ticks >= answer.usage.elapsed_s / 0.01 / 8


async def test_loading_and_generating_open_no_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    model = EmbeddedLLM(model_file(SMOLLM2_135M, MODELS), threads=1, context_tokens=512)
    try:
        answer = await model.generate_json(ask(REQUESTS[0]), Triage, max_tokens=300)
        await collect(model.stream_text(ask(REQUESTS[0]), max_tokens=20))
    finally:
        await model.aclose()

    assert isinstance(answer.value, Triage)
    assert attempts == []


def test_the_native_library_links_no_network_code() -> None:
    # llama.cpp can be built with libcurl to fetch models; this build must not be.
    import llama_cpp

    libraries = Path(llama_cpp.__file__).parent / "lib"
    for library in libraries.glob("*.so"):
        linked = library.read_bytes()
        assert b"libcurl" not in linked, library
        assert b"libssl" not in linked, library


def test_threads_must_be_positive() -> None:
    with pytest.raises(ValueError, match="threads must be at least 1"):
        EmbeddedLLM(model_file(SMOLLM2_135M, MODELS), threads=0)
