"""Second-stage ranking of fused candidates, and the evidence that the best ones answer at all.

Each candidate gets a relevance score: its cosine similarity to the question plus small,
explainable preferences (weights tuned on one half of bench/retrieval_eval, split by a hash of
the question id, and checked on the other):

- coverage: the share of the question's terms, weighted by rarity, that the passage contains
  (a term only in the document title counts half: it says what the document is about, not this
  passage); heading: the same share for the section heading alone;
- defines: a code, part number or tag of the question heads a table row of the passage (the row
  of a fault-code, tag or parts table that says what it is, not a passing mention);
- cue: the section heading fits the form of the question (query.py: "how often" -> intervals);
- support: several candidates come from the passage's section (log of their number), so a
  section that answers at length beats a stray chunk that shares a word or two;
- asset: passages of the asset the question names rank up, passages of another asset down;
- kind: maintenance records rank up for questions about the past and down otherwise;
- period: records dated in the period the question names rank up.

Then each section's best passage comes before any second passage of a section, and before any
near copy of a passage already shown (routine records repeat word for word), so the top few hits
show several places in the documents rather than neighbouring chunks or copies of one.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .assets import AssetAliases
from .query import QueryIntent
from .terms import PassageTerms, ReaderStats

COVERAGE = 0.4
HEADING = 0.2
DEFINES = 0.2
CUE = 0.05
SUPPORT = 0.05
ASSET = 0.2
KIND = 0.3
PERIOD = 0.1
TITLE_SHARE = 0.5  # weight of a query term found only in the document title
PERIOD_SLACK = dt.timedelta(days=15)  # "in July" also reaches a record of 2 August
RECORDS = frozenset({"maintenance_log", "work_order"})
# Abstention evidence: cosine plus this share of the question's topic terms found in the passage.
# Topic terms: the words the documents hold, other than the asset's name, and the rare words they
# do not hold ("what is the OEE target" is not answered by a passage that only shares "target";
# an everyday word the documents lack, "please" or "really", says nothing either way).
EVIDENCE_COVERAGE = 0.5
EVIDENCE_DEPTH = 3  # best evidence among the first hits: the answer need not rank first
# Cosine between two passages above which the second adds nothing new (tuned: 0.95-0.98 alike).
NEAR_COPY = 0.95


@dataclass(frozen=True)
class Candidate:
    payload: dict[str, Any]
    terms: PassageTerms
    vector: np.ndarray  # the passage embedding (unit length)
    similarity: float  # cosine of question and passage embeddings
    fused: float  # the store's reciprocal-rank fusion score


@dataclass(frozen=True)
class Ranked:
    candidate: Candidate
    relevance: float
    evidence: float


def _share(weights: dict[str, float], found: Iterable[float]) -> float:
    total = sum(weights.values())
    return sum(found) / total if total else 0.0


def coverage(weights: dict[str, float], terms: PassageTerms) -> float:
    """Rarity-weighted share of the terms in the passage; title-only terms count in part."""
    return _share(
        weights,
        (
            w if t in terms.body or t in terms.section else TITLE_SHARE * w
            for t, w in weights.items()
            if t in terms
        ),
    )


def heading_coverage(weights: dict[str, float], terms: PassageTerms) -> float:
    return _share(weights, (w for t, w in weights.items() if t in terms.section))


def defines(codes: Iterable[str], terms: PassageTerms) -> float:
    return 1.0 if any(code in terms.row_heads for code in codes) else 0.0


def cue_match(cues: Sequence[frozenset[str]], terms: PassageTerms) -> float:
    """The share of the question's forms whose heading words the section heading has."""
    return sum(1.0 for words in cues if words & terms.section) / len(cues) if cues else 0.0


