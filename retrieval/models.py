"""Contracts of retrieval/: document metadata, passages (what gets indexed) and search hits."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from .citations import CITATION_SEP, DOC_ID_PATTERN


class DocType(StrEnum):
    manual = "manual"
    lockout_procedure = "lockout_procedure"
    sop = "sop"
    safety_rule = "safety_rule"
    glossary = "glossary"
    maintenance_log = "maintenance_log"
    work_order = "work_order"
    contract = "contract"
    engineering_procedure = "engineering_procedure"


# Everyone's role grants "general"; restricted documents name narrower groups.
PUBLIC_GROUP = "general"


class DocumentMeta(BaseModel):
    """What a document says about itself: Markdown front matter or a ``<file>.meta.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    doc_id: str = Field(pattern=DOC_ID_PATTERN, max_length=80)
    title: str = Field(min_length=1, max_length=200)
    doc_type: DocType
    revision: str = Field(min_length=1, max_length=40)
    assets: tuple[str, ...] = ()
    access_groups: tuple[str, ...] = (PUBLIC_GROUP,)
    effective: dt.date | None = None

    @field_validator("access_groups")
    @classmethod
    def _some_group(cls, groups: tuple[str, ...]) -> tuple[str, ...]:
        if not groups:
            raise ValueError("a document needs at least one access group")
        return groups


class Passage(BaseModel):
    """One indexed unit of text, with everything needed to cite it and to filter on it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    citation_id: str
    doc_id: str
    title: str
    doc_type: DocType
    revision: str
    section_path: tuple[str, ...] = ()
    page: int | None = None
    chunk: int = 0
    text: str
    assets: tuple[str, ...] = ()
    access_groups: tuple[str, ...]
    date: dt.date | None = None
    failure_mode: str | None = None
    source: str  # path of the document relative to the ingested root

    @field_validator("citation_id")
    @classmethod
    def _cites_its_document(cls, value: str) -> str:
        if CITATION_SEP not in value:
            raise ValueError(f"citation id {value!r} has no '{CITATION_SEP}'")
        return value


class SearchFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assets: tuple[str, ...] = Field(default=(), max_length=20)
    doc_types: tuple[DocType, ...] = Field(default=(), max_length=len(DocType))
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @field_validator("date_to")
    @classmethod
    def _ordered(cls, date_to: dt.date | None, info: ValidationInfo) -> dt.date | None:
        date_from = info.data.get("date_from")
        if date_to and date_from and date_to < date_from:
            raise ValueError("date_to is before date_from")
        return date_to


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=1000)
    top_k: int = Field(default=5, ge=1, le=50)
    filters: SearchFilters = SearchFilters()


class SearchHit(BaseModel):
    """A passage that answers a query, with what is needed to cite and to show it."""

    citation_id: str
    doc_id: str
    title: str
    doc_type: DocType
    revision: str
    section_path: tuple[str, ...]
    page: int | None
    text: str  # the passage exactly as it stands in the document
    assets: tuple[str, ...]
    date: dt.date | None
    failure_mode: str | None
    source: str
    score: float  # reciprocal-rank fusion of the dense and keyword rankings
    similarity: float  # cosine similarity of query and passage embeddings
    # What the hits are ordered by: similarity plus the reranker's preferences (rerank.py).
    relevance: float = 0.0


class SearchResult(BaseModel):
    query: str
    hits: list[SearchHit]
    # True when even the best passage is too far from the question to stand on: say so.
    abstain: bool
    threshold: float
    # How well the best hits answer: similarity plus coverage of the question's topic terms;
    # the result abstains below ``threshold``.
    evidence: float = 0.0
    # Codes and numbered references of the question that no passage the reader may read (within
    # the request's filters) holds, or that the plant lacks ("E-999", "line 3"): the result
    # abstains whatever the evidence.
    unknown: list[str] = Field(default_factory=list)
