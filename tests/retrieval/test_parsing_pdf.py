"""PDF parsing: outline headings (or font-size headings), pages, and tables kept whole per page.

The PDFs are generated here with reportlab (invariant mode, so the bytes are reproducible).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

from retrieval.models import Passage
from retrieval.parsing import PASSAGE_TOKEN_BUDGET, DocumentError, parse_document
from retrieval.weights import count_tokens

from .test_parsing import assert_whole_rows, table_lines

TITLE = "FD-600 coil feeder manual"
SIDECAR = f"""doc_id: feeder-2-manual
title: {TITLE}
doc_type: manual
revision: "2.1"
assets: [feeder-2]
"""
FOOTER = "Coilmaster FD-600 - page"
LONG_HEADER = "| Die | Part | Feed length mm | Pilot release |"
LONG_ROWS = [
    f"| D-{200 + n} | BR-{n:03d} | {150 + 10 * n} | {'yes' if n % 3 else 'no'} |" for n in range(64)
]
MAINTENANCE = "3 Maintenance of the feed rolls, the straightener roll set and the pilot release"
GAP_HEADER = "| Roll | Gap mm |"
GAP_ROWS = ["| R1 entry | 2.40 |", "| R4 centre | 2.10 |", "| R7 exit | 2.00 |"]

_STYLES = getSampleStyleSheet()
_LEVELS = {"Heading1": 0, "Heading2": 1, "Heading3": 2}


class _Manual(SimpleDocTemplate):
    """Adds every heading to the outline (unless ``outline`` is off), like a real manual."""

    def __init__(self, path: Path, outline: bool, fit: str) -> None:
        super().__init__(str(path), pagesize=A4, invariant=1, title=TITLE)
        self._outline = outline
        self._fit = fit

    def afterFlowable(self, flowable: Any) -> None:
        if not (self._outline and isinstance(flowable, Paragraph)):
            return
        level = _LEVELS.get(flowable.style.name)
        if level is None:
            return
        key = f"heading-{self.canv.getPageNumber()}-{flowable.getPlainText()}"
        if self._fit == "XYZ":
            top = self.frame._y + flowable.height  # the frame's cursor sits below the heading
            self.canv.bookmarkPage(key, fit="XYZ", left=0, top=top)
        else:
            self.canv.bookmarkPage(key)
        self.canv.addOutlineEntry(flowable.getPlainText(), key, level=level)


def _footer(canvas: Canvas, _doc: Any) -> None:
    canvas.setFont("Helvetica", 8)
    canvas.drawString(72, 30, f"{FOOTER} {canvas.getPageNumber()}")


def _table(header: str, rows: list[str], repeat_header: bool) -> Table:
    cells = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in [header, *rows]]
    table = Table(cells, repeatRows=1 if repeat_header else 0)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)]))
    return table


def make_manual(
    directory: Path, outline: bool = True, repeat_header: bool = True, fit: str = "Fit"
) -> Path:
    body = _STYLES["BodyText"]
    story = [
        Paragraph(TITLE, _STYLES["Heading1"]),
        Paragraph("This manual covers the Coilmaster CM-FD600 servo coil feeder.", body),
        Paragraph("1 General", _STYLES["Heading2"]),
        Paragraph(
            "The feeder straightens the strip in seven rolls and feeds it to press-3. "
            "Strip width is up to 600 mm and thickness 0.5 to 4.5 mm.",
            body,
        ),
        Paragraph("2 Feed settings", _STYLES["Heading2"]),
        Paragraph("Set the feed length from the die card before the first stroke.", body),
        Paragraph("Table 2 - Feed lengths by die", body),
        _table(LONG_HEADER, LONG_ROWS, repeat_header),
        Paragraph("Confirm the first part at the vision station before running on.", body),
        Paragraph("2.1 Straightener", _STYLES["Heading3"]),
        Paragraph("Set the roll gaps for 2 mm strip as follows.", body),
        _table(GAP_HEADER, GAP_ROWS, repeat_header),
        Paragraph("Recheck the gaps after every coil change.", body),
        Paragraph(MAINTENANCE, _STYLES["Heading2"]),  # wraps onto a second line
        Paragraph("Replace the feed rolls FD600-ROLL-U and FD600-ROLL-L as a pair.", body),
    ]
    path = directory / "feeder-2-manual.pdf"
    _Manual(path, outline, fit).build(story, onFirstPage=_footer, onLaterPages=_footer)
    (directory / "feeder-2-manual.pdf.meta.yaml").write_text(SIDECAR, encoding="utf-8")
    return path


def passages_of(path: Path) -> list[Passage]:
    return parse_document(path, path.parent).passages


def layout(passages: list[Passage]) -> list[tuple[tuple[str, ...], int | None, str]]:
    """Section, page and opening words of each passage."""
    return [(p.section_path, p.page, p.text[:24]) for p in passages]


EXPECTED = [
    ((), 1, "This manual covers the C"),
    (("1 General",), 1, "The feeder straightens t"),
    (("2 Feed settings",), 1, "Set the feed length from"),
    (("2 Feed settings",), 1, "Table 2 - Feed lengths b"),
    (("2 Feed settings",), 1, LONG_HEADER[:24]),
    (("2 Feed settings",), 2, LONG_HEADER[:24]),
    (("2 Feed settings",), 2, LONG_HEADER[:24]),
    (("2 Feed settings",), 2, LONG_HEADER[:24]),
    (("2 Feed settings",), 3, "Confirm the first part a"),
    (("2 Feed settings", "2.1 Straightener"), 3, "Set the roll gaps for 2 "),
    (("2 Feed settings", "2.1 Straightener"), 3, "Recheck the gaps after e"),
    ((MAINTENANCE,), 3, "Replace the feed rolls F"),
]


@pytest.mark.parametrize("fit", ["Fit", "XYZ"])
def test_outline_gives_sections_and_pages(tmp_path: Path, fit: str) -> None:
    passages = passages_of(make_manual(tmp_path, fit=fit))
    assert layout(passages) == EXPECTED
    assert passages[0].citation_id == "feeder-2-manual#@p1:0"
    assert [p.citation_id for p in passages if p.page == 2][:3] == [
        "feeder-2-manual#2-feed-settings@p2:0",
        "feeder-2-manual#2-feed-settings@p2:1",
        "feeder-2-manual#2-feed-settings@p2:2",
    ]
    assert passages[9].citation_id == "feeder-2-manual#2-feed-settings/2.1-straightener@p3:0"


def test_fallback_headings_from_font_sizes_match_the_outline(tmp_path: Path) -> None:
    with_outline = passages_of(make_manual(_mkdir(tmp_path / "outline")))
    plain = passages_of(make_manual(_mkdir(tmp_path / "plain"), outline=False))
    assert [(p.citation_id, p.text) for p in plain] == [
        (p.citation_id, p.text) for p in with_outline
    ]


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def test_table_across_a_page_break_keeps_whole_rows_with_its_header(tmp_path: Path) -> None:
    passages = passages_of(make_manual(tmp_path))
    assert_whole_rows(passages, LONG_HEADER, LONG_ROWS)
    parts = [p for p in passages if LONG_HEADER in p.text]
    assert {p.page for p in parts} == {1, 2}
    assert parts[0].text.startswith(f"Table 2 - Feed lengths by die\n\n{LONG_HEADER}\n")
    assert all(p.text.startswith(LONG_HEADER) for p in parts[1:])
    assert_whole_rows(passages, GAP_HEADER, GAP_ROWS)
    [gaps] = [p for p in passages if GAP_HEADER in p.text]
    assert table_lines(gaps) == [GAP_HEADER, "| --- | --- |", *GAP_ROWS]
    assert gaps.text.startswith("Set the roll gaps for 2 mm strip as follows.\n\n")


def test_table_text_is_not_repeated_as_loose_text(tmp_path: Path) -> None:
    passages = passages_of(make_manual(tmp_path))
    table_passages = [p for p in passages if "| --- |" in p.text]
    loose = "\n".join(p.text for p in passages if p not in table_passages)
    for row in [*LONG_ROWS, *GAP_ROWS]:
        first_cell = row.split(" | ")[0].removeprefix("| ")
        assert first_cell not in loose
        assert sum(p.text.count(f"| {first_cell} |") for p in table_passages) == 1
    assert "Recheck the gaps after every coil change." in loose
    assert "Confirm the first part at the vision station" in loose


def test_title_and_running_footer_are_no_text(tmp_path: Path) -> None:
    passages = passages_of(make_manual(tmp_path))
    text = "\n".join(p.text for p in passages)
    assert TITLE not in text
    assert FOOTER not in text
    assert all(count_tokens(p.text) <= PASSAGE_TOKEN_BUDGET for p in passages)


def test_continuation_without_a_repeated_header_borrows_it(tmp_path: Path) -> None:
    passages = passages_of(make_manual(tmp_path, repeat_header=False))
    assert_whole_rows(passages, LONG_HEADER, LONG_ROWS)
    assert {p.page for p in passages if LONG_HEADER in p.text} == {1, 2}


def test_reparse_is_stable(tmp_path: Path) -> None:
    path = make_manual(tmp_path)
    first = parse_document(path, tmp_path)
    assert parse_document(path, tmp_path) == first
    assert len({p.citation_id for p in first.passages}) == len(first.passages)


def test_unreadable_pdf_is_a_document_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"this is not a PDF")
    (tmp_path / "broken.pdf.meta.yaml").write_text(SIDECAR, encoding="utf-8")
    with pytest.raises(DocumentError, match="not a readable PDF"):
        parse_document(path, tmp_path)
