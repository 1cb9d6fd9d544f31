"""Markdown body -> Layout: ATX headings, paragraphs, list items, fenced code and pipe tables.

Text blocks are spans of the source itself; the first ``#`` heading is the document title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .layout import BlockKind, Layout, LayoutBuilder, TableBlock

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_LIST_MARKER = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]+|$)")
_TABLE_DELIMITER = re.compile(r"^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_CONTINUATION_INDENT = re.compile(r"^(?: {2,}|\t)")


@dataclass(frozen=True)
class _Line:
    start: int
    end: int  # without the newline
    text: str


def parse_markdown(text: str, body_start: int) -> Layout:
    return _MarkdownReader(text, body_start).read()


class _MarkdownReader:
    def __init__(self, text: str, body_start: int) -> None:
        self._text = text
        self._lines: list[_Line] = []
        offset = body_start
        for raw in text[body_start:].split("\n"):
            self._lines.append(_Line(offset, offset + len(raw), raw))
            offset += len(raw) + 1
        self._builder = LayoutBuilder(text)
        self._title_seen = False

    def read(self) -> Layout:
        index = 0
        while index < len(self._lines):
            line = self._lines[index].text
            if not line.strip() or _THEMATIC_BREAK.match(line):
                index += 1
            elif heading := _HEADING.match(line):
                self._heading(len(heading.group(1)), (heading.group(2) or "").strip())
                index += 1
            elif fence := _FENCE.match(line):
                index = self._fenced(index, fence.group(1))
            elif self._starts_table(index):
                index = self._table(index)
            elif _LIST_MARKER.match(line):
                index = self._item(index)
            else:
                index = self._paragraph(index)
        return self._builder.build()

    def _heading(self, level: int, title: str) -> None:
        if level == 1 and not self._title_seen:
            self._title_seen = True  # the document title is not part of any section path
            return
        self._builder.heading(level, title)

    def _fenced(self, index: int, marker: str) -> int:
        closing = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}[ \t]*$")
        end = index + 1
        while end < len(self._lines) and not closing.match(self._lines[end].text):
            end += 1
        last = min(end, len(self._lines) - 1)
        self._span(index, last, BlockKind.code)
        return last + 1

    def _starts_table(self, index: int) -> bool:
        if index + 1 >= len(self._lines) or "|" not in self._lines[index].text:
            return False
        delimiter = self._lines[index + 1].text
        return "|" in delimiter and _TABLE_DELIMITER.match(delimiter) is not None

    def _table(self, index: int) -> int:
        end = index + 2
        while end < len(self._lines) and "|" in self._lines[end].text:
            end += 1
        header, delimiter, *rows = (line.text.strip() for line in self._lines[index:end])
        self._builder.table(TableBlock(header=(header, delimiter), rows=tuple(rows)))
        return end

    def _item(self, index: int) -> int:
        """A list item: its marker line, lazy continuation lines and indented paragraphs."""
        last = index
        cursor = index + 1
        while cursor < len(self._lines):
            line = self._lines[cursor].text
            if line.strip():
                if _LIST_MARKER.match(line) or self._interrupts(cursor):
                    break
                last = cursor
                cursor += 1
                continue
            following = self._next_nonblank(cursor)
            if following is None or not _CONTINUATION_INDENT.match(self._lines[following].text):
                break
            if _LIST_MARKER.match(self._lines[following].text):
                break
            cursor = following
        self._span(index, last, BlockKind.item)
        return last + 1

    def _paragraph(self, index: int) -> int:
        end = index + 1
        while (
            end < len(self._lines)
            and self._lines[end].text.strip()
            and not _LIST_MARKER.match(self._lines[end].text)
            and not self._interrupts(end)
        ):
            end += 1
        self._span(index, end - 1, BlockKind.paragraph)
        return end

    def _interrupts(self, index: int) -> bool:
        line = self._lines[index].text
        return bool(
            _HEADING.match(line)
            or _FENCE.match(line)
            or _THEMATIC_BREAK.match(line)
            or self._starts_table(index)
        )

    def _next_nonblank(self, index: int) -> int | None:
        for cursor in range(index, len(self._lines)):
            if self._lines[cursor].text.strip():
                return cursor
        return None

    def _span(self, first: int, last: int, kind: BlockKind) -> None:
        start, end = self._lines[first].start, self._lines[last].end
        chunk = self._text[start:end]
        stripped = chunk.strip()
        if stripped:
            start += len(chunk) - len(chunk.lstrip())
            self._builder.span(start, start + len(stripped), kind)
