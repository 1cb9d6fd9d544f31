"""The app's one language model, chosen by settings: a vLLM server, or llama.cpp in-process.

The app creates it once at start (``app.state.llm``) for every assistant feature to share. The
embedded model loads on first use, not at start: reassembling and verifying 1.1 GB of weights
the first time takes a while, and the control plane must not wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from andon.settings import Settings

from .base import ChatMessage, LanguageModel, SchemaT, StructuredAnswer
from .embedded import DEFAULT_CONTEXT_TOKENS, EmbeddedLLM
from .openai_compat import OpenAICompatibleLLM
from .weights import QWEN_CODER_1_5B, model_file


def language_model(settings: Settings) -> LanguageModel:
    """The model ``settings`` name: ``llm_url`` set, that server; else the embedded model."""
    if settings.llm_url:
        if not settings.llm_model:
            raise ValueError("ANDON_LLM_URL is set: ANDON_LLM_MODEL must name the served model")
        return OpenAICompatibleLLM(
            settings.llm_url, settings.llm_model, api_key=settings.llm_api_key or None
        )
    return LazyEmbeddedLLM(
        settings.llm_model_file, cache_dir=settings.models_dir, threads=settings.llm_threads
    )


class LazyEmbeddedLLM(LanguageModel):
    """An ``EmbeddedLLM`` built on its first call (or ``load()``), then reused."""

    def __init__(
        self,
        model_path: Path | None,
        *,
        cache_dir: Path,
        threads: int,
        context_tokens: int = DEFAULT_CONTEXT_TOKENS,
    ) -> None:
        self._model_path = model_path
        self._cache_dir = cache_dir
        self._threads = threads
        self._context_tokens = context_tokens
        self.name = model_path.name if model_path else QWEN_CODER_1_5B.file_name
        self._llm: EmbeddedLLM | None = None
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    async def load(self) -> EmbeddedLLM:
        async with self._lock:  # two first requests must not load two copies
            if self._llm is None:
                self._llm = await asyncio.to_thread(self._open)
            return self._llm

    def _open(self) -> EmbeddedLLM:
        path = self._model_path or model_file(QWEN_CODER_1_5B, self._cache_dir)
        return EmbeddedLLM(path, threads=self._threads, context_tokens=self._context_tokens)

    async def generate_json(
        self,
        messages: Sequence[ChatMessage],
        schema: type[SchemaT],
        *,
        max_tokens: int,
        temperature: float = 0.0,
    ) -> StructuredAnswer[SchemaT]:
        llm = await self.load()
        return await llm.generate_json(
            messages, schema, max_tokens=max_tokens, temperature=temperature
        )

    async def stream_text(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
    ) -> AsyncIterator[str]:
        llm = await self.load()
        # aclosing: closing this stream closes the model's at once, which stops generation.
        stream = llm.stream_text(messages, max_tokens=max_tokens, temperature=temperature)
        async with contextlib.aclosing(stream) as chunks:
            async for chunk in chunks:
                yield chunk

    async def aclose(self) -> None:
        async with self._lock:
            if self._llm is not None:
                await self._llm.aclose()
                self._llm = None
