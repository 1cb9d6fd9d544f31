"""Qdrant storage of passages (dense + BM25 sparse vectors) and of the documents they came from.

Two backends behind one ``Store`` interface, chosen by ``open_store``: a Qdrant server or cluster
when a URL is configured (``PassageStore``, through qdrant-client), otherwise Qdrant's engine
embedded in this process on disk (``edge.EdgePassageStore``). ``PassageStore`` also runs on
qdrant-client's local mode, which the tests use as the server's stand-in. Passages are written
through llama-index's QdrantVectorStore; hybrid queries go to Qdrant directly, because llama-index
fuses hybrid results in Python while Qdrant can fuse them itself (prefetch + reciprocal rank
fusion) under the same access filter.

Each document also gets a record in a second collection, written only after all its passages: a
record whose hash matches means the document is completely indexed, so an ingest interrupted
half-way is simply redone on the next run.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from llama_index.vector_stores.qdrant import QdrantVectorStore
from pydantic import BaseModel, ConfigDict
from qdrant_client import QdrantClient
from qdrant_client import models as qm

from . import sparse
from .models import DocType

DENSE = "dense"
SPARSE = "sparse"
# Namespace of the point ids derived from citation ids and document ids.
_IDS = uuid.UUID("6f1d7c52-3b0e-4b8e-9a51-0c1d2e3f4a5b")
# Payload fields that queries filter on (indexed on a Qdrant server; local mode scans).
_KEYWORD_FIELDS = ("doc_id", "citation_id", "access_groups", "assets", "doc_type")


class StoreError(RuntimeError):
    """The index cannot be opened or used; the message says what to do."""


class DocumentRecord(BaseModel):
    """What the index holds of one document."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    doc_id: str
    title: str
    doc_type: DocType
    revision: str
    assets: tuple[str, ...]
    access_groups: tuple[str, ...]
    source: str
    origin: str  # absolute path it was ingested from, to notice when the file is deleted
    content_sha256: str
    index_version: str = ""  # what built the passages (ingest.INDEX_VERSION)
    passages: int
    ingested_at: dt.datetime


def point_id(key: str) -> str:
    return str(uuid.uuid5(_IDS, key))


class Store(Protocol):
    """What ingestion and search need of an index, whichever backend holds it."""

    def document(self, doc_id: str) -> DocumentRecord | None: ...

    def all_documents(self) -> list[DocumentRecord]: ...

    def put_document(self, record: DocumentRecord) -> None: ...

    def delete_document(self, doc_id: str) -> None: ...

    def count_passages(self, doc_id: str | None = None) -> int: ...

    def add_nodes(self, nodes: Sequence[Any]) -> None: ...

    def passage(self, citation_id: str, allowed: qm.Filter) -> dict[str, Any] | None: ...

    def passage_payloads(self) -> Iterator[dict[str, Any]]: ...

    def hybrid(
        self,
        dense: Sequence[float],
        sparse_vector: sparse.SparseVector,
        where: qm.Filter,
        limit: int,
        candidates: int,
    ) -> list[qm.ScoredPoint]: ...

    def build_index(self) -> None:
        """Build search indexes after a large ingest (a server does it on its own)."""

    def close(self) -> None: ...


def open_store(url: str, api_key: str, path: Path, collection: str, dimension: int) -> Store:
    """The Qdrant server at ``url``; without one, the embedded engine on disk at ``path``."""
    if url:
        return PassageStore(open_client(url, api_key, path), collection, dimension)
    from .edge import EdgePassageStore  # edge.py builds on this module's records and ids

    return EdgePassageStore(path, collection, dimension)


def open_client(url: str, api_key: str, path: Path) -> QdrantClient:
    if url:
        return QdrantClient(url=url, api_key=api_key or None, timeout=30)
    path.mkdir(parents=True, exist_ok=True)
    try:
        return QdrantClient(path=str(path))
    except RuntimeError as exc:  # portalocker: another process holds the local store
        raise StoreError(
            f"the local index at {path} is in use by another Andon process (Qdrant local mode "
            "allows one process per store): stop it first, or set ANDON_QDRANT_URL to share "
            "a Qdrant server"
        ) from exc


