"""PDF -> Layout with pdfplumber.

Tables (found by pdfplumber with their bounding boxes) become pipe tables, and their text is kept
out of the loose text. Headings come from the outline (bookmarks) or, without one, from font size
and boldness. Running headers and footers (the same line in the margin of most pages) are dropped.
"""

from __future__ import annotations

import io
import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pdfplumber
from pdfminer.pdfdocument import PDFDocument, PDFNoOutlines
from pdfminer.pdftypes import resolve1
from pdfminer.psexceptions import PSException
from pdfminer.psparser import PSLiteral
from pdfplumber.page import Page
from pdfplumber.utils.exceptions import PdfminerException

from .errors import DocumentError
from .layout import BlockKind, Layout, LayoutBuilder, clean_cell, pipe_table

_BULLET = re.compile(r"^(?:[•·▪◦‣–-]|\d{1,3}[.)])\s")
_SENTENCE_STOP = (".", "!", "?", ":")
_MARGIN = 0.075  # share of the page height where running headers and footers sit
_HEADING_SCALE = 1.15  # a line this much larger than body text is a heading
_MAX_HEADING_WORDS = 12


@dataclass(frozen=True)
class _Line:
    text: str
    top: float
    bottom: float
    x1: float
    size: float
    bold: bool


@dataclass(frozen=True)
class _Heading:
    level: int
    title: str


@dataclass(frozen=True)
class _RawTable:
    rows: tuple[tuple[str, ...], ...]


@dataclass
class _Page:
    number: int
    height: float
    lines: list[_Line]
    placed: list[tuple[float, _Heading | _RawTable]] = field(default_factory=list)


@dataclass(frozen=True)
class _OutlineEntry:
    level: int
    title: str
    page: int  # index into the pages
    top: float | None


def parse_pdf(path: Path, raw: bytes, titles: Sequence[str]) -> Layout:
    """``titles``: the document's title(s); an outline entry or first line equal to one is no
    section (it is the title)."""
    try:
        with pdfplumber.open(io.BytesIO(raw)) as pdf:
            pages = [_read_page(page) for page in pdf.pages]
            outline = _outline(pdf.doc, pdf.pages)
            own_title = pdf.metadata.get("Title")
    except (PdfminerException, PSException) as error:
        raise DocumentError(path, f"not a readable PDF ({error})") from None
    known = {_norm(title) for title in (*titles, str(own_title or "")) if title.strip()}
    _drop_running_lines(pages)
    title_found = bool(pages) and _drop_title(pages[0], known)
    if outline:
        _place_outline(pages, outline, known)
    else:
        _detect_headings(pages, title_found)
    return _layout(pages)


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def _read_page(page: Page) -> _Page:
    tables = page.find_tables()
    boxes = [table.bbox for table in tables]

    def outside_tables(obj: dict[str, Any]) -> bool:
        if "x0" not in obj or "top" not in obj:
            return True
        x = (obj["x0"] + obj["x1"]) / 2
        y = (obj["top"] + obj["bottom"]) / 2
        return not any(x0 <= x <= x1 and top <= y <= bottom for x0, top, x1, bottom in boxes)

    text_page = page.filter(outside_tables) if boxes else page
    lines = [_line(line) for line in text_page.extract_text_lines() if line["text"].strip()]
    placed: list[tuple[float, _Heading | _RawTable]] = []
    for table in tables:
        rows = tuple(
            cells
            for cells in (tuple(clean_cell(cell) for cell in row) for row in table.extract())
            if any(cells)
        )
        if rows:
            placed.append((table.bbox[1], _RawTable(rows)))
    return _Page(page.page_number, float(page.height), lines, placed)


def _line(line: dict[str, Any]) -> _Line:
    chars = [char for char in line["chars"] if char["text"].strip()]
    size = Counter(round(char["size"], 1) for char in chars).most_common(1)[0][0]
    bold = all(_is_bold(char.get("fontname", "")) for char in chars)
    return _Line(line["text"].strip(), line["top"], line["bottom"], line["x1"], size, bold)


def _is_bold(fontname: str) -> bool:
    name = fontname.lower()
    return any(weight in name for weight in ("bold", "black", "heavy", "semibold"))


