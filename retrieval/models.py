"""Contracts of retrieval/: document metadata, passages (what gets indexed) and search hits."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
