"""A GGUF model run in-process by llama.cpp (llama-cpp-python): CPU only, no server, no network.

llama.cpp is not safe to drive from two threads at once and one generation already uses every
thread it is given, so all work goes through one worker thread: it is the lock that makes
generations run one at a time, in arrival order, while the event loop stays free.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, partial
from pathlib import Path
from typing import TypeVar

import structlog

# Read once by libgomp when llama.cpp's library loads, so it must be set before the import. With
# the default spinning, a thread whose core another process takes stalls the others at every
# barrier: on 2 busy cores, 2 threads fell from 5.5 to 1.5 tokens/s. Passive waiting keeps them
# steady. setdefault: an explicit setting from the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from llama_cpp import Llama, LlamaGrammar
from llama_cpp.llama_grammar import json_schema_to_gbnf

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

log = structlog.get_logger()

ResultT = TypeVar("ResultT")

# The machines have 2 cores. With passive waiting, 2 threads beat 1 even while other processes
# keep both cores busy (Qwen 0.5B under load: 10.5 against 8.1 tokens/s).
DEFAULT_THREADS = 2
DEFAULT_CONTEXT_TOKENS = 4096


class _Finished:
    """Marks the end of a stream in the chunk queue."""


class EmbeddedLLM(LanguageModel):
    """A llama.cpp model loaded from a local GGUF file (see ``weights.model_file``).

    Loading maps the file and takes about a second: construct it once, at startup. A request
    cancelled while queued never runs, and a closed stream stops at its next token; a constrained
    generation already running finishes (llama-cpp-python's chat API has no stop hook), which the
    schema's bounds and ``max_tokens`` keep short.
    """

    def __init__(
        self,
        model_path: Path,
        *,
        threads: int = DEFAULT_THREADS,
        context_tokens: int = DEFAULT_CONTEXT_TOKENS,
        seed: int = 0,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.name = model_path.name
        self.threads = threads
        self.context_tokens = context_tokens
        self._llama = Llama(
            model_path=str(model_path),
            n_ctx=context_tokens,
            n_threads=threads,
            n_threads_batch=threads,
            n_gpu_layers=0,
            seed=seed,
            verbose=False,
        )
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="andon-llm")
        log.info("llm.embedded.loaded", model=self.name, threads=threads, context=context_tokens)

    async def generate_json(
        self,
        messages: Sequence[ChatMessage],
        schema: type[SchemaT],
        *,
        max_tokens: int,
        temperature: float = 0.0,
    ) -> StructuredAnswer[SchemaT]:
        grammar = _grammar(json.dumps(generation_schema(schema)))
        complete = partial(
            self._llama.create_chat_completion,
            messages=message_dicts(messages),
            grammar=grammar,
            max_tokens=max_tokens,
            temperature=temperature,
        )
        completion, wait_s, elapsed_s = await self._in_worker(complete)
        choice = completion["choices"][0]
        raw = choice["message"]["content"] or ""
        value = parse_answer(
            raw, schema, finish_reason=choice["finish_reason"], max_tokens=max_tokens
        )
        usage = Usage(
            prompt_tokens=completion["usage"]["prompt_tokens"],
            completion_tokens=completion["usage"]["completion_tokens"],
            wait_s=wait_s,
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
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[str | _Finished | BaseException] = asyncio.Queue()
        stop = threading.Event()
        payload = message_dicts(messages)

        def deliver(item: str | _Finished | BaseException) -> None:
            # The consumer may be gone with its loop (client disconnected at shutdown).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(chunks.put_nowait, item)

        def generate() -> None:
            try:
                stream = self._llama.create_chat_completion(
                    messages=payload, max_tokens=max_tokens, temperature=temperature, stream=True
                )
                for chunk in stream:
                    if stop.is_set():  # the consumer closed the stream: free the model now
                        break
                    if text := chunk["choices"][0]["delta"].get("content"):
                        deliver(text)
                deliver(_Finished())
            except Exception as exc:
                deliver(exc)

        job = loop.run_in_executor(self._worker, generate)
        try:
            while not isinstance(item := await chunks.get(), _Finished):
                if isinstance(item, BaseException):
                    raise LLMError(f"{self.name} failed while generating: {item}") from item
                yield item
        finally:
            stop.set()
            job.cancel()  # drops it if still queued behind another generation

    async def aclose(self) -> None:
        # Waits for a running generation to stop, drops queued ones, then frees the model.
        await asyncio.to_thread(self._worker.shutdown, wait=True, cancel_futures=True)
        self._llama.close()

    async def _in_worker(self, work: Callable[[], ResultT]) -> tuple[ResultT, float, float]:
        """``work()`` on the worker thread, with seconds spent queued and seconds running."""
        submitted = time.perf_counter()

        def timed() -> tuple[ResultT, float, float]:
            started = time.perf_counter()
            try:
                result = work()
            except (ValueError, RuntimeError) as exc:  # e.g. prompt longer than the context
                raise LLMError(f"{self.name} failed while generating: {exc}") from exc
            return result, started - submitted, time.perf_counter() - started

        return await asyncio.get_running_loop().run_in_executor(self._worker, timed)


# llama-cpp-python's schema converter lets a string hold raw control characters (a newline),
# which is not JSON: the answer then fails to parse. JSON's own string character, as in
# llama.cpp's json.gbnf.
_ANY_CHAR = r'char ::= [^"\\] |'
_JSON_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] |'


@lru_cache(maxsize=64)
def _grammar(schema_json: str) -> LlamaGrammar:
    gbnf = json_schema_to_gbnf(schema_json)
    if _ANY_CHAR not in gbnf and "char ::=" in gbnf:
        raise LLMError("llama-cpp-python's JSON grammar changed: check the string rule")
    return LlamaGrammar.from_string(gbnf.replace(_ANY_CHAR, _JSON_CHAR), verbose=False)