def _drop_running_lines(pages: list[_Page]) -> None:
    """Lines in the top or bottom margin that repeat (digits aside) on most pages."""
    if len(pages) < 2:
        return
    seen: dict[str, set[int]] = defaultdict(set)
    for page in pages:
        for line in page.lines:
            if _in_margin(line, page):
                seen[_running_key(line.text)].add(page.number)
    threshold = max(2, math.ceil(len(pages) / 2))
    running = {key for key, numbers in seen.items() if len(numbers) >= threshold}
    for page in pages:
        page.lines = [
            line
            for line in page.lines
            if not (_in_margin(line, page) and _running_key(line.text) in running)
        ]


def _in_margin(line: _Line, page: _Page) -> bool:
    return line.top < page.height * _MARGIN or line.bottom > page.height * (1 - _MARGIN)


def _running_key(text: str) -> str:
    return re.sub(r"\d+", "#", _norm(text))


def _drop_title(first_page: _Page, titles: set[str]) -> bool:
    """Removes the document title from the top of the first page; whether it was there."""
    head = first_page.lines[:5]
    for title in titles:
        span = _match(head, title, None)
        if span is not None:
            del first_page.lines[span[0] : span[1] + 1]
            return True
    return False


def _match(lines: Sequence[_Line], title: str, top: float | None) -> tuple[int, int] | None:
    """The run of up to three lines whose text is ``title`` (nearest ``top`` if given)."""
    target = _norm(title)
    candidates: list[tuple[int, int]] = []
    for first in range(len(lines)):
        joined = ""
        for last in range(first, min(first + 3, len(lines))):
            joined = _norm(f"{joined} {lines[last].text}")
            if joined == target:
                candidates.append((first, last))
                break
            if not target.startswith(joined):
                break
    if not candidates:
        return None
    if top is None:
        return candidates[0]
    return min(candidates, key=lambda span: abs(lines[span[0]].top - top))


def _outline(doc: PDFDocument, pages: Sequence[Page]) -> list[_OutlineEntry]:
    try:
        items = list(doc.get_outlines())
    except PDFNoOutlines:
        return []
    index_of = {page.page_obj.pageid: index for index, page in enumerate(pages)}
    entries = []
    for level, title, dest, action, _ in items:
        target = _destination(doc, dest if dest is not None else action)
        if target is None or not title or not str(title).strip():
            continue
        index = index_of.get(getattr(target[0], "objid", None))
        if index is not None:
            top = _destination_top(target, float(pages[index].height))
            entries.append(_OutlineEntry(level, " ".join(str(title).split()), index, top))
    return entries


def _destination(doc: PDFDocument, value: object) -> list[Any] | None:
    """An outline item's explicit destination ``[page, /Fit, ...]``, through names and GoTos."""
    for _ in range(4):  # names, actions and dictionaries may point at one another
        value = resolve1(value)
        if isinstance(value, list):
            return value or None
        if isinstance(value, dict):
            value = value.get("D")
        elif isinstance(value, PSLiteral | str | bytes):
            name = value.name if isinstance(value, PSLiteral) else value
            try:
                value = doc.get_dest(name)
            except PSException:
                return None
        else:
            return None
    return None


def _destination_top(target: list[Any], height: float) -> float | None:
    mode = target[1].name if len(target) > 1 and isinstance(target[1], PSLiteral) else None
    mode = mode.decode() if isinstance(mode, bytes) else mode
    position = {"XYZ": 3, "FitH": 2, "FitBH": 2}.get(mode or "")
    if position is None or len(target) <= position:
        return None
    y = resolve1(target[position])
    return height - float(y) if isinstance(y, int | float) else None


def _place_outline(pages: list[_Page], outline: list[_OutlineEntry], titles: set[str]) -> None:
    """Each outline entry becomes a heading where its line is (the line leaves the text)."""
    for entry in outline:
        if entry.level == 1 and _norm(entry.title) in titles:
            continue
        page = pages[entry.page]
        span = _match(page.lines, entry.title, entry.top)
        if span is None:
            top = entry.top if entry.top is not None else -1.0
        else:
            top = page.lines[span[0]].top
            del page.lines[span[0] : span[1] + 1]
        page.placed.append((top, _Heading(entry.level, entry.title)))


