"""Layout -> chunks of at most PASSAGE_TOKEN_BUDGET word pieces.

Text chunks are exact spans of the layout's text, cut at paragraph and list-item boundaries, then
at sentences, then at whitespace; tables are cut between rows, each part repeating the header.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ..weights import count_tokens
from .layout import BlockKind, Layout, Segment, TableBlock, TextBlock

# The embedder truncates at 256 word pieces and the indexer prefixes the title and section path.
PASSAGE_TOKEN_BUDGET = 230

_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+")
_WORD = re.compile(r"\S+")
_LINE = re.compile(r"[^\n]+")
# A period after these does not end a sentence ("approx. 5 mm", "e.g. the lube pump").
# fmt: off
_ABBREVIATIONS = frozenset({
    "e.g", "i.e", "approx", "ca", "cf", "fig", "figs", "no", "nos", "nr", "ref", "vs", "incl",
    "min", "max", "mr", "ms", "dr", "st", "pt", "pp", "sec", "para", "art", "vol",
})
# fmt: on


@dataclass(frozen=True)
class Chunk:
    path: tuple[str, ...]
    page: int | None
    text: str


@dataclass(frozen=True)
class _CaptionedTable:
    table: TableBlock
    caption: str | None


def chunk_layout(layout: Layout, budget: int = PASSAGE_TOKEN_BUDGET) -> list[Chunk]:
    return [
        Chunk(segment.path, segment.page, text)
        for segment in layout.segments
        for text in _segment_chunks(layout.text, segment, budget)
    ]


def _segment_chunks(text: str, segment: Segment, budget: int) -> Iterator[str]:
    pieces: list[tuple[int, int]] = []  # text spans waiting to be packed
    for unit in _units(text, segment, budget):
        if isinstance(unit, TextBlock):
            pieces.extend(_pieces(text, unit, budget))
            continue
        yield from (text[start:end] for start, end in _packed(text, pieces, budget))
        pieces = []
        yield from _table_chunks(unit.table, unit.caption, budget)
    yield from (text[start:end] for start, end in _packed(text, pieces, budget))


def _units(text: str, segment: Segment, budget: int) -> Iterator[TextBlock | _CaptionedTable]:
    """Blocks in order, the sentence right before a table moved into the table where it fits."""
    blocks = segment.blocks
    caption: str | None = None
    for index, block in enumerate(blocks):
        if isinstance(block, TableBlock):
            yield _CaptionedTable(block, block.caption or caption)
            caption = None
            continue
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if (
            block.kind is BlockKind.paragraph
            and isinstance(following, TableBlock)
            and following.caption is None
        ):
            sentences = sentence_spans(text, block.start, block.end)
            lead_start, lead_end = sentences[-1]
            if _fits_table(text[lead_start:lead_end], following, budget):
                caption = text[lead_start:lead_end]
                if len(sentences) > 1:
                    yield TextBlock(block.start, sentences[-2][1], block.kind)
                continue
        yield block


def _fits_table(caption: str, table: TableBlock, budget: int) -> bool:
    return count_tokens(_render(table, table.rows[:1], caption)) <= budget


def _render(table: TableBlock, rows: tuple[str, ...], caption: str | None) -> str:
    lead = f"{caption}\n\n" if caption else ""
    return lead + "\n".join((*table.header, *rows))


def _table_chunks(table: TableBlock, caption: str | None, budget: int) -> Iterator[str]:
    """Whole rows under the header; only the first part carries the caption.

    A row is never split, so a single row longer than the budget makes an oversized chunk.
    """
    rows: tuple[str, ...] = ()
    for row in table.rows:
        if rows and count_tokens(_render(table, (*rows, row), caption)) > budget:
            yield _render(table, rows, caption)
            rows, caption = (), None
        rows = (*rows, row)
    yield _render(table, rows, caption)


def _pieces(text: str, block: TextBlock, budget: int) -> list[tuple[int, int]]:
    """The block whole if it fits, else its sentences (lines of code), else words."""
    if count_tokens(text[block.start : block.end]) <= budget:
        return [(block.start, block.end)]
    if block.kind is BlockKind.code:
        parts = [(m.start(), m.end()) for m in _LINE.finditer(text, block.start, block.end)]
    else:
        parts = sentence_spans(text, block.start, block.end)
    pieces: list[tuple[int, int]] = []
    for start, end in parts:
        if count_tokens(text[start:end]) <= budget:
            pieces.append((start, end))
        else:
            pieces.extend((m.start(), m.end()) for m in _WORD.finditer(text, start, end))
    return pieces


def _packed(text: str, pieces: list[tuple[int, int]], budget: int) -> list[tuple[int, int]]:
    """Consecutive pieces merged into spans while the span stays within the budget."""
    packed: list[tuple[int, int]] = []
    for start, end in pieces:
        if packed and count_tokens(text[packed[-1][0] : end]) <= budget:
            packed[-1] = (packed[-1][0], end)
        else:
            packed.append((start, end))
    return packed


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """``text[start:end]`` cut into sentences: (start, end) spans without the spaces between."""
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        stop = match.start() + len(match.group().rstrip())
        following = match.end()
        if following >= end or text[following].islower() or _is_abbreviation(text[cursor:stop]):
            continue
        spans.append((cursor, stop))
        cursor = following
    spans.append((cursor, end))
    return spans


def _is_abbreviation(sentence: str) -> bool:
    words = sentence.split()
    if not words:
        return False
    word = words[-1].rstrip(".!?\"'”’)]").lstrip("(\"'“‘[").lower()
    return (len(word) == 1 and word.isalpha()) or word in _ABBREVIATIONS  # "J. Okafor"
