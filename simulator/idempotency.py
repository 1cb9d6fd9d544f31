"""The plant's memory of idempotency keys, so a retried command never acts twice."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Literal

Outcome = Literal["done", "duplicate"]

KEY_MEMORY_SIZE = 10_000


class KeyMemory:
    """Remembers the keys of the last `size` commands that acted, oldest forgotten first."""

    def __init__(self, size: int = KEY_MEMORY_SIZE) -> None:
        self._size = size
        self._results: OrderedDict[str, Outcome] = OrderedDict()

    def run_once(self, key: str, action: Callable[[], None]) -> Outcome:
        """Run `action` unless `key` already acted; an empty key always runs.

        A refused action raises and leaves the key unremembered, so a retry may still act.
        """
        if key and key in self._results:
            return "duplicate"
        action()
        if key:
            self._results[key] = "done"
            if len(self._results) > self._size:
                self._results.popitem(last=False)
        return "done"

    def __contains__(self, key: str) -> bool:
        return key in self._results
