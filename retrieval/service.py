"""The retrieval service the API and the assistant call: search, citations, ingestion."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from pathlib import Path

from .embedding import MiniLMEmbedder, MiniLMEmbedding
from .ingest import Ingestor, IngestReport, Progress
from .metrics import DOCUMENTS_INDEXED, PASSAGES_WRITTEN, SEARCH_ABSTAINED, SEARCH_SECONDS
from .models import SearchHit, SearchRequest, SearchResult
from .search import Searcher
from .store import DocumentRecord, Store, open_store


class RetrievalService:
    def __init__(self, store: Store, embedder: MiniLMEmbedder) -> None:
        self.store = store
        self.searcher = Searcher(store, embedder)
        self.ingestor = Ingestor(store, MiniLMEmbedding(embedder))
        self._sync_lock = asyncio.Lock()

    @classmethod
    def open(
        cls, *, url: str, api_key: str, path: Path, collection: str, threads: int
    ) -> RetrievalService:
        """A Qdrant server at ``url``, or the embedded engine at ``path`` when ``url`` is empty."""
        embedder = MiniLMEmbedder(threads=threads)
        return cls(open_store(url, api_key, path, collection, embedder.dimension), embedder)

    @property
    def syncing(self) -> bool:
        """Whether the index is being changed (an ingest or a removal holds the lock)."""
        return self._sync_lock.locked()

    def close(self) -> None:
        self.store.close()

    async def aclose(self) -> None:
        """Stop an ingest in progress at its next batch, then close the store."""
        self.ingestor.stop.set()
        async with self._sync_lock:
            self.close()

    async def search(self, request: SearchRequest, groups: Iterable[str]) -> SearchResult:
        with SEARCH_SECONDS.time():
            result = await asyncio.to_thread(self.searcher.search, request, frozenset(groups))
        if result.abstain:
            SEARCH_ABSTAINED.inc()
        return result

    async def passage(self, citation_id: str, groups: Iterable[str]) -> SearchHit | None:
        return await asyncio.to_thread(self.searcher.passage, citation_id, frozenset(groups))

    async def documents(self, groups: Iterable[str]) -> list[DocumentRecord]:
        readable = frozenset(groups)
        records = await asyncio.to_thread(self.store.all_documents)
        return [r for r in records if readable.intersection(r.access_groups)]

    async def sync(self, paths: Sequence[Path], progress: Progress | None = None) -> IngestReport:
        async with self._sync_lock:  # one ingest at a time per process
            report = await asyncio.to_thread(self.ingestor.sync, paths, progress)
            PASSAGES_WRITTEN.inc(report.passages)
            DOCUMENTS_INDEXED.set(len(await asyncio.to_thread(self.store.all_documents)))
            return report

    async def remove(self, doc_id: str) -> bool:
        async with self._sync_lock:
            return await asyncio.to_thread(self.ingestor.remove, doc_id)
