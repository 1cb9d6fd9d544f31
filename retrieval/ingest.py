"""Incremental ingestion: documents on disk -> passages -> llama-index pipeline -> Qdrant.

Unchanged documents (same bytes and metadata) are skipped; a changed document's passages are all
replaced, so no stale passage survives an edit; a document deleted from an ingested folder, or
removed by id, loses its passages.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode, TransformComponent

from .assets import configured_aliases
from .embedding import MODEL_ID
from .models import Passage
from .parsing import DocumentError, ParsedDocument, discover, parse_document
from .search import date_days
from .store import DocumentRecord, Store, point_id

log = structlog.get_logger(__name__)

# Passages embedded per pipeline run: bounds memory and paces the progress bar.
BATCH = 128
# What the embedder and the keyword index see besides the passage text.
_EMBEDDED_METADATA = ("title", "section", "equipment")
# Passages about more assets than this (glossary, rulebook) get no equipment line: it would name
# most of the plant and tell passages apart by nothing.
_MAX_NAMED_ASSETS = 2


class IngestStopped(Exception):
    """The process is shutting down; the named document stays marked incomplete."""


# After an ingest this large, the store builds its search index (minutes at 100k passages,
# during which searches wait); small syncs leave it to the next large one.
BUILD_INDEX_AFTER = 5_000

# Bump the suffix when what gets embedded or indexed for a passage changes (passage_node):
# documents indexed by another version are rebuilt even though their files are unchanged.
INDEX_VERSION = f"{MODEL_ID}|passage-text-2"

Progress = Callable[[int], None]  # called with the number of passages just indexed


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    passages: int = 0  # passages written in this run

    @property
    def ok(self) -> bool:
        return not self.errors


def passage_node(passage: Passage, content_sha256: str) -> TextNode:
    metadata = passage.model_dump(mode="json", exclude={"text"})
    metadata["section"] = " > ".join(passage.section_path)
    metadata["date_days"] = date_days(passage.date) if passage.date else None
    metadata["content_sha256"] = content_sha256
    if 0 < len(passage.assets) <= _MAX_NAMED_ASSETS:
        # Ids and plant names, so "press 3" or "P-400" find a passage that says "the press".
        aliases = configured_aliases()
        metadata["equipment"] = "; ".join(aliases.label(a) for a in passage.assets)
    return TextNode(
        id_=point_id(passage.citation_id),
        text=passage.text,
        metadata=metadata,
        excluded_embed_metadata_keys=[k for k in metadata if k not in _EMBEDDED_METADATA],
        excluded_llm_metadata_keys=[k for k in metadata if k not in _EMBEDDED_METADATA],
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=passage.doc_id)},
    )


def _root_of(path: Path) -> Path:
    return path if path.is_dir() else path.parent


class Ingestor:
    def __init__(self, store: Store, embed_model: TransformComponent) -> None:
        self.store = store
        # No docstore: which documents changed is decided here, per document, from the records.
        self.pipeline = IngestionPipeline(transformations=[embed_model], disable_cache=True)
        # Set on shutdown: the run stops at the next batch (the document is redone next time).
        self.stop = threading.Event()

    def plan(
        self, paths: Sequence[Path], report: IngestReport
    ) -> tuple[list[tuple[ParsedDocument, Path]], list[DocumentRecord]]:
        """Parse everything under ``paths``; return what to (re)index and what to remove."""
        files: list[tuple[Path, Path]] = []
        for path in paths:
            if not path.exists():
                report.errors.append(f"{path}: no such file or folder")
                continue
            try:
                files.extend((f, _root_of(path)) for f in discover([path]))
            except DocumentError as exc:
                report.errors.append(str(exc))
        changed: list[tuple[ParsedDocument, Path]] = []
        seen: dict[str, Path] = {}
        for file, root in files:
            try:
                document = parse_document(file, root)
            except DocumentError as exc:
                report.errors.append(str(exc))
                continue
            doc_id = document.meta.doc_id
            if doc_id in seen:
                report.errors.append(f"{file}: doc_id {doc_id!r} is already used by {seen[doc_id]}")
                continue
            seen[doc_id] = file.resolve()
            current = self.store.document(doc_id)
            if (
                current
                and current.content_sha256 == document.content_sha256
                and current.index_version == INDEX_VERSION
            ):
                report.unchanged.append(doc_id)
            else:
                (report.updated if current else report.added).append(doc_id)
                changed.append((document, file.resolve()))
        folders = [p.resolve() for p in paths if p.is_dir()]
        gone = [
            record
            for record in self.store.all_documents()
            if record.doc_id not in seen
            and any(Path(record.origin).is_relative_to(folder) for folder in folders)
            and not Path(record.origin).exists()
        ]
        return changed, gone

    def index(self, document: ParsedDocument, origin: Path, progress: Progress | None) -> int:
        meta = document.meta
        # The record goes first, so a crash below leaves the document marked as incomplete.
        self.store.delete_document(meta.doc_id)
        nodes = [passage_node(p, document.content_sha256) for p in document.passages]
        for start in range(0, len(nodes), BATCH):
            if self.stop.is_set():
                raise IngestStopped(meta.doc_id)
            batch = nodes[start : start + BATCH]
            self.store.add_nodes(self.pipeline.run(nodes=batch))
            if progress:
                progress(len(batch))
        self.store.put_document(
            DocumentRecord(
                doc_id=meta.doc_id,
                title=meta.title,
                doc_type=meta.doc_type,
                revision=meta.revision,
                assets=meta.assets,
                access_groups=meta.access_groups,
                source=document.source,
                origin=str(origin),
                content_sha256=document.content_sha256,
                index_version=INDEX_VERSION,
                passages=len(nodes),
                ingested_at=dt.datetime.now(dt.UTC),
            )
        )
        log.debug("document indexed", doc_id=meta.doc_id, passages=len(nodes))
        return len(nodes)

    def sync(
        self,
        paths: Sequence[Path],
        progress: Progress | None = None,
        on_plan: Callable[[int], None] | None = None,
    ) -> IngestReport:
        """Bring the index in line with ``paths``; ``on_plan`` gets the passages to embed."""
        report = IngestReport()
        changed, gone = self.plan(paths, report)
        if on_plan:
            on_plan(sum(len(document.passages) for document, _ in changed))
        for record in gone:
            self.remove(record.doc_id)
            report.removed.append(record.doc_id)
        for document, origin in changed:
            try:
                report.passages += self.index(document, origin, progress)
            except IngestStopped as stopped:
                report.errors.append(f"stopped before {stopped} was complete")
                break
        if report.passages >= BUILD_INDEX_AFTER:
            self.store.build_index()
        return report

    def remove(self, doc_id: str) -> bool:
        found = self.store.document(doc_id) is not None or self.store.count_passages(doc_id) > 0
        self.store.delete_document(doc_id)
        if found:
            log.debug("document removed", doc_id=doc_id)
        return found