class PassageStore:
    def __init__(self, client: QdrantClient, collection: str, dimension: int) -> None:
        self.client = client
        self.passages = f"{collection}_passages"
        self.documents = f"{collection}_documents"
        self.dimension = dimension
        # Local mode is not thread-safe; a server client does not mind the lock.
        self._lock = threading.Lock()
        self._ensure_collections()
        self.vector_store = QdrantVectorStore(
            collection_name=self.passages,
            client=client,
            enable_hybrid=True,
            dense_vector_name=DENSE,
            sparse_vector_name=SPARSE,
            sparse_doc_fn=sparse.encode_documents,
            sparse_query_fn=sparse.encode_queries,
            batch_size=256,
        )

    @property
    def local(self) -> bool:
        return self.client.init_options.get("path") is not None

    def _ensure_collections(self) -> None:
        with self._lock:
            if not self.client.collection_exists(self.passages):
                self.client.create_collection(
                    self.passages,
                    vectors_config={
                        DENSE: qm.VectorParams(size=self.dimension, distance=qm.Distance.COSINE)
                    },
                    # Qdrant applies IDF to our BM25 term weights at query time.
                    sparse_vectors_config={SPARSE: qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
                )
                if not self.local:
                    for field in _KEYWORD_FIELDS:
                        self.client.create_payload_index(
                            self.passages, field, qm.PayloadSchemaType.KEYWORD
                        )
                    self.client.create_payload_index(
                        self.passages, "date_days", qm.PayloadSchemaType.INTEGER
                    )
            else:
                vectors = self.client.get_collection(self.passages).config.params.vectors
                size = vectors[DENSE].size if isinstance(vectors, dict) else None
                if size != self.dimension:
                    raise StoreError(
                        f"collection {self.passages} holds {size}-dimensional vectors, the "
                        f"embedder makes {self.dimension}: use another ANDON_QDRANT_COLLECTION"
                    )
            if not self.client.collection_exists(self.documents):
                self.client.create_collection(self.documents, vectors_config={})

    # -- documents ---------------------------------------------------------------------------

    def document(self, doc_id: str) -> DocumentRecord | None:
        with self._lock:
            found = self.client.retrieve(self.documents, [point_id(doc_id)], with_payload=True)
        return DocumentRecord.model_validate(found[0].payload) if found else None

    def all_documents(self) -> list[DocumentRecord]:
        records: list[DocumentRecord] = []
        offset: Any = None
        while True:
            with self._lock:
                points, offset = self.client.scroll(
                    self.documents, limit=512, offset=offset, with_payload=True
                )
            records.extend(DocumentRecord.model_validate(p.payload) for p in points)
            if offset is None:
                return sorted(records, key=lambda r: r.doc_id)

    def put_document(self, record: DocumentRecord) -> None:
        point = qm.PointStruct(
            id=point_id(record.doc_id), vector={}, payload=record.model_dump(mode="json")
        )
        with self._lock:
            self.client.upsert(self.documents, [point], wait=True)

    def delete_document(self, doc_id: str) -> None:
        """Remove a document's record first (it is no longer complete), then its passages."""
        with self._lock:
            self.client.delete(self.documents, [point_id(doc_id)], wait=True)
            self.client.delete(self.passages, _match("doc_id", doc_id), wait=True)

    def count_passages(self, doc_id: str | None = None) -> int:
        where = qm.Filter(must=[_equals("doc_id", doc_id)]) if doc_id else None
        with self._lock:
            return self.client.count(self.passages, count_filter=where, exact=True).count

    # -- passages ----------------------------------------------------------------------------

    def add_nodes(self, nodes: Sequence[Any]) -> None:
        with self._lock:
            self.vector_store.add(list(nodes))

    def passage(self, citation_id: str, allowed: qm.Filter) -> dict[str, Any] | None:
        """The payload of one passage, if ``allowed`` admits it."""
        where = qm.Filter(must=[_equals("citation_id", citation_id), allowed])
        with self._lock:
            points, _ = self.client.scroll(self.passages, where, limit=1, with_payload=True)
        return points[0].payload if points else None

    def passage_payloads(self) -> Iterator[dict[str, Any]]:
        """Every passage's payload, page by page (search's term statistics read them)."""
        offset: Any = None
        while True:
            with self._lock:
                points, offset = self.client.scroll(
                    self.passages, limit=512, offset=offset, with_payload=True
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
        """Dense and keyword candidates under ``where``, fused by reciprocal rank in Qdrant."""
        prefetch = [qm.Prefetch(query=list(dense), using=DENSE, limit=candidates, filter=where)]
        indices, values = sparse_vector
        if indices:  # a query of stop words only has no keyword side
            prefetch.append(
                qm.Prefetch(
                    query=qm.SparseVector(indices=indices, values=values),
                    using=SPARSE,
                    limit=candidates,
                    filter=where,
                )
            )
        with self._lock:
            return self.client.query_points(
                self.passages,
                prefetch=prefetch,
                query=qm.FusionQuery(fusion=qm.Fusion.RRF),
                query_filter=where,
                limit=limit,
                with_payload=True,
                with_vectors=[DENSE],
            ).points

    def build_index(self) -> None:
        """Nothing to do: a Qdrant server indexes in the background by itself."""

    def close(self) -> None:
        with self._lock:
            self.client.close()


def _equals(field: str, value: str) -> qm.FieldCondition:
    return qm.FieldCondition(key=field, match=qm.MatchValue(value=value))


def _match(field: str, value: str) -> qm.FilterSelector:
    return qm.FilterSelector(filter=qm.Filter(must=[_equals(field, value)]))
