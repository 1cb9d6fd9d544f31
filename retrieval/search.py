"""Hybrid search with access control applied inside the query, never after it.

The store fuses dense and keyword candidates under the reader's access filter; the reranker
(rerank.py) orders them with what the question says (asset, history, period) and judges whether
the best of them answer it at all.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np
from qdrant_client import models as qm

from . import sparse
from .assets import AssetAliases, configured_aliases
from .models import SearchFilters, SearchHit, SearchRequest, SearchResult
from .query import read_intent
from .rerank import Candidate, Ranked, Reranker, best_evidence
from .store import DENSE, Store
from .terms import TermStats, passage_terms, passage_text

EPOCH = dt.date(1970, 1, 1)
# Below this evidence (rerank.py: cosine plus coverage of the question's topic terms) the best
# hits do not answer the question (tuned on the even half of bench/retrieval_eval).
ABSTAIN_BELOW = 0.55
# Candidates per side before fusion, all of which the reranker sees: 30 found as much as 60.
CANDIDATES = 30
# How often the term statistics look for re-indexed documents; they only weigh terms, so a few
# seconds of lag after an ingest is harmless.
STATS_REFRESH_S = 10.0


class Embedder(Protocol):
    def embed(self, texts: list[str]) -> np.ndarray: ...


def date_days(day: dt.date) -> int:
    return (day - EPOCH).days


def access_filter(groups: Iterable[str], filters: SearchFilters | None = None) -> qm.Filter:
    """Passages of documents open to one of ``groups``, narrowed by the request's filters."""
    groups = sorted(set(groups))
    if not groups:
        raise ValueError("no access groups: the requester may read no document")
    must: list[qm.Condition] = [
        qm.FieldCondition(key="access_groups", match=qm.MatchAny(any=groups))
    ]
    if filters:
        if filters.assets:
            must.append(
                qm.FieldCondition(key="assets", match=qm.MatchAny(any=list(filters.assets)))
            )
        if filters.doc_types:
            kinds = [kind.value for kind in filters.doc_types]
            must.append(qm.FieldCondition(key="doc_type", match=qm.MatchAny(any=kinds)))
        if filters.date_from or filters.date_to:
            must.append(
                qm.FieldCondition(
                    key="date_days",
                    range=qm.Range(
                        gte=date_days(filters.date_from) if filters.date_from else None,
                        lte=date_days(filters.date_to) if filters.date_to else None,
                    ),
                )
            )
    return qm.Filter(must=must)


def hit_from_payload(
    payload: dict[str, Any], score: float, similarity: float, relevance: float = 0.0
) -> SearchHit:
    node = json.loads(payload["_node_content"])
    return SearchHit(
        citation_id=payload["citation_id"],
        doc_id=payload["doc_id"],
        title=payload["title"],
        doc_type=payload["doc_type"],
        revision=payload["revision"],
        section_path=tuple(payload["section_path"]),
        page=payload.get("page"),
        text=node["text"],
        assets=tuple(payload["assets"]),
        date=payload.get("date"),
        failure_mode=payload.get("failure_mode"),
        source=payload["source"],
        score=score,
        similarity=similarity,
        relevance=relevance,
    )


class Searcher:
    def __init__(
        self, store: Store, embedder: Embedder, aliases: AssetAliases | None = None
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.aliases = aliases or configured_aliases()
        self.reranker = Reranker(self.aliases)
        self._stats_lock = threading.Lock()
        self._stats: TermStats | None = None
        self._stats_key: tuple[tuple[str, str], ...] = ()
        self._stats_checked = 0.0

    def search(self, request: SearchRequest, groups: Iterable[str]) -> SearchResult:
        groups = frozenset(groups)
        where = access_filter(groups, request.filters)
        intent = read_intent(request.query, self.aliases)
        query_vector = self.embedder.embed([request.query])[0]
        query_terms = sparse.terms(request.query)
        candidates = self._candidates(
            query_vector, sparse.encode_terms(query_terms), where, max(CANDIDATES, request.top_k)
        )
        stats = self.term_stats().reader(groups)
        ranked = self.reranker.rank(candidates, intent, query_terms, stats)
        codes = [i for i in intent.identifiers if i not in intent.mention_terms]
        unknown = [
            *intent.unknown_references,
            *self._absent(codes, candidates, query_vector, where),
        ]
        evidence = best_evidence(ranked)
        return SearchResult(
            query=request.query,
            hits=[_hit(r) for r in ranked[: request.top_k]],
            abstain=bool(unknown) or evidence < ABSTAIN_BELOW,
            threshold=ABSTAIN_BELOW,
            evidence=evidence,
            unknown=unknown,
        )

    def passage(self, citation_id: str, groups: Iterable[str]) -> SearchHit | None:
        """Resolve a citation for a reader; None if it does not exist or is not theirs to read."""
        payload = self.store.passage(citation_id, access_filter(groups))
        return hit_from_payload(payload, 0.0, 0.0) if payload else None

    def term_stats(self) -> TermStats:
        """Statistics of the indexed passages, rebuilt when a document was (re)indexed."""
        with self._stats_lock:
            now = time.monotonic()
            if self._stats is None or now - self._stats_checked >= STATS_REFRESH_S:
                key = tuple((r.doc_id, r.content_sha256) for r in self.store.all_documents())
                if self._stats is None or key != self._stats_key:
                    self._stats = TermStats(self.store.passage_payloads())
                    self._stats_key = key
                self._stats_checked = now
            return self._stats

    def _candidates(
        self,
        query_vector: np.ndarray,
        keywords: sparse.SparseVector,
        where: qm.Filter,
        candidates: int,
    ) -> list[Candidate]:
        # A limit of both sides together returns every candidate, not just the fused top.
        points = self.store.hybrid(
            query_vector.tolist(), keywords, where, limit=2 * candidates, candidates=candidates
        )
        return [_candidate(point, query_vector) for point in points]

    def _absent(
        self,
        codes: Sequence[str],
        candidates: Sequence[Candidate],
        query_vector: np.ndarray,
        where: qm.Filter,
    ) -> list[str]:
        """The codes no passage under ``where`` holds; a keyword query of its own confirms it."""
        missing = [code for code in codes if not any(code in c.terms for c in candidates)]
        if not missing:
            return []
        found = self._candidates(query_vector, sparse.encode_terms(missing), where, CANDIDATES)
        return [code for code in missing if not any(code in c.terms for c in found)]


def _candidate(point: qm.ScoredPoint, query_vector: np.ndarray) -> Candidate:
    payload = point.payload or {}
    text = passage_text(payload)
    vector = np.asarray(_dense(point), dtype=np.float32)
    return Candidate(
        payload=payload,
        terms=passage_terms(payload, text),
        vector=vector,
        similarity=float(np.dot(query_vector, vector)),
        fused=point.score,
    )


def _hit(ranked: Ranked) -> SearchHit:
    c = ranked.candidate
    return hit_from_payload(c.payload, c.fused, c.similarity, ranked.relevance)


def _dense(point: qm.ScoredPoint) -> list[float]:
    vector = point.vector
    if not isinstance(vector, dict) or DENSE not in vector:
        raise RuntimeError("the store returned a passage without its dense vector")
    return vector[DENSE]  # type: ignore[return-value]
