"""Passages and document records in Qdrant Edge: Qdrant's own engine, inside this process.

The embedded default when no Qdrant server is configured. It keeps the observable behaviour of
the client store (``store.PassageStore``): the same point ids, the same payloads (llama-index's
``node_to_metadata_dict``), the same BM25 sparse vectors of the same text, and hybrid queries
that prefetch dense and keyword candidates under the access filter and fuse them by reciprocal
rank in the engine. What it adds is speed (no pure-Python scans) and payload indexes.

On disk, under ``path``: one shard per collection (``<prefix>_passages``, ``<prefix>_documents``)
and ``<prefix>.lock``, held by the one process that may open the store. Every update goes to the
shard's write-ahead log before it returns, so a killed process loses no acknowledged write; the
store also flushes after each write that ingestion relies on.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import qdrant_edge as edge
from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.vector_stores.utils import node_to_metadata_dict
from qdrant_client import models as qm

from . import sparse
from .store import DENSE, SPARSE, DocumentRecord, StoreError, point_id

# Qdrant's default RRF constant, the one PassageStore gets from FusionQuery(fusion=RRF).
RRF_K = 2
# Payload indexes keep filtered search fast: every field that access and request filters use.
_INDEXES = {
    "doc_id": edge.PayloadSchemaType.Keyword,
    "citation_id": edge.PayloadSchemaType.Keyword,
    "access_groups": edge.PayloadSchemaType.Keyword,
    "assets": edge.PayloadSchemaType.Keyword,
    "doc_type": edge.PayloadSchemaType.Keyword,
    "date_days": edge.PayloadSchemaType.Integer,
}
# A shard needs at least one vector; document records carry none, so this one stays empty.
_NO_VECTOR = "none"
_CONFIG_FILE = "edge_config.json"  # where the engine persists a shard's configuration


class EdgePassageStore:
    def __init__(self, path: Path, collection: str, dimension: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.dimension = dimension
        # The engine is not documented as thread-safe: one call at a time, as PassageStore does.
        self._lock = threading.Lock()
        self._lock_fd: int | None = _lock_store(path / f"{collection}.lock")
        with ExitStack() as undo:  # a failure half-way leaves nothing open or locked
            undo.callback(self._release)
            self.passage_shard = _open_passages(path / f"{collection}_passages", dimension)
            undo.callback(self.passage_shard.close)
            self.document_shard = _open_shard(
                path / f"{collection}_documents",
                edge.EdgeConfig(sparse_vectors={_NO_VECTOR: edge.EdgeSparseVectorParams()}),
            )
            undo.pop_all()

    # -- documents ---------------------------------------------------------------------------

    def document(self, doc_id: str) -> DocumentRecord | None:
        with self._lock:
            found = self.document_shard.retrieve(
                [point_id(doc_id)], with_payload=True, with_vector=False
            )
        return DocumentRecord.model_validate(found[0].payload) if found else None

    def all_documents(self) -> list[DocumentRecord]:
        records: list[DocumentRecord] = []
        offset: Any = None
        while True:
            with self._lock:
                points, offset = self.document_shard.scroll(
                    edge.ScrollRequest(offset=offset, limit=512, with_payload=True)
                )
            records.extend(DocumentRecord.model_validate(p.payload) for p in points)
            if offset is None:
                return sorted(records, key=lambda r: r.doc_id)

    def put_document(self, record: DocumentRecord) -> None:
        point = edge.Point(point_id(record.doc_id), {}, record.model_dump(mode="json"))
        with self._lock:
            self.document_shard.update(edge.UpdateOperation.upsert_points([point]))
            self.document_shard.flush()

    def delete_document(self, doc_id: str) -> None:
        """Remove a document's record first (it is no longer complete), then its passages."""
        passages = edge.Filter(must=[_edge_equals("doc_id", doc_id)])
        with self._lock:
            self.document_shard.update(edge.UpdateOperation.delete_points([point_id(doc_id)]))
            self.document_shard.flush()
            self.passage_shard.update(edge.UpdateOperation.delete_points_by_filter(passages))
            self.passage_shard.flush()

    def count_passages(self, doc_id: str | None = None) -> int:
        where = edge.Filter(must=[_edge_equals("doc_id", doc_id)]) if doc_id else None
        with self._lock:
            return self.passage_shard.count(edge.CountRequest(exact=True, filter=where))

    # -- passages ----------------------------------------------------------------------------

    def add_nodes(self, nodes: Sequence[BaseNode]) -> None:
        """Write embedded nodes as PassageStore does through llama-index, as one logged update."""
        if not nodes:
            return
        # The text llama-index's QdrantVectorStore hands to its sparse_doc_fn.
        indices, values = sparse.encode_documents(
            [node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes]
        )
        points = [
            edge.Point(
                node.node_id,
                {
                    DENSE: node.get_embedding(),
                    SPARSE: edge.SparseVector(node_indices, node_values),
                },
                node_to_metadata_dict(node, remove_text=False, flat_metadata=False),
            )
            for node, node_indices, node_values in zip(nodes, indices, values, strict=True)
        ]
        with self._lock:
            self.passage_shard.update(edge.UpdateOperation.upsert_points(points))
            self.passage_shard.flush()

    def passage(self, citation_id: str, allowed: qm.Filter) -> dict[str, Any] | None:
        """The payload of one passage, if ``allowed`` admits it."""
        where = edge.Filter(must=[_edge_equals("citation_id", citation_id), edge_filter(allowed)])
        with self._lock:
            points, _ = self.passage_shard.scroll(
                edge.ScrollRequest(limit=1, filter=where, with_payload=True)
            )
        return points[0].payload if points else None

    def passage_payloads(self) -> Iterator[dict[str, Any]]:
        """Every passage's payload, page by page (search's term statistics read them)."""
        offset: Any = None
        while True:
            with self._lock:
                points, offset = self.passage_shard.scroll(
                    edge.ScrollRequest(offset=offset, limit=512, with_payload=True)
                )
            yield from (p.payload or {} for p in points)
            if offset is None:
                return

    def hybrid(
        self,
        dense: Sequence[float],
        sparse_vector: sparse.SparseVector,
        where: qm.Filter,
        limit: int,
        candidates: int,
    ) -> list[qm.ScoredPoint]:
        """Dense and keyword candidates under ``where``, fused by reciprocal rank in the engine."""
        allowed = edge_filter(where)
        prefetch = [
            edge.Prefetch(
                limit=candidates, query=edge.Query.Nearest(list(dense), using=DENSE), filter=allowed
            )
        ]
        indices, values = sparse_vector
        if indices:  # a query of stop words only has no keyword side
            keywords = edge.SparseVector(indices, values)
            prefetch.append(
                edge.Prefetch(
                    limit=candidates,
                    query=edge.Query.Nearest(keywords, using=SPARSE),
                    filter=allowed,
                )
            )
        request = edge.QueryRequest(
            limit=limit,
            query=edge.Fusion.Rrf(k=RRF_K),
            prefetches=prefetch,
            filter=allowed,
            with_payload=True,
            with_vector=[DENSE],
        )
        with self._lock:
            found = self.passage_shard.query(request)
        return [
            qm.ScoredPoint(
                id=str(p.id), version=p.version, score=p.score, payload=p.payload, vector=p.vector
            )
            for p in found
        ]

    def build_index(self) -> None:
        """Build HNSW and merge segments: the embedded engine does not do it by itself, and
        brute-force dense search grows linear with the passages (18 ms at 100k, 3 ms after)."""
        with self._lock:
            self.passage_shard.optimize()

    def close(self) -> None:
        with self._lock:
            if self._lock_fd is None:
                return
            self.passage_shard.close()
            self.document_shard.close()
            self._release()

    def _release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None


