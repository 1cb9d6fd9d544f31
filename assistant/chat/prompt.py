"""What the model is shown for one question, and how its reply is read.

Kept compact on purpose: on a 2-core CPU the prompt's prefill, not the answer, takes most of
the time, so passages are cut, only the plant facts the question is about are shown, and each
source is headed by a number instead of its citation id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, create_model

from assistant.grounding import Grounding, PlantFact, render_sources
from assistant.llm import ChatMessage

from .models import Turn

ABSTAIN_TEXT = "The plant's documents do not answer this."
# Each earlier answer given as context for a follow-up is cut to this many characters.
HISTORY_ANSWER_CHARS = 300

SYSTEM_PROMPT = (
    "You are Andon, the assistant of the operators at {site}. Answer the operator's question "
    "from the numbered sources (the plant's documents and live readings of the plant) in at most "
    "three short sentences, then list the numbers of the sources the answer comes from. If no "
    "source answers the question, leave the answer empty: never guess."
)
# For a decoder that allows no whitespace in JSON (LanguageModel.compact_json): not shown this,
# Qwen2.5 under vLLM's xgrammar opened most answers with ", " (`{"answer":", ",...}`). Not shown
# to llama.cpp, whose grammar allows the blank the model writes: there it made answers longer
# and less often borne out by their sources (bench/RESULTS.md, session 7).
COMPACT_JSON_HINT = ' Reply in JSON: {"answer":"...","sources":["..."]}.'
# Bounds of an answer: what a 1.5B model states well, and what keeps the decoding short.
ANSWER_CHARS = 400
MAX_CITED = 3
# Of an answer's words, the share its cited sources must hold for it to stand.
SUPPORT = 0.5

# Questions about what the plant is doing now: live plant facts apply to them.
_LIVE_STATE = re.compile(
    r"\b(running|stopped|paused|faulted|status|state|alarms?|lock ?outs?|locked|"
    r"now|currently|current|live|reading|at the moment)\b",
    re.IGNORECASE,
)
# Questions whose answer is a number: the answer need not repeat their words.
_QUANTITY = re.compile(
    r"\bhow (?:many|much|long|often|high|low|fast|hot|warm|big|heavy)\b", re.IGNORECASE
)
# Words and numbers ("7.1") that say what a question is about.
_TERM = re.compile(r"[a-z]+|\d+(?:\.\d+)?")
# Questions on the whole state of equipment: every reading applies, not only named ones.
_OVERALL = re.compile(r"\b(status|state|doing|readings?|values|overview|how is)\b", re.IGNORECASE)
# Words that name equipment or nothing in particular: they must not pick tags or lines.
_UNSPECIFIC_WORDS = frozenset(
    {"press", "feeder", "conveyor", "vision", "station", "line", "coil", "the", "and", "for"}
    | {"what", "when", "which", "with", "that", "this", "have", "does", "from", "right", "there"}
    | {"should", "would", "could", "into", "goes", "about", "whom", "where", "much", "many"}
    | {"now", "currently", "current", "live", "tell", "show", "give", "any", "are", "was", "how"}
    | {"above", "below", "over", "under", "than", "more", "less", "after", "before"}
)
_REFERENCE = re.compile(r" ?\[([^\[\]\s]+)\]")
_STATUS_FACTS = frozenset(
    {"connected", "run_state", "lockouts", "active_alarms", "manual_override", "run_states"}
)


def _asks_live_state(question: str) -> bool:
    return bool(_LIVE_STATE.search(question))


def relevant_facts(question: str, facts: Sequence[PlantFact]) -> list[PlantFact]:
    """The facts ``question`` is about: readings it names ("vibration", "temperature"), and
    for a question on the present state, run states, lockouts and alarms too (every reading
    when it asks for the overall state). The connection only when it is lost."""
    lost = [f for f in facts if f.name == "connected" and f.value is False]
    status = [f for f in facts if f.name in _STATUS_FACTS and f.name != "connected"]
    tags = [f for f in facts if f.name not in _STATUS_FACTS]
    words = _terms(question)
    named = [f for f in tags if _shares_term(words, _terms(f.text))]
    if _OVERALL.search(question):
        return lost + status + tags
    if _asks_live_state(question):
        return lost + status + named
    return lost + named if named else []


def _terms(text: str) -> set[str]:
    """Words of 3 letters or more and numbers that are values (``7.1``, ``22``), not the
    ``3`` of ``press 3``."""
    return {
        t
        for t in _TERM.findall(text.lower())
        if (len(t) >= 3 if t.isalpha() else len(t) >= 2) and t not in _UNSPECIFIC_WORDS
    }


def _shares_term(question: set[str], text: set[str]) -> int:
    """How many of the question's terms ``text`` has, up to inflection or abbreviation
    (vibrating/vibration, temp/temperature); numbers and short words only as they are."""
    return sum(1 for a in question if any(_same_term(a, b) for b in text))


def _same_term(a: str, b: str) -> bool:
    if a == b:
        return True
    if len(a) < 4 or len(b) < 4 or not a.isalpha() or not b.isalpha():
        return False
    return a.startswith(b) or b.startswith(a) or a[:5] == b[:5]


def focus(text: str, question: str, budget: int) -> str:
    """``text`` cut to about ``budget`` characters, keeping the lines that share most terms with
    ``question`` (a table keeps its header), in their order; "..." marks what was left out.
    A long passage is mostly a table or a list of which one or two rows matter."""
    if len(text) <= budget:
        return text
    lines = text.splitlines()
    words = _terms(question)
    keep = {0}
    for i, line in enumerate(lines):
        # A table's header and separator rows, so kept rows still say what their cells are.
        if line.startswith("|") and (i == 0 or not lines[i - 1].startswith("|")):
            keep.update({i, i + 1})
    keep &= set(range(len(lines)))
    scores = [_shares_term(words, _terms(line)) for line in lines]
    used = sum(len(lines[i]) + 1 for i in keep)
    # Best lines first; with no line on the question's terms, the passage's beginning.
    order = (
        sorted(range(len(lines)), key=lambda i: -scores[i]) if any(scores) else range(len(lines))
    )
    for i in order:
        if (scores[i] == 0 and any(scores)) or i in keep or used + len(lines[i]) > budget:
            continue
        keep.add(i)
        used += len(lines[i]) + 1
    out: list[str] = []
    for i in sorted(keep):
        if out and i - 1 not in keep:
            out.append("...")
        out.append(lines[i][:budget])
    if max(keep) < len(lines) - 1:
        out.append("...")
    return "\n".join(out)


class _Answer(BaseModel):
    answer: str
    sources: list[str]


@lru_cache(maxsize=64)
def answer_schema(sources: int) -> type[_Answer]:
    """The answer's schema for ``sources`` numbered sources: the answer, then the numbers of the
    sources it comes from. Decoding under it (a grammar for llama.cpp, guided decoding for vLLM)
    means the model cannot cite a source it was not given; an empty answer is the abstention."""
    label = Literal[tuple(str(n) for n in range(1, sources + 1))]  # type: ignore[valid-type]
    return create_model(
        "Answer",
        __base__=_Answer,
        answer=(str, Field(max_length=ANSWER_CHARS)),
        sources=(list[label], Field(max_length=MAX_CITED)),
    )


def borne_out(sentence: str, source: str) -> bool:
    """Whether ``source`` holds what ``sentence`` says: every value it states, and most of its
    words (up to inflection). A value the model got wrong is the costly mistake in a plant."""
    said, held = _terms(sentence), _terms(source)
    values = {t for t in said if not t.isalpha()}
    if not values <= held:
        return False
    words = said - values
    return not words or _shares_term(words, held) >= SUPPORT * len(words)


def supports(source: str, answer: str) -> bool:
    """Whether ``source`` holds any of what ``answer`` says (a cited source that holds none of
    it is not cited)."""
    return _shares_term(_terms(answer), _terms(source)) > 0


def answers(answer: str, question: str) -> bool:
    """Whether ``answer`` says something the question did not, and speaks of what it asks:
    shares a term with it, or states a number when it asks one ("38 L" for "how many
    litres?"). A small model
    fails to abstain by copying an unrelated line, or by echoing the question ("Die setter"
    for "who is the die setter?")."""
    asked, said = _terms(question), _terms(answer)
    adds = _shares_term(said, asked) < len(said)
    value = bool(_QUANTITY.search(question)) and any(not t.isalpha() for t in said)
    return adds and (value or _shares_term(asked, said) > 0)


def answered_in(answer: str, question: str, source: str) -> bool:
    """Whether one line of ``source`` holds every term of ``answer`` and speaks of ``question``
    (shares a term with it), the answer adding to the question: a terse answer copied from the
    row the question is about ("250 ms" for the maximum brake stopping time, "Lube pressure
    low" for E-204), which ``answers`` cannot judge from the answer's words alone."""
    asked, said = _terms(question), _terms(answer)
    lines = source.splitlines()
    if not said:
        return _copied_value(answer, asked, lines)
    if _shares_term(said, asked) == len(said):
        return False
    # Every term of so short an answer, not most: it was copied from that line.
    return any(
        _shares_term(asked, held) > 0 and _shares_term(said, held) == len(said)
        for held in (_terms(line) for line in lines)
    )


def _copied_value(answer: str, asked: set[str], lines: Sequence[str]) -> bool:
    """A value too short to hold a term ("2 mm": a single digit and a two-letter unit) stands
    only as written, number and unit together, in a line that speaks of the question. A bare
    digit never does: it is as likely the "3" of "press-3"."""
    value = answer.strip().rstrip(".").lower()
    if not (re.search(r"\d", value) and re.search(r"[a-z]", value)):
        return False
    written = re.compile(rf"(?<![\w.]){re.escape(value)}(?![\w])")
    return any(
        _shares_term(asked, _terms(line)) > 0 and written.search(line.lower()) for line in lines
    )


def without_citations(text: str, citations: frozenset[str]) -> str:
    """``text`` with its references to ``citations`` removed (earlier answers as context)."""
    return _REFERENCE.sub(lambda m: "" if m.group(1) in citations else m.group(0), text)


def source_labels(g: Grounding) -> dict[str, str]:
    """Label -> citation id, numbered from 1 in the order the sources are shown."""
    ids = [hit.citation_id for hit in g.passages] + [f.citation_id for f in g.plant]
    return {str(n): citation for n, citation in enumerate(ids, start=1)}


def chat_messages(
    site: str,
    question: str,
    history: Sequence[Turn],
    g: Grounding,
    labels: dict[str, str],
    *,
    passage_chars: int,
    compact_json: bool,
) -> list[ChatMessage]:
    system = SYSTEM_PROMPT.format(site=site) + (COMPACT_JSON_HINT if compact_json else "")
    messages = [ChatMessage(role="system", content=system)]
    for turn in history:
        answer = without_citations(turn.answer, frozenset(turn.citations)).strip()
        messages.append(ChatMessage(role="user", content=turn.question))
        messages.append(ChatMessage(role="assistant", content=answer[:HISTORY_ANSWER_CHARS] or "-"))
    by_id = {citation: label for label, citation in labels.items()}
    passages = [
        # Focused on what was searched: a follow-up's search text holds the question before it.
        hit.model_copy(update={"text": focus(hit.text, g.question, passage_chars)})
        for hit in g.passages
    ]
    sources = render_sources(g.model_copy(update={"passages": passages}), labels=by_id)
    messages.append(ChatMessage(role="user", content=f"{sources}\n\nQuestion: {question}"))
    return messages