def _detect_headings(pages: list[_Page], title_found: bool) -> None:
    """Without an outline: larger type (levels by size) or whole bold short lines are headings."""
    lines = [line for page in pages for line in page.lines]
    if not lines:
        return
    weights: Counter[float] = Counter()
    for line in lines:
        weights[line.size] += len(line.text)
    body = weights.most_common(1)[0][0]
    sizes = sorted({line.size for line in lines if line.size >= body * _HEADING_SCALE})[::-1]
    largest = [line for line in lines if sizes and line.size == sizes[0]]
    if not title_found and len(largest) == 1 and largest[0] in pages[0].lines:
        pages[0].lines.remove(largest[0])  # a one-off largest line on page 1 is the title
        sizes.pop(0)
    for page in pages:
        kept: list[_Line] = []
        headings: list[tuple[float, int, str]] = []  # top, level, title
        previous: _Line | None = None  # the line before, if it was part of a heading
        for line in page.lines:
            level = _heading_level(line, sizes, body)
            if level is None:
                kept.append(line)
                previous = None
                continue
            if (
                previous is not None
                and headings[-1][1] == level
                and line.top - previous.bottom < line.size
            ):
                top, _, title = headings[-1]  # a heading wrapped onto a second line
                headings[-1] = (top, level, f"{title} {line.text}")
            else:
                headings.append((line.top, level, line.text))
            previous = line
        page.lines = kept
        page.placed += [(top, _Heading(level, title)) for top, level, title in headings]


def _heading_level(line: _Line, sizes: list[float], body: float) -> int | None:
    if line.size in sizes:
        return sizes.index(line.size) + 1
    if (
        line.bold
        and line.size >= body - 0.5
        and len(line.text.split()) <= _MAX_HEADING_WORDS
        and not line.text.endswith((".", ",", ";", ":"))
    ):
        return len(sizes) + 1
    return None


def _layout(pages: list[_Page]) -> Layout:
    builder = LayoutBuilder()
    carried: tuple[str, ...] | None = None  # header of a table that ended the previous page
    for page in pages:
        builder.page(page.number)
        right_edge = max((line.x1 for line in page.lines), default=0.0)
        entries: list[tuple[float, int, _Line | _Heading | _RawTable]] = [
            (top, 0, item) for top, item in page.placed
        ]
        entries += [(line.top, 1, line) for line in page.lines]
        entries.sort(key=lambda entry: (entry[0], entry[1]))
        paragraph: list[_Line] = []
        header: tuple[str, ...] | None = None
        for position, (_, _, item) in enumerate(entries):
            if isinstance(item, _Line):
                if paragraph and _new_paragraph(paragraph[-1], item, right_edge):
                    _add_paragraph(builder, paragraph)
                    paragraph = []
                paragraph.append(item)
                header = None
                continue
            _add_paragraph(builder, paragraph)
            paragraph = []
            if isinstance(item, _Heading):
                builder.heading(item.level, item.title)
                header = None
            else:
                header = _add_table(builder, item, carried if position == 0 else None)
        _add_paragraph(builder, paragraph)
        carried = header
    return builder.build()


def _new_paragraph(previous: _Line, line: _Line, right_edge: float) -> bool:
    gap = line.top - previous.bottom
    short_last_line = previous.x1 < right_edge - 3 * previous.size
    return (
        gap > 0.45 * previous.size
        or abs(line.size - previous.size) > 0.5
        or _BULLET.match(line.text) is not None
        or (short_last_line and previous.text.endswith(_SENTENCE_STOP))
    )


def _add_paragraph(builder: LayoutBuilder, lines: list[_Line]) -> None:
    if not lines:
        return
    text = lines[0].text
    for line in lines[1:]:
        # A line ending in a hyphen continues a word or a code ("P400-BRG-" / "23160").
        text += ("" if text.endswith("-") and text[-2:-1].isalnum() else " ") + line.text
    kind = BlockKind.item if _BULLET.match(text) else BlockKind.paragraph
    builder.append(text, kind)


def _add_table(
    builder: LayoutBuilder, table: _RawTable, carried: tuple[str, ...] | None
) -> tuple[str, ...] | None:
    """Adds the table; returns its header (None when it was no real table)."""
    rows = table.rows
    width = max(len(row) for row in rows)
    if carried is not None and len(carried) == width and rows[0] != carried:
        # Continued from the previous page without repeating its header: lend it the header.
        builder.table(pipe_table(carried, rows))
        return carried
    if len(rows) < 2 or width < 2:  # a framed note or a lone row, not a table
        for row in rows:
            builder.append(" ".join(cell for cell in row if cell), BlockKind.paragraph)
        return None
    builder.table(pipe_table(rows[0], rows[1:]))
    return rows[0]
