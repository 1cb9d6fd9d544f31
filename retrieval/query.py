"""What a question is about, read with small deterministic rules: assets, history, dates, codes.

The reranker turns these into preferences (boosts, never filters): passages of the named asset,
maintenance records for questions about the past, records dated in the period the question names,
sections whose heading fits the form of the question ("how often" -> an intervals table).
Identifiers and numbered references feed abstention: a code that no readable passage contains, or
a line the plant does not have, cannot be answered from the documents. Rare words weigh in the
evidence for an answer: a question about "OEE" is not answered by documents that never say it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from . import sparse
from .assets import AssetAliases
from .weights import load_tokenizer

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


def _heading_words(words: str) -> frozenset[str]:
    return frozenset(sparse.terms(words))


# Forms of question and the words of the section headings that answer them in a technical manual
# or procedure ("how often" -> "Inspection and lubrication intervals", "part number" -> "Spare
# parts"): the usual chapters of such documents, a hint weighted low (rerank.CUE).
_HEADING_CUES = (
    (
        r"\bhow often\b|\bintervals?\b|\bhow many \w+ (?:before|between|until)\b",
        _heading_words("intervals schedule frequency"),
    ),
    (r"\bpart (?:number|no)\b|\bspares?\b", _heading_words("spare parts")),
    (r"\bwhat does .*\bmean\b|\bfault\b|\berror\b|\bcodes?\b", _heading_words("fault codes")),
    (
        r"\bkeeps?\b|\bwon'?t\b|\bfails?\b|\bjump(?:s|ed)?\b|\btrips?\b|\bproblem\b|\bwrong\b",
        _heading_words("troubleshooting faults failures"),
    ),
    (
        r"\b(?:min|max|minimum|maximum|range|allowed|limits?)\b|\bhow (?:fast|high|low)\b",
        _heading_words("limits setpoint range"),
    ),
    (r"\bwhat (?:oil|grease|lubricant)\b|\blubricants?\b", _heading_words("lubricants")),
    (
        r"\block(?:s|ing)? ?out\b|\bisolat\w*|\bwhich locks\b",
        _heading_words("lockout isolation application energy"),
    ),
)
_CUES = tuple((re.compile(pattern, re.IGNORECASE), words) for pattern, words in _HEADING_CUES)


class QueryIntent(BaseModel):
    model_config = ConfigDict(frozen=True)

    assets: frozenset[str] = frozenset()  # named outright ("press 3", "P-400", "line 2 feeder")
    line_assets: frozenset[str] = frozenset()  # on a line the question names without an asset
    mention_terms: frozenset[str] = frozenset()  # index terms of those mentions ("press", "3")
    history: bool = False
    period: tuple[dt.date, dt.date] | None = None
    identifiers: tuple[str, ...] = ()  # codes as indexed: "e-999", "p400-brg-23160", "coil_low"
    unknown_references: tuple[str, ...] = ()  # "line 3" in a plant without one
    # Heading words that would answer the form of the question, one set per form it takes.
    heading_cues: tuple[frozenset[str], ...] = ()
    # Index terms of words outside everyday English ("inertia", "oee"): when no document holds
    # one, the question asks about something the documents do not cover (rerank.py evidence).
    rare_terms: frozenset[str] = frozenset()


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
    """Index terms that are codes, not words: fault, part or tag ids with letters and digits
    (``e-204``, ``p400-brg-23160``) and tag names joined by underscores (``coil_low``)."""
    found = {
        term
        for term in sparse.terms(text)
        if len(term) >= 3 and re.search(r"[a-z]", term) and (re.search(r"\d", term) or "_" in term)
    }
    return tuple(sorted(found))


def heading_cues(question: str) -> tuple[frozenset[str], ...]:
    return tuple(words for pattern, words in _CUES if pattern.search(question))


@lru_cache(maxsize=1)
def _everyday_words() -> frozenset[str]:
    """Whole words of the embedding model's vocabulary: the frequent words of general English
    text, so "please", "really" or "went" are in it and "inertia", "oee" or "gripper" are not."""
    return frozenset(word for word in load_tokenizer().get_vocab() if word.isalpha())


def rare_terms(question: str) -> frozenset[str]:
    """Index terms of the question's words that everyday English lacks, in any inflection."""
    everyday = _everyday_words()
    return frozenset(
        term
        for word in re.findall(r"[a-z]+", question.lower())
        if word not in everyday
        for term in sparse.terms(word)
        if term not in everyday
    )


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
        heading_cues=heading_cues(question),
        rare_terms=rare_terms(question),
    )
