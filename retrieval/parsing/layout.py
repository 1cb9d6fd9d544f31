"""What every parser hands the chunker: text blocks and tables in reading order, grouped into
segments that share a section path and a page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class BlockKind(StrEnum):
    paragraph = "paragraph"
    item = "item"  # a list item
    code = "code"


@dataclass(frozen=True)
class TextBlock:
    """``layout.text[start:end]``: one paragraph, list item or code block."""

    start: int
    end: int
    kind: BlockKind


@dataclass(frozen=True)
class TableBlock:
    """A table in Markdown pipe syntax: header row and delimiter row, then the body rows."""

    header: tuple[str, str]
    rows: tuple[str, ...]
    caption: str | None = None  # the table's own caption (HTML <caption>), if it has one


Block = TextBlock | TableBlock


@dataclass(frozen=True)
class Segment:
    path: tuple[str, ...]
    page: int | None
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Layout:
    text: str
    segments: tuple[Segment, ...]


def clean_cell(value: str | None) -> str:
    """Cell text on one line."""
    return " ".join((value or "").split())


def _pipe_row(cells: Sequence[str], width: int) -> str:
    """Pipes in cells are escaped so the row keeps its columns; short rows are padded."""
    padded = [cell.replace("|", "\\|") for cell in cells] + [""] * (width - len(cells))
    return "| " + " | ".join(padded) + " |"


def pipe_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], caption: str | None = None
) -> TableBlock:
    """A table from cleaned cells; short rows are padded so every row has the same columns."""
    width = max(len(header), *(len(row) for row in rows)) if rows else len(header)
    return TableBlock(
        header=(_pipe_row(header, width), _pipe_row(["---"] * width, width)),
        rows=tuple(_pipe_row(row, width) for row in rows),
        caption=caption,
    )


class LayoutBuilder:
    """Collects blocks under the current heading path and page.

    Markdown passes its source text and adds spans of it (so passages are exact spans of the
    file); HTML and PDF append the text they extract, separated by blank lines.
    """

    def __init__(self, text: str = "") -> None:
        self._parts = [text] if text else []
        self._length = len(text)
        self._headings: list[tuple[int, str]] = []
        self._page: int | None = None
        self._segments: list[Segment] = []
        self._key: tuple[tuple[str, ...], int | None] | None = None
        self._blocks: list[Block] = []

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(title for _, title in self._headings)

    def heading(self, level: int, title: str) -> None:
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        self._headings.append((level, title))

    def page(self, number: int) -> None:
        self._page = number

    def span(self, start: int, end: int, kind: BlockKind) -> None:
        if end > start:
            self._add(TextBlock(start, end, kind))

    def append(self, text: str, kind: BlockKind) -> None:
        text = text.strip()
        if not text:
            return
        separator = "\n\n" if self._length else ""
        start = self._length + len(separator)
        self._parts.extend((separator, text))
        self._length = start + len(text)
        self._add(TextBlock(start, self._length, kind))

    def table(self, table: TableBlock) -> None:
        self._add(table)

    def build(self) -> Layout:
        self._close()
        return Layout("".join(self._parts), tuple(self._segments))

    def _add(self, block: Block) -> None:
        key = (self.path, self._page)
        if key != self._key:
            self._close()
            self._key = key
        self._blocks.append(block)

    def _close(self) -> None:
        if self._key is not None and self._blocks:
            path, page = self._key
            self._segments.append(Segment(path, page, tuple(self._blocks)))
        self._blocks = []
