"""Builds the FD-600 feeder manual PDF and its ``.meta.yaml`` sidecar from a text source.

The source (``feeder-2-manual.source.txt``, kept out of ``corpora/manuals`` so that it is not
ingested next to the PDF) is a Markdown subset: YAML front matter, ``#``/``##``/``###``
headings, paragraphs, numbered lists and pipe tables. Headings become bold paragraphs and PDF
outline entries with their level, so a parser recovers the section path from the outline;
tables are drawn with grid lines and repeat their header row after a page break. reportlab's
invariant mode makes the output byte-for-byte reproducible.

Run from the repository root: ``.venv/bin/python corpora/tools/build_pdf.py``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import yaml
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    ListFlowable,
    ListItem,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from retrieval.models import DocumentMeta

TOOLS_DIR = Path(__file__).resolve().parent
DEFAULT_SOURCE = TOOLS_DIR / "feeder-2-manual.source.txt"
DEFAULT_OUTPUT = TOOLS_DIR.parent / "manuals" / "feeder-2-manual.pdf"

MARGIN = 18 * mm
TEXT_WIDTH = A4[0] - 2 * MARGIN
CELL_PADDING = 3.5
# Long cells are capped so that one wordy column does not squeeze the others to nothing.
MAX_NATURAL_WIDTH = 90 * mm

_NUMBERED_ITEM = re.compile(r"^(\d+)\.\s+(.*)$")
_TABLE_CAPTION = re.compile(r"^Table \d+-\d+ ")

# By Markdown heading level (## and ###, outline levels 0 and 1); keepWithNext so that a heading
# never ends a page on its own.
HEADING_STYLES = {
    2: ParagraphStyle(
        "h2",
        fontName="Helvetica-Bold",
        fontSize=13.5,
        leading=17,
        spaceBefore=12,
        spaceAfter=5,
        keepWithNext=1,
    ),
    3: ParagraphStyle(
        "h3",
        fontName="Helvetica-Bold",
        fontSize=11,
        leading=14,
        spaceBefore=8,
        spaceAfter=4,
        keepWithNext=1,
    ),
}
STYLES = {
    "title": ParagraphStyle(
        "title", fontName="Helvetica-Bold", fontSize=17, leading=21, spaceAfter=10
    ),
    "body": ParagraphStyle("body", fontName="Helvetica", fontSize=9.5, leading=12.5, spaceAfter=5),
    "caption": ParagraphStyle(
        "caption",
        fontName="Helvetica-Oblique",
        fontSize=9,
        leading=11.5,
        spaceAfter=3,
        keepWithNext=1,
    ),
    "cell": ParagraphStyle("cell", fontName="Helvetica", fontSize=8.5, leading=10.5),
    "header_cell": ParagraphStyle(
        "header_cell", fontName="Helvetica-Bold", fontSize=8.5, leading=10.5
    ),
}

TABLE_STYLE = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#D9D9D9")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ("LEFTPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PADDING),
    ]
)


@dataclass(frozen=True)
class Source:
    front_matter: str
    meta: DocumentMeta
    body: list[str]


def read_source(path: Path) -> Source:
    """Splits front matter from body and checks the front matter against DocumentMeta."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0] != "---" or "---" not in lines[1:]:
        raise ValueError(f"{path}: expected YAML front matter between '---' lines")
    end = lines.index("---", 1)
    front_matter = "\n".join(lines[1:end]) + "\n"
    meta = DocumentMeta.model_validate(yaml.safe_load(front_matter))
    return Source(front_matter, meta, lines[end + 1 :])


def _inline(text: str) -> str:
    return escape(text.strip())


def _table_rows(lines: list[str]) -> list[list[str]]:
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
    # The second line of a pipe table is the header separator (| --- | --- |).
    return [row for index, row in enumerate(rows) if index != 1]


def _text_width(text: str, style: ParagraphStyle) -> float:
    return stringWidth(text, style.fontName, style.fontSize) + 2 * CELL_PADDING


def _column_widths(rows: list[list[str]]) -> list[float]:
    """Each column gets at least its longest word, the rest of the width goes by text length."""
    minimum = [0.0] * len(rows[0])
    natural = [0.0] * len(rows[0])
    for index, row in enumerate(rows):
        style = STYLES["header_cell" if index == 0 else "cell"]
        for col, cell in enumerate(row):
            longest_word = max((_text_width(word, style) for word in cell.split()), default=0.0)
            minimum[col] = max(minimum[col], longest_word)
            natural[col] = max(natural[col], min(_text_width(cell, style), MAX_NATURAL_WIDTH))
    spare = TEXT_WIDTH - sum(minimum)
    if spare < 0:
        raise ValueError(f"table too wide for the page: header {rows[0]}")
    demand = [want - least for want, least in zip(natural, minimum, strict=True)]
    total_demand = sum(demand) or 1.0
    return [
        least + spare * want / total_demand for least, want in zip(minimum, demand, strict=True)
    ]


