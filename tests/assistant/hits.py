"""A retrieved passage for tests that build a grounding by hand."""

from __future__ import annotations

import datetime as dt

from retrieval.models import DocType, SearchHit


def hit(citation_id: str, text: str) -> SearchHit:
    return SearchHit(
        citation_id=citation_id,
        doc_id=citation_id.split("#")[0],
        title="Press 3 manual",
        doc_type=DocType.manual,
        revision="1",
        section_path=("6 Troubleshooting", "6.2 Vibration"),
        page=None,
        text=text,
        assets=("press-3",),
        date=dt.date(2026, 1, 1),
        failure_mode=None,
        source="manual.md",
        score=1.0,
        similarity=0.9,
    )
