"""Hybrid search with access control applied inside the query, never after it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np
from qdrant_client import models as qm

from . import sparse
from .models import SearchFilters, SearchHit, SearchRequest, SearchResult
from .store import DENSE, PassageStore

EPOCH = dt.date(1970, 1, 1)
# Below this cosine similarity between question and best passage, the documents do not answer
# the question (tuned on bench/retrieval_eval; see bench/RESULTS.md).
ABSTAIN_BELOW = 0.35
# Candidates per side before fusion: enough for rank fusion to matter, few enough to stay fast.
CANDIDATES = 40


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


def hit_from_payload(payload: dict[str, Any], score: float, similarity: float) -> SearchHit:
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
    )


class Searcher:
    def __init__(self, store: PassageStore, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    def search(self, request: SearchRequest, groups: Iterable[str]) -> SearchResult:
        where = access_filter(groups, request.filters)
        query_vector = self.embedder.embed([request.query])[0]
        points = self.store.hybrid(
            query_vector.tolist(),
            sparse.encode_query(request.query),
            where,
            limit=request.top_k,
            candidates=max(CANDIDATES, request.top_k),
        )
        hits = [
            hit_from_payload(
                point.payload or {},
                point.score,
                float(np.dot(query_vector, np.asarray(_dense(point), dtype=np.float32))),
            )
            for point in points
        ]
        best = max((hit.similarity for hit in hits), default=0.0)
        return SearchResult(
            query=request.query, hits=hits, abstain=best < ABSTAIN_BELOW, threshold=ABSTAIN_BELOW
        )

    def passage(self, citation_id: str, groups: Iterable[str]) -> SearchHit | None:
        """Resolve a citation for a reader; None if it does not exist or is not theirs to read."""
        payload = self.store.passage(citation_id, access_filter(groups))
        return hit_from_payload(payload, 0.0, 0.0) if payload else None


def _dense(point: qm.ScoredPoint) -> list[float]:
    vector = point.vector
    if not isinstance(vector, dict) or DENSE not in vector:
        raise RuntimeError("the store returned a passage without its dense vector")
    return vector[DENSE]  # type: ignore[return-value]