def _table(lines: list[str]) -> Table:
    rows = _table_rows(lines)
    if any(len(row) != len(rows[0]) for row in rows):
        raise ValueError(f"ragged table starting {lines[0]!r}")
    cells = [
        [Paragraph(_inline(cell), STYLES["header_cell" if index == 0 else "cell"]) for cell in row]
        for index, row in enumerate(rows)
    ]
    table = Table(cells, colWidths=_column_widths(rows), repeatRows=1, hAlign="LEFT")
    table.setStyle(TABLE_STYLE)
    return table


def _numbered_list(items: list[str]) -> ListFlowable:
    return ListFlowable(
        [ListItem(Paragraph(_inline(item), STYLES["body"])) for item in items],
        bulletType="1",
        bulletFormat="%s.",
        bulletFontName="Helvetica",
        bulletFontSize=9.5,
        leftIndent=14,
    )


def _blocks(lines: list[str]) -> Iterator[tuple[str, list[str]]]:
    """Groups body lines into (kind, lines) blocks: heading, table, list, paragraph."""
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            index += 1
        elif line.startswith("#"):
            yield "heading", [line]
            index += 1
        elif line.startswith("|"):
            start = index
            while index < len(lines) and lines[index].startswith("|"):
                index += 1
            yield "table", lines[start:index]
        elif _NUMBERED_ITEM.match(line):
            items: list[str] = []
            while index < len(lines) and lines[index].strip():
                match = _NUMBERED_ITEM.match(lines[index])
                if match:
                    items.append(match.group(2))
                else:  # an indented continuation of the previous item
                    items[-1] += " " + lines[index].strip()
                index += 1
            yield "list", items
        else:
            start = index
            while index < len(lines) and lines[index].strip() and lines[index][0] not in "#|":
                index += 1
            yield "paragraph", [" ".join(part.strip() for part in lines[start:index])]


class Heading(Paragraph):
    """A section heading that the document template turns into an outline entry."""

    def __init__(self, text: str, level: int) -> None:
        super().__init__(_inline(text), HEADING_STYLES[level])
        self.title = text.strip()
        self.outline_level = level - 2


def story(body: list[str]) -> list[Flowable]:
    flowables: list[Flowable] = []
    for kind, lines in _blocks(body):
        if kind == "heading":
            marks, _, text = lines[0].partition(" ")
            level = len(marks)
            if level == 1:
                flowables.append(Paragraph(_inline(text), STYLES["title"]))
            elif level in HEADING_STYLES:
                flowables.append(Heading(text, level))
            else:
                raise ValueError(f"unsupported heading level in {lines[0]!r}")
        elif kind == "table":
            flowables.append(_table(lines))
            flowables.append(Spacer(1, 6))
        elif kind == "list":
            flowables.append(_numbered_list(lines))
            flowables.append(Spacer(1, 4))
        else:
            style = STYLES["caption"] if _TABLE_CAPTION.match(lines[0]) else STYLES["body"]
            flowables.append(Paragraph(_inline(lines[0]), style))
    return flowables


class ManualTemplate(SimpleDocTemplate):
    """Records every Heading as a bookmark and an outline entry at its level."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._headings = 0

    def afterFlowable(self, flowable: Flowable) -> None:
        if isinstance(flowable, Heading):
            key = f"section-{self._headings}"
            self._headings += 1
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(flowable.title, key, level=flowable.outline_level)


def build(source_path: Path, output: Path) -> DocumentMeta:
    source = read_source(source_path)
    meta = source.meta
    footer = f"Coilmaster CM-FD600-OM-EN, revision {meta.revision}"

    def draw_footer(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.drawString(MARGIN, 10 * mm, footer)
        canvas.drawRightString(A4[0] - MARGIN, 10 * mm, f"Page {doc.page}")
        canvas.restoreState()

    output.parent.mkdir(parents=True, exist_ok=True)
    doc = ManualTemplate(
        str(output),
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=16 * mm,
        bottomMargin=18 * mm,
        title=meta.title,
        author="Coilmaster",
        subject=f"{meta.doc_id} revision {meta.revision}",
        creator="corpora/tools/build_pdf.py",
        invariant=1,
    )
    doc.build(story(source.body), onFirstPage=draw_footer, onLaterPages=draw_footer)
    sidecar = output.with_name(output.name + ".meta.yaml")
    sidecar.write_text(source.front_matter, encoding="utf-8")
    return meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    meta = build(args.source, args.output)
    print(f"wrote {args.output} and its sidecar ({meta.doc_id}, revision {meta.revision})")


if __name__ == "__main__":
    main()
