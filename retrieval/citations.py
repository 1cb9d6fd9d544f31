"""Stable citation ids: ``<doc_id>#<section/path>[@p<page>]:<chunk>``.

Ids depend only on the document id, its heading structure, the page and the chunk's position in
its section, so re-ingesting an unchanged document gives the same ids and a citation stays valid
across re-ingestion. Log records use their record id as the section: ``maint-log#WO-24-0153:0``.
"""

from __future__ import annotations

import re

CITATION_SEP = "#"
DOC_ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"

_NON_WORD = re.compile(r"[^a-z0-9.]+")


def slug(heading: str) -> str:
    """``"6.2 Vibration / noise"`` -> ``"6.2-vibration-noise"`` (keeps section-number dots)."""
    return _NON_WORD.sub("-", heading.lower()).strip("-.") or "section"


def citation_id(
    doc_id: str, section_path: tuple[str, ...], chunk: int, page: int | None = None
) -> str:
    section = "/".join(slug(part) for part in section_path)
    where = f"@p{page}" if page is not None else ""
    return f"{doc_id}{CITATION_SEP}{section}{where}:{chunk}"


def record_citation_id(doc_id: str, record_id: str, chunk: int = 0) -> str:
    """Citation of one log record (or of a part of a long one); record ids are kept verbatim."""
    return f"{doc_id}{CITATION_SEP}{record_id}:{chunk}"


def cites(citation: str, target: str) -> bool:
    """Whether ``citation`` lies in ``target``: a document id, a section prefix or a full id.

    ``manual#6-troubleshooting/6.2-vibration:1`` lies in ``manual#6-troubleshooting``;
    a sibling section whose slug merely starts the same way does not.
    """
    if citation == target:
        return True
    if CITATION_SEP not in target:
        return citation.split(CITATION_SEP, 1)[0] == target
    return any(citation.startswith(target + sep) for sep in ("/", "@", ":"))
