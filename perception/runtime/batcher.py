"""Micro-batching with a latency budget over a bounded queue.

Inputs from every stream of a model share one queue. The worker takes the oldest input,
then keeps collecting until the batch is full or the oldest input has waited the budget,
and runs the batch. Inputs that queue while a batch runs are taken at once next time (their
budget is spent), so batches grow with load instead of latency. A full queue refuses the
newest input: the caller learns at once, and the refusal is counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

_T = TypeVar("_T")
_R = TypeVar("_R")


@dataclass(slots=True)
class Pending(Generic[_T, _R]):
    stream: str
    item: _T
    enqueued: float  # loop time
    future: asyncio.Future[_R] = field(repr=False)


class MicroBatcher(Generic[_T, _R]):
    def __init__(
        self,
        run_batch: Callable[[list[Pending[_T, _R]]], Awaitable[None]],
        *,
        max_batch: int,
        budget_s: float,
        capacity: int,
    ) -> None:
        """`run_batch` must resolve every future of the batch it is given."""
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._budget_s = budget_s
        self._queue: asyncio.Queue[Pending[_T, _R]] = asyncio.Queue(capacity)
        self._worker: asyncio.Task[None] | None = None
        self._batch: list[Pending[_T, _R]] = []  # being collected or run

    def submit(self, stream: str, item: _T) -> asyncio.Future[_R] | None:
        """Queue an input; None when the queue is full (shed)."""
        loop = asyncio.get_running_loop()
        if self._worker is None:
            self._worker = loop.create_task(self._work())
        pending = Pending(stream, item, loop.time(), loop.create_future())
        try:
            self._queue.put_nowait(pending)
        except asyncio.QueueFull:
            return None
        return pending.future

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    async def aclose(self) -> list[Pending[_T, _R]]:
        """Stop the worker; returns the inputs it had not answered (futures unresolved)."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        left = [p for p in self._batch if not p.future.done()]
        while not self._queue.empty():
            left.append(self._queue.get_nowait())
        return left

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._batch = batch = [await self._queue.get()]
            deadline = batch[0].enqueued + self._budget_s
            while len(batch) < self._max_batch:
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            await self._run_batch(batch)
