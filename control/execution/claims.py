"""Decide-then-act without a race: a request claims the assets its decision reads.

`evaluate` judges a request against one read of the plant. Two requests judged at once
against the same read could each be allowed and together break an interlock: a lockout on
press-1 and a start of feeder-1, both seeing no lockout on line 1. So a request claims its
decision scope (`control.decisions.scope`) from the read until its actuation is done, and a
request that shares an asset with it waits its turn, then reads the plant the first left.
Requests on unrelated assets run side by side.

Claims are re-entrant per owner (a request's id): the workflow or task that carries out a
request claims each step again, which costs nothing while the submitting call still holds
them, and takes them afresh when it runs later (after an approval, or recovered after a
crash).

An emergency stop or a manual takeover never waits for a claim. It preempts instead: a step
judged before it is not sent after it (see `preempted`).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class _Held:
    owner: str
    depth: int
    preemptions: int  # the asset's preemption count when the owner first claimed it


@dataclass
class AssetClaims:
    """Per-asset mutual exclusion for one process's requests; on its event loop only."""

    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    # Owners holding or waiting for each lock: a lock goes once nobody uses it, so asset
    # ids from bad requests ("press-9") do not pile up for the life of the process.
    _users: Counter[str] = field(default_factory=Counter)
    _held: dict[str, _Held] = field(default_factory=dict)
    _preemptions: Counter[str] = field(default_factory=Counter)

    async def acquire(self, owner: str, assets: Iterable[str]) -> None:
        taken: list[str] = []
        try:
            # One global order, so two requests with overlapping scopes cannot deadlock.
            for asset in sorted(set(assets)):
                held = self._held.get(asset)
                if held is not None and held.owner == owner:
                    held.depth += 1
                else:
                    lock = self._locks.setdefault(asset, asyncio.Lock())
                    self._users[asset] += 1
                    try:
                        await lock.acquire()
                    except BaseException:
                        self._leave(asset)
                        raise
                    self._held[asset] = _Held(owner, 1, self._preemptions[asset])
                taken.append(asset)
        except BaseException:  # cancelled while waiting: give back what was taken
            self.release(owner, taken)
            raise

    def release(self, owner: str, assets: Iterable[str]) -> None:
        for asset in sorted(set(assets)):
            held = self._held.get(asset)
            if held is None or held.owner != owner:
                raise RuntimeError(f"{owner} releases {asset} it does not hold")
            held.depth -= 1
            if held.depth == 0:
                del self._held[asset]
                self._locks[asset].release()
                self._leave(asset)

    def _leave(self, asset: str) -> None:
        self._users[asset] -= 1
        if self._users[asset] == 0:
            del self._users[asset], self._locks[asset]

    @asynccontextmanager
    async def hold(self, owner: str, assets: Iterable[str]) -> AsyncIterator[None]:
        scope = frozenset(assets)
        await self.acquire(owner, scope)
        try:
            yield
        finally:
            self.release(owner, scope)

    def holds(self, owner: str, assets: Iterable[str]) -> bool:
        """Whether `owner` holds every one of `assets` now."""
        return all(
            (held := self._held.get(asset)) is not None and held.owner == owner for asset in assets
        )

    def preempt(self, assets: Iterable[str]) -> None:
        """An emergency stop or manual takeover of `assets` is about to go out."""
        for asset in assets:
            self._preemptions[asset] += 1

    def preempted(self, owner: str, asset: str) -> bool:
        """Whether `asset` was preempted since `owner` claimed it: its judgement is stale."""
        held = self._held.get(asset)
        if held is None or held.owner != owner:
            raise RuntimeError(f"{owner} asks about {asset} it does not hold")
        return self._preemptions[asset] != held.preemptions
