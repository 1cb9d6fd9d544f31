"""What a question is about, read with small deterministic rules: assets, history, dates, codes.

The reranker turns these into preferences (boosts, never filters): passages of the named asset,
maintenance records for questions about the past, records dated in the period the question names.
Identifiers and numbered references feed abstention: a code that no readable passage contains, or
a line the plant does not have, cannot be answered from the documents.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

from pydantic import BaseModel, ConfigDict

from . import sparse
from .assets import AssetAliases

# Questions about what happened rather than what should be: the answer is in the records.
_HISTORY = re.compile(
    r"\b(?:when (?:was|were|did|has|have)|last (?:replaced|changed|fitted|serviced|time)"
    r"|what (?:was|were) (?:done|found|the problem|the cause)|what happened|what caused"
    r"|why (?:did|was|were)|how did|did we|history|still open)\b",
    re.IGNORECASE,
)
_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_SEASONS = {"spring": (3, 5), "summer": (6, 8), "autumn": (9, 11), "fall": (9, 11)}
_YEAR = r"((?:19|20)\d\d)\b"
# "9 July 2026", "July 2026", "summer 2026"; a bare year only after a preposition ("in 2025"),
# so that a quantity such as "2000 m" is not read as a year.
_DATED = re.compile(
    r"\b(?:(\d{1,2})\s+)?(" + "|".join([*_MONTHS, *_SEASONS]) + r")\s+" + _YEAR, re.IGNORECASE
)
_IN_YEAR = re.compile(r"\b(?:in|since|during|before|after|until|from|of)\s+" + _YEAR, re.IGNORECASE)


class QueryIntent(BaseModel):
    model_config = ConfigDict(frozen=True)

    assets: frozenset[str] = frozenset()  # named outright ("press 3", "P-400", "line 2 feeder")
    line_assets: frozenset[str] = frozenset()  # on a line the question names without an asset
    mention_terms: frozenset[str] = frozenset()  # index terms of those mentions ("press", "3")
    history: bool = False
    period: tuple[dt.date, dt.date] | None = None
    identifiers: tuple[str, ...] = ()  # codes as indexed: "e-999", "p400-brg-23160"
    unknown_references: tuple[str, ...] = ()  # "line 3" in a plant without one


def _period(text: str) -> tuple[dt.date, dt.date] | None:
    """The day, month, season or year the question names, as a closed date range."""
    dated = _DATED.search(text)
    if dated:
        day, word, year = dated.group(1), dated.group(2).lower(), int(dated.group(3))
        first, last = _SEASONS.get(word) or (_MONTHS[word], _MONTHS[word])
        if day and first == last:
            on = dt.date(year, first, min(int(day), calendar.monthrange(year, first)[1]))
            return on, on
        return dt.date(year, first, 1), dt.date(year, last, calendar.monthrange(year, last)[1])
    bare = _IN_YEAR.search(text)
    if bare:
        year = int(bare.group(1))
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    return None


def identifiers(text: str) -> tuple[str, ...]:
    """Index terms that are codes (letters and digits, e.g. fault, part or tag ids), not words."""
    found = {
        term
        for term in sparse.terms(text)
        if len(term) >= 3 and re.search(r"[a-z]", term) and re.search(r"\d", term)
    }
    return tuple(sorted(found))


def read_intent(question: str, aliases: AssetAliases) -> QueryIntent:
    assets = aliases.mentioned_assets(question)
    lines = aliases.mentioned_lines(question)
    period = _period(question)
    return QueryIntent(
        assets=assets,
        line_assets=aliases.on_lines(lines) if not assets else frozenset(),
        mention_terms=aliases.mention_terms(question),
        history=bool(_HISTORY.search(question)) or period is not None,
        period=period,
        identifiers=identifiers(question),
        unknown_references=tuple(aliases.unknown_references(question)),
    )
