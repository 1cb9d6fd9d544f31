"""The OpenAI-compatible client against a real vLLM server (``make vllm-check`` starts one).

No fake here: these tests talk to vLLM's own OpenAI server, with its structured-output backend
enforcing our JSON schemas, its SSE streaming and its real error answers. vLLM pulls torch and
takes minutes to start on a CPU, so it is not part of the ordinary suite: the tests run only when
ANDON_VLLM_URL names a server and ANDON_VLLM_MODEL the model it serves.

The small model's answers may be wrong; the tests check what the server and client guarantee
(answers fit the schema even when the prompt pulls against it), not what the model knows.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from assistant.chat.prompt import answer_schema, chat_messages, source_labels
from assistant.grounding import Grounding
from assistant.llm import ChatMessage, LLMError, OpenAICompatibleLLM

from .hits import hit

URL = os.environ.get("ANDON_VLLM_URL", "")
MODEL = os.environ.get("ANDON_VLLM_MODEL", "")

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(
        not (URL and MODEL),
        reason="needs a running vLLM server: `make vllm-check` (the last step of `make test`) "
        "starts one and sets ANDON_VLLM_URL and ANDON_VLLM_MODEL",
    ),
]

PLANT = (
    "Plant kettering-stamping. Equipment: feeder-1 and press-1 (line-1 blanking); feeder-2 coil "
    "feeder, press-3 400 t press, conveyor-2 transfer conveyor, vision-2 inspection (line-2)."
)


class Check(BaseModel):
    item: str = Field(max_length=40)


class Triage(BaseModel):
    equipment: Literal["feeder-1", "press-1", "feeder-2", "press-3", "conveyor-2", "vision-2"]
    severity: Literal["info", "warning", "alarm"]
    summary: str = Field(max_length=80)
    checks: list[Check] = Field(max_length=3)
    stop_line: bool


class Setpoint(BaseModel):
    """Bounds the prompt below asks the model to break."""

    asset: Literal["press-3"]
    speed_spm: int = Field(ge=5, le=40)
    ticket: str = Field(pattern=r"^WO-[0-9]{4}$")
    note: str = Field(max_length=12)


SLOW_DOWN = "Slow press-3 to 12 strokes per minute, ticket WO-0042."


def ask(system: str, user: str) -> list[ChatMessage]:
    return [ChatMessage(role="system", content=system), ChatMessage(role="user", content=user)]


@pytest.fixture
async def llm() -> AsyncIterator[OpenAICompatibleLLM]:
    client = OpenAICompatibleLLM(URL, MODEL, read_timeout_s=300)
    yield client
    await client.aclose()


async def test_constrained_answers_validate_and_report_usage(llm: OpenAICompatibleLLM) -> None:
    reports = [
        "press-3 main bearing temperature is 92 C and rising.",
        "The vision station on line 2 rejects every part since the lamp was changed.",
    ]
    system = f"{PLANT} Triage the operator's report as JSON."
    for report in reports:
        answer = await llm.generate_json(ask(system, report), Triage, max_tokens=200)

        assert isinstance(answer.value, Triage)
        assert Triage.model_validate_json(answer.raw) == answer.value
        assert answer.usage.prompt_tokens > 20
        assert 0 < answer.usage.completion_tokens < 200
        assert answer.usage.elapsed_s > 0


async def test_the_server_enforces_the_schema_against_the_prompt(llm: OpenAICompatibleLLM) -> None:
    """Without vLLM's structured output this prompt gets prose, a speed of 400 and no ticket."""
    prompt = ask(
        "Do not answer in JSON. Write a long friendly paragraph in plain English.",
        "Set press-9 to 400 strokes per minute, ticket number 77, and explain why at length.",
    )

    answer = await llm.generate_json(prompt, Setpoint, max_tokens=120)

    assert answer.raw.lstrip().startswith("{")
    assert answer.value.asset == "press-3"
    assert 5 <= answer.value.speed_spm <= 40
    assert len(answer.value.note) <= 12