def edge_filter(where: qm.Filter) -> edge.Filter:
    """The subset of qdrant-client filters Andon builds, in Qdrant Edge's classes.

    ``must`` of field conditions (MatchAny, MatchValue, Range) and nested filters; anything else
    raises, so a filter is never silently weakened on its way to the engine.
    """
    if where.should or where.must_not or where.min_should:
        raise ValueError(f"only 'must' filters are supported by the edge store, got {where!r}")
    must = where.must if isinstance(where.must, list) else [where.must] if where.must else []
    return edge.Filter(must=[_edge_condition(condition) for condition in must])


def _edge_condition(condition: Any) -> edge.Filter | edge.FieldCondition:
    if isinstance(condition, qm.Filter):
        return edge_filter(condition)
    if not isinstance(condition, qm.FieldCondition):
        raise ValueError(f"unsupported filter condition for the edge store: {condition!r}")
    others = condition.model_dump(exclude={"key", "match", "range"}, exclude_none=True)
    if others or (condition.match is None) == (condition.range is None):
        raise ValueError(
            f"unsupported field condition for the edge store (one match or range only): "
            f"{condition!r}"
        )
    match condition.match, condition.range:
        case qm.MatchAny(any=values), None:
            return edge.FieldCondition(condition.key, match=edge.MatchAny(list(values)))
        case qm.MatchValue(value=value), None:
            return edge.FieldCondition(condition.key, match=edge.MatchValue(value))
        case None, qm.Range(gte=gte, gt=gt, lte=lte, lt=lt):
            return edge.FieldCondition(
                condition.key, range=edge.RangeFloat(gte=gte, gt=gt, lte=lte, lt=lt)
            )
    raise ValueError(f"unsupported field condition for the edge store: {condition!r}")


def _edge_equals(field: str, value: str) -> edge.FieldCondition:
    return edge.FieldCondition(field, match=edge.MatchValue(value))


def _lock_store(lock_path: Path) -> int:
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(descriptor)
        raise StoreError(
            f"the local index at {lock_path.parent} is in use by another Andon process (the "
            "embedded store allows one process per store): stop it first, or set "
            "ANDON_QDRANT_URL to share a Qdrant server"
        ) from exc
    return descriptor


def _open_passages(path: Path, dimension: int) -> edge.EdgeShard:
    if (path / _CONFIG_FILE).exists():
        stored = json.loads((path / _CONFIG_FILE).read_text()).get("vectors", {}).get(DENSE, {})
        if stored.get("size") != dimension:
            raise StoreError(
                f"collection {path.name} holds {stored.get('size')}-dimensional vectors, the "
                f"embedder makes {dimension}: use another ANDON_QDRANT_COLLECTION"
            )
    config = edge.EdgeConfig(
        vectors={DENSE: edge.EdgeVectorParams(size=dimension, distance=edge.Distance.Cosine)},
        # The engine applies IDF to our BM25 term weights at query time, as Qdrant does.
        sparse_vectors={SPARSE: edge.EdgeSparseVectorParams(modifier=edge.Modifier.Idf)},
    )
    shard = _open_shard(path, config)
    indexed = shard.info().payload_schema
    for field, schema in _INDEXES.items():
        if field not in indexed:
            shard.update(edge.UpdateOperation.create_field_index(field, schema))
    return shard


def _open_shard(path: Path, config: edge.EdgeConfig) -> edge.EdgeShard:
    if (path / _CONFIG_FILE).exists():
        return edge.EdgeShard.load(str(path), config)
    return edge.EdgeShard.create(str(path), config)
