"""Index terms of passages and how many passages hold each term, per reader.

The reranker weighs query terms by their rarity (inverse document frequency, as BM25 does) and
abstention asks which terms the documents hold at all. Counts are kept per set of access groups,
and a reader's figures add up only the sets that reader may open: statistics never reveal that a
restricted document holds a word.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from . import sparse


@dataclass(frozen=True)
class PassageTerms:
    """A passage's index terms by where they stand."""

    title: frozenset[str]
    section: frozenset[str]
    body: frozenset[str]
    # The first term of each table row: the code, tag or part a row of a fault-code, tag or
    # spare-parts table defines ("| E-204 | Lube pressure low |").
    row_heads: frozenset[str] = frozenset()

    def __contains__(self, term: object) -> bool:
        return term in self.body or term in self.section or term in self.title


def passage_text(payload: dict[str, Any]) -> str:
    """The passage text exactly as ingested (llama-index keeps it in ``_node_content``)."""
    return str(json.loads(payload["_node_content"])["text"])


def row_heads(text: str) -> frozenset[str]:
    heads = set()
    for line in text.splitlines():
        if line.lstrip().startswith("|"):
            first = sparse.terms(line.split("|", 2)[1])
            if first:
                heads.add(first[0])
    return frozenset(heads)


@lru_cache(maxsize=32768)
def _terms(title: str, section: str, text: str) -> PassageTerms:
    return PassageTerms(
        frozenset(sparse.terms(title)),
        frozenset(sparse.terms(section)),
        frozenset(sparse.terms(text)),
        row_heads(text),
    )


def passage_terms(payload: dict[str, Any], text: str) -> PassageTerms:
    # Cached by content: the same passages come back query after query.
    return _terms(payload["title"], payload.get("section", ""), text)


class TermStats:
    """Passage frequencies of index terms, per distinct set of access groups."""

    def __init__(self, payloads: Iterable[dict[str, Any]]) -> None:
        self._frequency: dict[frozenset[str], Counter[str]] = {}
        self._passages: Counter[frozenset[str]] = Counter()
        for payload in payloads:
            groups = frozenset(payload["access_groups"])
            found = passage_terms(payload, passage_text(payload))
            self._frequency.setdefault(groups, Counter()).update(
                found.title | found.section | found.body
            )
            self._passages[groups] += 1

    def reader(self, groups: Iterable[str]) -> ReaderStats:
        readable = frozenset(groups)
        visible = [g for g in self._passages if g & readable]
        return ReaderStats(
            [self._frequency[g] for g in visible], sum(self._passages[g] for g in visible)
        )


class ReaderStats:
    """Term statistics over the passages one reader may read."""

    def __init__(self, frequencies: list[Counter[str]], passages: int) -> None:
        self._frequencies = frequencies
        self.passages = passages

    def frequency(self, term: str) -> int:
        return sum(counts.get(term, 0) for counts in self._frequencies)

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency, as Qdrant's IDF modifier computes it."""
        found = self.frequency(term)
        return math.log(1 + (self.passages - found + 0.5) / (found + 0.5))