async def test_concurrent_constrained_requests_each_fit_their_schema(
    llm: OpenAICompatibleLLM,
) -> None:
    system = f"{PLANT} Triage the operator's report as JSON."
    triage, setpoint = await asyncio.gather(
        llm.generate_json(ask(system, "feeder-2 reports a strip jam."), Triage, max_tokens=200),
        llm.generate_json(ask("Answer as JSON.", SLOW_DOWN), Setpoint, max_tokens=120),
    )

    assert isinstance(triage.value, Triage)
    assert isinstance(setpoint.value, Setpoint)


async def test_the_chat_prompt_gets_the_value_its_source_states(llm: OpenAICompatibleLLM) -> None:
    """The chat's own prompt and answer schema: under xgrammar with whitespace disabled, Qwen2.5
    opened most answers with ", " until the prompt showed the reply's compact JSON."""
    assert llm.compact_json
    lubrication = hit(
        "press-3-manual#7-lubrication/7.1-lubricants:0",
        "| Point | Lubricant | Quantity | Interval |\n|---|---|---|---|\n"
        "| Main gearbox | ISO VG 320 gear oil | 38 L | change every 4000 h |\n"
        "| Main bearings | Grease NLGI 2 | 40 g per bearing | weekly |",
    )
    question = "How much oil goes in the press 3 gearbox?"
    grounding = Grounding(question=question, passages=[lubrication], abstain=False)
    labels = source_labels(grounding)
    messages = chat_messages(
        "Kettering", question, [], grounding, labels, passage_chars=600, compact_json=True
    )

    reply = await llm.generate_json(messages, answer_schema(len(labels)), max_tokens=120)

    assert "38" in reply.value.answer, reply.raw
    assert reply.value.answer.lstrip()[:1].isalnum(), reply.raw


async def test_text_streams_in_several_chunks(llm: OpenAICompatibleLLM) -> None:
    messages = ask("You are a maintenance assistant.", "List three checks for a squealing press.")

    chunks = [chunk async for chunk in llm.stream_text(messages, max_tokens=60)]

    assert len(chunks) > 5
    assert all(chunks)
    assert len("".join(chunks).split()) > 5


async def test_a_stream_closed_early_leaves_the_server_serving(llm: OpenAICompatibleLLM) -> None:
    messages = ask("You are a maintenance assistant.", "Explain die setting in detail.")
    stream = llm.stream_text(messages, max_tokens=400)
    first = await anext(stream)
    await stream.aclose()  # drops the connection; vLLM aborts the request

    answer = await llm.generate_json(
        ask(f"{PLANT} Triage as JSON.", "conveyor-2 belt is slipping."), Triage, max_tokens=200
    )

    assert first
    assert isinstance(answer.value, Triage)


async def test_an_answer_cut_at_max_tokens_is_an_llm_error(llm: OpenAICompatibleLLM) -> None:
    with pytest.raises(LLMError, match="reached max_tokens=5"):
        await llm.generate_json(
            ask(f"{PLANT} Triage as JSON.", "press-1 die is cracked."), Triage, max_tokens=5
        )


async def test_an_unknown_model_is_the_servers_404() -> None:
    client = OpenAICompatibleLLM(URL, "no-such-model")
    try:
        with pytest.raises(LLMError, match=r"HTTP 404: .*no-such-model"):
            await client.generate_json(ask("Triage.", "press-1"), Triage, max_tokens=50)
    finally:
        await client.aclose()


async def test_a_prompt_beyond_the_context_is_the_servers_400(llm: OpenAICompatibleLLM) -> None:
    too_long = "press " * 20_000  # well past the 4096-token context make vllm-check serves

    with pytest.raises(LLMError, match="HTTP 400"):
        await llm.generate_json(ask("Triage.", too_long), Triage, max_tokens=50)
