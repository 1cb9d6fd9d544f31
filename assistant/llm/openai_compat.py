"""A client for an OpenAI-compatible chat-completions server, written for vLLM.

Constrained answers use ``response_format: {"type": "json_schema", ...}``, which vLLM enforces
with its guided-decoding backend; text streams arrive as server-sent events. Every failure, from
a refused connection to an answer that does not fit the schema, surfaces as one ``LLMError``
whose message says what happened and where.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from .base import (
    ChatMessage,
    LanguageModel,
    LLMError,
    SchemaT,
    StructuredAnswer,
    Usage,
    message_dicts,
    parse_answer,
)
from .schema import generation_schema

_DONE = "[DONE]"
_ERROR_TEXT_LIMIT = 500


class _Message(BaseModel):
    content: str | None = None


class _Choice(BaseModel):
    message: _Message
    finish_reason: str | None = None


class _WireUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class _Completion(BaseModel):
    choices: list[_Choice]
    usage: _WireUsage


class _Delta(BaseModel):
    content: str | None = None


class _StreamChoice(BaseModel):
    delta: _Delta


class _Chunk(BaseModel):
    choices: list[_StreamChoice]


class OpenAICompatibleLLM(LanguageModel):
    """Chat completions from ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``) with ``model``.

    ``read_timeout_s`` bounds the wait for the server's next bytes: the whole generation for a
    constrained answer, the gap between chunks while streaming. Proxy settings from the
    environment are ignored so that requests go to ``base_url`` and nowhere else.
    """

    # Served as Andon needs it, vLLM runs xgrammar with `disable_any_whitespace` (see
    # tools/vllm/check.py): compact JSON only.
    compact_json = True

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        read_timeout_s: float = 120.0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.name = model
        self.base_url = base_url.rstrip("/")
        self._read_timeout_s = read_timeout_s
        self._connect_timeout_s = connect_timeout_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=self.base_url + "/",
            headers=headers,
            timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s),
            trust_env=False,
        )

    async def generate_json(
        self,
        messages: Sequence[ChatMessage],
        schema: type[SchemaT],
        *,
        max_tokens: int,
        temperature: float = 0.0,
    ) -> StructuredAnswer[SchemaT]:
        body = self._body(messages, max_tokens=max_tokens, temperature=temperature)
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": schema.__name__,
                "schema": generation_schema(schema),
                "strict": True,
            },
        }
        started = time.perf_counter()
        try:
            response = await self._client.post("chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        elapsed_s = time.perf_counter() - started
        if response.is_error:
            raise self._status_error(response.status_code, response.text)
        try:
            completion = _Completion.model_validate_json(response.content)
            choice = completion.choices[0]
        except (ValidationError, IndexError) as exc:
            raise LLMError(
                f"{self.base_url} answered with a body that is not a chat completion: "
                f"{response.text[:_ERROR_TEXT_LIMIT]}"
            ) from exc
        raw = choice.message.content or ""
        value = parse_answer(raw, schema, finish_reason=choice.finish_reason, max_tokens=max_tokens)
        usage = Usage(
            prompt_tokens=completion.usage.prompt_tokens,
            completion_tokens=completion.usage.completion_tokens,
            wait_s=0.0,  # the server schedules requests itself and does not report queueing
            elapsed_s=elapsed_s,
        )
        return StructuredAnswer[schema](value=value, raw=raw, usage=usage)

    async def stream_text(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
    ) -> AsyncIterator[str]:
        body = self._body(messages, max_tokens=max_tokens, temperature=temperature)
        body["stream"] = True
        try:
            async with self._client.stream("POST", "chat/completions", json=body) as response:
                if response.is_error:
                    await response.aread()
                    raise self._status_error(response.status_code, response.text)
                async for data in _sse_data(response):
                    if data == _DONE:
                        return
                    if text := self._chunk_text(data):
                        yield text
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        raise LLMError(f"{self.base_url} ended the stream without its closing [DONE] event")

    async def aclose(self) -> None:
        await self._client.aclose()

    def _body(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> dict[str, Any]:
        return {
            "model": self.name,
            "messages": message_dicts(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
        }

    def _chunk_text(self, data: str) -> str:
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise LLMError(f"{self.base_url} sent a non-JSON stream event: {data!r}") from exc
        if isinstance(event, dict) and "error" in event:  # how vLLM reports a failure mid-stream
            raise LLMError(f"{self.base_url} failed while streaming: {_error_message(event)}")
        try:
            chunk = _Chunk.model_validate(event)
        except ValidationError as exc:
            raise LLMError(f"{self.base_url} sent an unexpected stream event: {data!r}") from exc
        return "".join(choice.delta.content or "" for choice in chunk.choices)

    def _transport_error(self, exc: httpx.HTTPError) -> LLMError:
        if isinstance(exc, httpx.ConnectTimeout):
            reason = f"no connection within {self._connect_timeout_s:g} s"
        elif isinstance(exc, httpx.TimeoutException):
            reason = f"no answer within {self._read_timeout_s:g} s"
        elif isinstance(exc, httpx.ConnectError):
            reason = f"cannot connect ({exc})"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        return LLMError(f"language model server {self.base_url}: {reason}")

    def _status_error(self, status: int, text: str) -> LLMError:
        try:
            message = _error_message(json.loads(text))
        except ValueError:
            message = text[:_ERROR_TEXT_LIMIT]
        return LLMError(f"language model server {self.base_url} answered HTTP {status}: {message}")


def _error_message(body: Any) -> str:
    """The human part of an error body: OpenAI's {"error": {"message"}} or vLLM's older forms."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            for key in ("message", "detail"):
                if isinstance(error.get(key), str):
                    return error[key]
        elif isinstance(error, str):
            return error
    return json.dumps(body)[:_ERROR_TEXT_LIMIT]


async def _sse_data(response: httpx.Response) -> AsyncIterator[str]:
    """The data of each server-sent event, multi-line data joined as the SSE spec says."""
    lines: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
        elif line.startswith("data:"):
            value = line[len("data:") :]
            lines.append(value[1:] if value.startswith(" ") else value)
        # Comments (":" keep-alives) and other fields (event:, id:, retry:) carry no text.
    if lines:
        yield "\n".join(lines)
