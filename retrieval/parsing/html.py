"""HTML -> Layout: <h1> is the title, <h2>.. nest as sections; <p>, <li>, <pre> and <table>."""

from __future__ import annotations

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import PreformattedString

from .layout import BlockKind, Layout, LayoutBuilder, clean_cell, pipe_table

_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_SKIPPED = frozenset({"head", "script", "style", "noscript", "template", "svg", "nav", "button"})
# Text inside these flows into the surrounding paragraph.
# fmt: off
_INLINE = frozenset({
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i", "kbd",
    "label", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u",
    "var", "wbr",
})
# fmt: on


def parse_html(text: str) -> Layout:
    reader = _HtmlReader()
    reader.walk(BeautifulSoup(text, "html.parser"), BlockKind.paragraph)
    reader.flush(BlockKind.paragraph)
    return reader.builder.build()


def _flat(text: str) -> str:
    return " ".join(text.split())


class _HtmlReader:
    def __init__(self) -> None:
        self.builder = LayoutBuilder()
        self._inline: list[str] = []  # text of the paragraph being read
        self._title_seen = False

    def walk(self, node: Tag, kind: BlockKind) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, PreformattedString):  # comments, doctype, CDATA
                    self._inline.append(str(child))
            elif isinstance(child, Tag):
                self._element(child, kind)

    def flush(self, kind: BlockKind) -> None:
        self.builder.append(_flat("".join(self._inline)), kind)
        self._inline = []

    def _element(self, element: Tag, kind: BlockKind) -> None:
        name = element.name
        if name in _SKIPPED:
            return
        if name in _INLINE:
            self.walk(element, kind)
            return
        if name == "br":
            self._inline.append(" ")
            return
        self.flush(kind)
        if name in _HEADINGS:
            self._heading(_HEADINGS[name], _flat(element.get_text(" ")))
        elif name == "table":
            self._table(element)
        elif name == "pre":
            self.builder.append(element.get_text(), BlockKind.code)
        else:
            inner = BlockKind.item if name in ("li", "dd", "dt") else kind
            self.walk(element, inner)
            self.flush(inner)

    def _heading(self, level: int, title: str) -> None:
        if level == 1 and not self._title_seen:
            self._title_seen = True  # the document title is not part of any section path
            return
        self.builder.heading(level, title)

    def _table(self, table: Tag) -> None:
        rows = []
        for row in table.find_all("tr"):
            if row.find_parent("table") is not table:
                continue  # a nested table's rows stay in their cell's text
            cells: list[str] = []
            for cell in row.find_all(("td", "th"), recursive=False):
                cells.append(clean_cell(cell.get_text(" ")))
                cells.extend([""] * (_colspan(cell) - 1))
            if any(cells):
                rows.append(cells)
        if not rows:
            return
        caption_tag = table.find("caption", recursive=False)
        caption = _flat(caption_tag.get_text(" ")) if caption_tag else None
        self.builder.table(pipe_table(rows[0], rows[1:], caption or None))


def _colspan(cell: Tag) -> int:
    value = cell.get("colspan", "1")
    text = value if isinstance(value, str) else "1"
    return int(text) if text.strip().isdigit() and int(text) > 0 else 1
