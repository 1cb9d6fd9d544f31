"""Entry points: discover() the documents under some paths, parse_document() one of them."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ..citations import citation_id, record_citation_id, slug
from ..models import DocumentMeta, Passage
from .chunking import Chunk, chunk_layout
from .errors import DocumentError
from .html import parse_html
from .markdown import parse_markdown
from .meta import SIDECAR_SUFFIX, front_matter, sidecar_meta, sidecar_path
from .pdf import parse_pdf
from .records import Record, parse_csv, parse_jsonl, record_chunks

SUPPORTED_SUFFIXES = frozenset({".md", ".pdf", ".html", ".htm", ".csv", ".jsonl"})


class ParsedDocument(BaseModel):
    model_config = ConfigDict(frozen=True)

    meta: DocumentMeta
    passages: list[Passage]
    source: str  # path relative to the ingested root, POSIX
    content_sha256: str  # of the document and its sidecar: a metadata edit is a change


def discover(paths: Sequence[Path]) -> list[Path]:
    """Supported documents under ``paths`` (directories recursively), sorted, without
    sidecars and hidden files; a named file of another type is an error."""
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            for candidate in path.rglob("*"):
                relative = candidate.relative_to(path).parts
                if (
                    candidate.is_file()
                    and _supported(candidate)
                    and not any(part.startswith(".") for part in relative)
                ):
                    found.add(candidate)
        elif path.is_file():
            if not _supported(path):
                raise DocumentError(path, _unsupported(path))
            found.add(path)
        else:
            raise DocumentError(path, "no such file or directory")
    return sorted(found)


def parse_document(path: Path, root: Path) -> ParsedDocument:
    if not _supported(path):
        raise DocumentError(path, _unsupported(path))
    source = _source(path, root)
    raw = _read(path)
    digest = hashlib.sha256(raw)
    if path.suffix.lower() == ".md":
        text = _decoded(path, raw).replace("\r\n", "\n")
        meta, body_start = front_matter(path, text)
        passages = _chunk_passages(meta, source, chunk_layout(parse_markdown(text, body_start)))
    else:
        sidecar = sidecar_path(path)
        if not sidecar.is_file():
            problem = f"no metadata: expected a sidecar file {sidecar.name} beside it"
            raise DocumentError(path, problem)
        sidecar_raw = _read(sidecar)
        digest.update(sidecar_raw)
        meta = sidecar_meta(sidecar, sidecar_raw)
        passages = _content_passages(path, raw, meta, source)
    return ParsedDocument(
        meta=meta, passages=passages, source=source, content_sha256=digest.hexdigest()
    )


def _content_passages(path: Path, raw: bytes, meta: DocumentMeta, source: str) -> list[Passage]:
    """Passages of a document whose metadata lives in a sidecar."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return _chunk_passages(meta, source, chunk_layout(parse_pdf(path, raw, (meta.title,))))
    if suffix in (".html", ".htm"):
        return _chunk_passages(meta, source, chunk_layout(parse_html(_decoded(path, raw))))
    parse_records = parse_csv if suffix == ".csv" else parse_jsonl
    return _record_passages(meta, source, parse_records(path, _decoded(path, raw)))


def _supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def _unsupported(path: Path) -> str:
    if path.name.endswith(SIDECAR_SUFFIX):
        return "is a metadata sidecar, not a document"
    kinds = ", ".join(sorted(SUPPORTED_SUFFIXES))
    return f"unsupported document type {path.suffix or '(none)'!r}: supported are {kinds}"


def _source(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise DocumentError(path, f"is not inside the ingested root {root}") from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise DocumentError(path, f"cannot be read ({error.strerror})") from None


def _decoded(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        problem = f"is not UTF-8 text ({error.reason} at byte {error.start})"
        raise DocumentError(path, problem) from None


def _chunk_passages(meta: DocumentMeta, source: str, chunks: Sequence[Chunk]) -> list[Passage]:
    """Chunks numbered 0, 1, ... within their (section, page), so an edit elsewhere keeps ids."""
    counters: Counter[tuple[tuple[str, ...], int | None]] = Counter()
    passages = []
    for chunk in chunks:
        key = (tuple(slug(title) for title in chunk.path), chunk.page)
        number = counters[key]
        counters[key] += 1
        passages.append(
            Passage(
                citation_id=citation_id(meta.doc_id, chunk.path, number, chunk.page),
                section_path=chunk.path,
                page=chunk.page,
                chunk=number,
                text=chunk.text,
                **_document_fields(meta, source),
            )
        )
    return passages


def _record_passages(meta: DocumentMeta, source: str, records: Sequence[Record]) -> list[Passage]:
    fields = _document_fields(meta, source)
    return [
        Passage(
            **fields
            | {
                "citation_id": record_citation_id(meta.doc_id, record.record_id, chunk),
                "section_path": (record.record_id,),
                "chunk": chunk,
                "text": text,
                # A record names its asset; the document's list is for records that do not.
                "assets": record.assets or meta.assets,
                "date": record.date,
                "failure_mode": record.failure_mode,
            }
        )
        for record in records
        for chunk, text in enumerate(record_chunks(record.text))
    ]


def _document_fields(meta: DocumentMeta, source: str) -> dict[str, object]:
    return {
        "doc_id": meta.doc_id,
        "title": meta.title,
        "doc_type": meta.doc_type,
        "revision": meta.revision,
        "assets": meta.assets,
        "access_groups": meta.access_groups,
        "source": source,
    }