class Reranker:
    def __init__(self, aliases: AssetAliases) -> None:
        self.aliases = aliases
        self._specific: dict[tuple[str, str, tuple[str, ...]], frozenset[str]] = {}

    def specific_assets(self, payload: dict[str, Any]) -> frozenset[str]:
        """The assets a passage is about: its document's only asset, or those its heading names."""
        assets = tuple(payload["assets"])
        if len(assets) <= 1:
            return frozenset(assets)
        key = (payload["title"], payload.get("section", ""), assets)
        if key not in self._specific:
            named = self.aliases.mentioned_assets(f"{key[0]} {key[1]}")
            self._specific[key] = named & frozenset(assets)
        return self._specific[key]

    def asset_match(self, intent: QueryIntent, payload: dict[str, Any]) -> float:
        wanted, strength = (intent.assets, 1.0) if intent.assets else (intent.line_assets, 0.5)
        about = self.specific_assets(payload)
        if not wanted or not about:
            return 0.0
        return strength if about & wanted else -strength

    def rank(
        self,
        candidates: Sequence[Candidate],
        intent: QueryIntent,
        query_terms: Iterable[str],
        stats: ReaderStats,
    ) -> list[Ranked]:
        terms = set(query_terms)
        weights = {t: stats.idf(t) for t in terms}
        topic = {
            t: w
            for t, w in weights.items()
            if t not in intent.mention_terms and (stats.frequency(t) or t in intent.rare_terms)
        }
        codes = [i for i in intent.identifiers if i not in intent.mention_terms]
        per_section = Counter(_section(c) for c in candidates)
        ranked = [
            Ranked(
                candidate=c,
                relevance=c.similarity
                + COVERAGE * coverage(weights, c.terms)
                + HEADING * heading_coverage(weights, c.terms)
                + DEFINES * defines(codes, c.terms)
                + CUE * cue_match(intent.heading_cues, c.terms)
                + SUPPORT * math.log(per_section[_section(c)])
                + ASSET * self.asset_match(intent, c.payload)
                + KIND * _kind(intent, c.payload)
                + PERIOD * _in_period(intent, c.payload),
                evidence=c.similarity + EVIDENCE_COVERAGE * coverage(topic, c.terms),
            )
            for c in candidates
        ]
        ranked.sort(key=lambda r: r.relevance, reverse=True)
        return _sections_first(ranked)


def best_evidence(ranked: Sequence[Ranked]) -> float:
    return max((r.evidence for r in ranked[:EVIDENCE_DEPTH]), default=0.0)


def _kind(intent: QueryIntent, payload: dict[str, Any]) -> float:
    is_record = payload["doc_type"] in RECORDS
    if intent.history:
        return 1.0 if is_record else 0.0
    return -1.0 if is_record else 0.0


def _in_period(intent: QueryIntent, payload: dict[str, Any]) -> float:
    if intent.period is None or not payload.get("date"):
        return 0.0
    first, last = intent.period
    day = dt.date.fromisoformat(payload["date"])
    return 1.0 if first - PERIOD_SLACK <= day <= last + PERIOD_SLACK else 0.0


def _section(candidate: Candidate) -> str:
    """``doc#section/path`` of a citation id, without page and chunk."""
    citation = candidate.payload["citation_id"]
    return citation.rsplit(":", 1)[0].split("@", 1)[0]


def _sections_first(ranked: list[Ranked]) -> list[Ranked]:
    if not ranked:
        return ranked
    vectors = np.stack([r.candidate.vector for r in ranked])
    shown = np.empty_like(vectors)  # vectors of the passages kept in front, in order
    sections: set[str] = set()
    first: list[Ranked] = []
    rest: list[Ranked] = []
    for r, vector in zip(ranked, vectors, strict=True):
        section = _section(r.candidate)
        # One matrix-vector product against what is shown so far, not a dot product per pair.
        if section in sections or (first and (shown[: len(first)] @ vector).max() >= NEAR_COPY):
            rest.append(r)
        else:
            shown[len(first)] = vector
            first.append(r)
        sections.add(section)
    return first + rest
