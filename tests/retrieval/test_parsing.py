"""Parsing Markdown and HTML into passages; discovery, metadata errors, ids and the token budget.

Table checks shared with the PDF tests live here too (``assert_whole_rows``).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from retrieval.citations import cites
from retrieval.models import DocType, Passage
from retrieval.parsing import (
    PASSAGE_TOKEN_BUDGET,
    DocumentError,
    ParsedDocument,
    discover,
    parse_document,
)
from retrieval.parsing.chunking import sentence_spans
from retrieval.weights import count_tokens

FIXTURES = Path(__file__).parent / "fixtures"
MANUAL = "press-3-manual.md"
SOP = "line-2-changeover.html"


def parse(name: str, root: Path = FIXTURES) -> ParsedDocument:
    return parse_document(root / name, root)


def table_lines(passage: Passage) -> list[str]:
    """The pipe-table lines of a table passage (after its caption paragraph, if any)."""
    return passage.text.rsplit("\n\n", 1)[-1].split("\n")


def assert_whole_rows(passages: Sequence[Passage], header: str, rows: Sequence[str]) -> None:
    """Every passage holding the table starts its table with the header and delimiter rows and
    holds only whole rows; together they hold every row exactly once, in order."""
    parts = [passage for passage in passages if header in passage.text]
    assert parts, f"no passage holds the table headed {header!r}"
    seen: list[str] = []
    for passage in parts:
        lines = table_lines(passage)
        assert lines[0] == header
        assert re.fullmatch(r"\|( *:?-+:? *\|)+", lines[1].replace(" ", "")), lines[1]
        assert all(line in rows for line in lines[2:]), lines
        seen += lines[2:]
    assert seen == list(rows)


def source_rows(text: str, header: str) -> list[str]:
    """The body rows of the pipe table headed ``header`` in a Markdown source."""
    lines = text.split("\n")
    start = lines.index(header) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def write_markdown(
    directory: Path, name: str, front_matter: str, body: str = "# T\n\nText.\n"
) -> Path:
    path = directory / name
    path.write_text(f"---\n{front_matter}---\n{body}", encoding="utf-8")
    return path


VALID_FRONT_MATTER = "doc_id: notes\ntitle: Notes\ndoc_type: sop\nrevision: '1'\n"


# --- Markdown ---------------------------------------------------------------------------------


def test_markdown_metadata_and_document_fields_reach_every_passage() -> None:
    document = parse(MANUAL)
    assert document.meta.doc_id == "press-3-manual"
    assert document.meta.doc_type is DocType.manual
    assert document.source == MANUAL
    for passage in document.passages:
        assert passage.doc_id == "press-3-manual"
        assert passage.title == "P-400 press operating and maintenance manual"
        assert passage.doc_type is DocType.manual
        assert passage.revision == "C"
        assert passage.assets == ("press-3",)
        assert passage.access_groups == ("general",)
        assert passage.source == MANUAL
        assert passage.page is None


def test_markdown_section_paths_nest_below_the_title() -> None:
    document = parse(MANUAL)
    paths = list(dict.fromkeys(passage.section_path for passage in document.passages))
    assert paths == [
        (),
        ("1 Safety",),
        ("4 Specifications",),
        ("4 Specifications", "4.1 Spare parts"),
        ("4 Specifications", "4.2 Lubrication"),
        ("6 Troubleshooting", "6.1 Fault codes"),
        ("6 Troubleshooting", "6.2 Vibration and noise"),
    ]
    intro = document.passages[0]
    assert intro.citation_id == "press-3-manual#:0"
    assert intro.text.startswith("This manual covers the Brennan & Voss BV-400SS")
    # The title line is the document title, not text of any passage.
    assert not any("# P-400 press" in passage.text for passage in document.passages)
    vibration = [
        p for p in document.passages if p.section_path[-1:] == ("6.2 Vibration and noise",)
    ]
    assert [p.citation_id for p in vibration] == [
        f"press-3-manual#6-troubleshooting/6.2-vibration-and-noise:{n}" for n in range(3)
    ]
    assert all(cites(p.citation_id, "press-3-manual#6-troubleshooting") for p in vibration)


def test_markdown_text_passages_are_exact_spans_cut_between_words() -> None:
    source = (FIXTURES / MANUAL).read_text(encoding="utf-8")
    document = parse(MANUAL)
    text_passages = [p for p in document.passages if "| --- |" not in p.text]
    for passage in text_passages:
        start = source.find(passage.text)
        assert start > 0, passage.text
        end = start + len(passage.text)
        assert source[start - 1].isspace() and (end == len(source) or source[end].isspace())


def test_long_paragraph_is_split_on_sentences_within_the_budget() -> None:
    document = parse(MANUAL)
    source = (FIXTURES / MANUAL).read_text(encoding="utf-8")
    paragraph = next(
        line for line in source.split("\n") if line.startswith("Vibration on the crown")
    )
    assert count_tokens(paragraph) > PASSAGE_TOKEN_BUDGET  # the fixture must force a split
    parts = [p.text for p in document.passages if p.text in paragraph]
    assert len(parts) >= 2
    assert " ".join(parts) == paragraph
    assert all(part.endswith(".") for part in parts)
    # "e.g. a worn outer race" is no sentence end.
    assert not any(part.endswith("e.g.") for part in parts)


def test_sentence_longer_than_the_budget_is_cut_between_words(tmp_path: Path) -> None:
    sentence = " ".join(f"check roll FD600-ROLL-U{n} and gap" for n in range(80))
    assert count_tokens(sentence) > 2 * PASSAGE_TOKEN_BUDGET
    write_markdown(tmp_path, "long.md", VALID_FRONT_MATTER, f"# T\n\n{sentence}\n")
    parts = [p.text for p in parse("long.md", tmp_path).passages]
    assert len(parts) >= 3
    assert " ".join(parts) == sentence  # cut only at spaces: no word is torn
    assert all(count_tokens(part) <= PASSAGE_TOKEN_BUDGET for part in parts)


def test_list_items_are_never_split() -> None:
    document = parse(MANUAL)
    safety = [p for p in document.passages if p.section_path == ("1 Safety",)]
    assert len(safety) == 1
    assert "  The accumulator holds pressure for several minutes" in safety[0].text
    assert safety[0].text.endswith("- Never bypass the light curtain or the two-hand control.")


def test_markdown_table_keeps_rows_whole_and_repeats_the_header() -> None:
    source = (FIXTURES / MANUAL).read_text(encoding="utf-8")
    header = "| Part no | Description | Qty in stock | Supplier | Lead time |"
    rows = source_rows(source, header)
    document = parse(MANUAL)
    parts = [p for p in document.passages if header in p.text]
    assert len(parts) >= 2  # the fixture's table is longer than one passage
    assert_whole_rows(document.passages, header, rows)
    assert {p.section_path for p in parts} == {("4 Specifications", "4.1 Spare parts")}
    # The caption sentence travels with the first part only; the sentence before it stays text.
    assert parts[0].text.startswith("Table 4 - Critical spare parts for the P-400\npress\n\n|")
    assert parts[1].text.startswith(header)
    lead = [p.text for p in document.passages if p.text.startswith("Keep the critical spares")]
    assert lead == ["Keep the critical spares below in the line-2 crib."]


def test_caption_that_does_not_fit_stays_text(tmp_path: Path) -> None:
    caption = (
        "The following limits apply to " + "every die and every coil and " * 36 + "all shifts."
    )
    table = "| a | b |\n| --- | --- |\n| x | y |"
    assert count_tokens(caption) <= PASSAGE_TOKEN_BUDGET < count_tokens(f"{caption}\n\n{table}")
    body = f"# T\n\n## 1 Limits\n\nLimits first.\n{caption}\n\n{table}\n"
    write_markdown(tmp_path, "limits.md", VALID_FRONT_MATTER, body)
    passages = parse("limits.md", tmp_path).passages
    assert [p.text for p in passages] == [f"Limits first.\n{caption}", table]


def test_code_fence_hides_headings_and_stays_one_block(tmp_path: Path) -> None:
    body = "# T\n\n## 1 Codes\n\n```\n# not a heading\nE-101 overload\n```\n\nAfter.\n"
    write_markdown(tmp_path, "codes.md", VALID_FRONT_MATTER, body)
    document = parse("codes.md", tmp_path)
    assert {p.section_path for p in document.passages} == {("1 Codes",)}
    assert document.passages[0].text == "```\n# not a heading\nE-101 overload\n```\n\nAfter."


# --- ids are stable -------------------------------------------------------------------------


def test_reparsing_an_unchanged_document_gives_identical_passages() -> None:
    first, second = parse(MANUAL), parse(MANUAL)
    assert first == second
    ids = [p.citation_id for p in first.passages]
    assert len(ids) == len(set(ids))


def test_editing_one_section_keeps_the_ids_and_texts_of_the_others(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / MANUAL, tmp_path / MANUAL)
    before = parse(MANUAL, tmp_path)
    text = (tmp_path / MANUAL).read_text(encoding="utf-8")
    edited = text.replace(
        "Check the sight glass at the start of every shift.",
        "Check the sight glass at the start of every shift.\n\nTop up with fresh oil only.\n\n"
        + "Never mix oil grades. " * 60,
    )
    (tmp_path / MANUAL).write_text(edited, encoding="utf-8")
    after = parse(MANUAL, tmp_path)
    lubrication = ("4 Specifications", "4.2 Lubrication")

    def others(document: ParsedDocument) -> list[tuple[str, str]]:
        return [(p.citation_id, p.text) for p in document.passages if p.section_path != lubrication]

    assert others(after) == others(before)
    assert len([p for p in after.passages if p.section_path == lubrication]) > 1
    assert after.content_sha256 != before.content_sha256


# --- HTML -----------------------------------------------------------------------------------


def test_html_sections_text_and_table() -> None:
    document = parse(SOP)
    assert document.meta.doc_id == "line-2-changeover-sop"
    by_path: dict[tuple[str, ...], list[str]] = {}
    for passage in document.passages:
        by_path.setdefault(passage.section_path, []).append(passage.text)
    assert list(by_path) == [
        (),
        ("1 Preparation",),
        ("2 Settings", "2.1 Feed settings"),
        ("2 Settings", "2.1 Feed settings", "2.1.1 Shut height"),
        ("2 Settings", "2.2 Vision station"),
    ]
    assert by_path[()] == ["This procedure applies to press-3 and feeder-2 on line 2."]
    preparation = by_path[("1 Preparation",)][0]
    # Whitespace collapsed, inline markup flattened; navigation and scripts are no text.
    assert "Stop the line at the end of the coil and announce the changeover" in preparation
    assert "Run the feeder FD-600 to coil end (fault F-07 is expected)." in preparation
    all_text = "\n".join(p.text for p in document.passages)
    assert "Home" not in all_text and "console.log" not in all_text
    assert "Line 2 die changeover" not in all_text  # neither the <title> nor the <h1>

    header = "| Tag | Safe low | Safe high | Max step |"
    rows = [
        "| feeder-2.feed_length_mm | 100 | 1200 | 100 |",
        "| press-3.speed_spm | 8 | 30 | 4 |",
        "| press-3.shut_height_mm | 400 | 600 | 2 |",
        "| conveyor-2.speed_m_s | 0.2 | 1.5 | 0.25 |",
        "| vision-2.reject_threshold | 0.3 | 0.9 | 0.1 |",
    ]
    assert_whole_rows(document.passages, header, rows)
    feed = by_path[("2 Settings", "2.1 Feed settings")]
    assert feed[0] == "Set the feeder from the die card."
    assert feed[1].startswith(f"The limits below must not be exceeded.\n\n{header}")
    assert feed[2] == "Change one setting at a time and wait for the line to settle."


def test_html_table_caption_pipes_and_colspan() -> None:
    document = parse(SOP)
    [vision] = [p for p in document.passages if p.section_path[-1:] == ("2.2 Vision station",)]
    assert vision.text == (
        "Reject thresholds by part family\n\n"
        "| Part family | Threshold |\n| --- | --- |\n"
        "| Brackets \\| BR-series | 0.6 |\n"
        "| Other parts use the default |  |"
    )


# --- budget ---------------------------------------------------------------------------------


def test_no_passage_exceeds_the_token_budget() -> None:
    for path in discover([FIXTURES]):
        for passage in parse_document(path, FIXTURES).passages:
            assert count_tokens(passage.text) <= PASSAGE_TOKEN_BUDGET, passage.citation_id


# --- discovery ------------------------------------------------------------------------------


def test_discover_finds_documents_and_skips_sidecars_hidden_and_other_files(tmp_path: Path) -> None:
    (tmp_path / "manuals" / "old").mkdir(parents=True)
    (tmp_path / ".cache").mkdir()
    for name in (
        "manuals/b.md",
        "manuals/a.PDF",
        "manuals/a.PDF.meta.yaml",
        "manuals/old/c.htm",
        "manuals/notes.txt",
        "log.jsonl",
        "log.jsonl.meta.yaml",
        "log.csv",
        ".hidden.md",
        ".cache/d.md",
    ):
        (tmp_path / name).write_text("x", encoding="utf-8")
    found = discover([tmp_path])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "log.csv",
        "log.jsonl",
        "manuals/a.PDF",
        "manuals/b.md",
        "manuals/old/c.htm",
    ]
    # Naming a file picks it; naming it twice or via its folder does not repeat it.
    assert discover([tmp_path / "log.csv", tmp_path, tmp_path / "log.csv"]) == found


@pytest.mark.parametrize("name", ["notes.txt", "manual.pdf.meta.yaml", "README"])
def test_discover_refuses_a_named_file_of_an_unsupported_type(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("x", encoding="utf-8")
    with pytest.raises(DocumentError, match=re.escape(name)) as error:
        discover([tmp_path / name])
    assert "supported" in str(error.value) or "sidecar" in str(error.value)
    with pytest.raises(DocumentError):
        parse_document(tmp_path / name, tmp_path)


def test_discover_reports_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="no such file"):
        discover([tmp_path / "absent"])


# --- metadata errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("front_matter", "problem"),
    [
        ("doc_id: notes\ntitle: Notes\ndoc_type: sop\n", "missing field 'revision'"),
        (VALID_FRONT_MATTER.replace("sop", "memo"), "doc_type: Input should be"),
        (VALID_FRONT_MATTER + "author: me\n", "unknown field 'author'"),
        (VALID_FRONT_MATTER.replace("notes", "Notes_1", 1), "doc_id: String should match"),
        (VALID_FRONT_MATTER + "access_groups: []\n", "at least one access group"),
        ("doc_id: [unclosed\n", "not valid YAML at line"),
        ("- just\n- a list\n", "must be a YAML mapping"),
    ],
)
def test_invalid_front_matter_is_a_plain_document_error(
    tmp_path: Path, front_matter: str, problem: str
) -> None:
    write_markdown(tmp_path, "notes.md", front_matter)
    with pytest.raises(DocumentError) as error:
        parse("notes.md", tmp_path)
    message = str(error.value)
    assert message.startswith(str(tmp_path / "notes.md"))
    assert problem in message
    assert "Traceback" not in message and "pydantic" not in message
    assert isinstance(error.value, ValueError)


def test_markdown_without_or_with_unclosed_front_matter(tmp_path: Path) -> None:
    (tmp_path / "bare.md").write_text("# Title\n\nText.\n", encoding="utf-8")
    with pytest.raises(DocumentError, match="no front matter"):
        parse("bare.md", tmp_path)
    (tmp_path / "open.md").write_text(f"---\n{VALID_FRONT_MATTER}# Title\n", encoding="utf-8")
    with pytest.raises(DocumentError, match="not closed"):
        parse("open.md", tmp_path)


def test_document_without_sidecar_is_an_error(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / SOP, tmp_path / SOP)
    with pytest.raises(DocumentError, match=r"line-2-changeover\.html\.meta\.yaml"):
        parse(SOP, tmp_path)


def test_invalid_sidecar_names_the_sidecar(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / SOP, tmp_path / SOP)
    (tmp_path / f"{SOP}.meta.yaml").write_text("doc_id: x\ntitle: X\n", encoding="utf-8")
    with pytest.raises(DocumentError) as error:
        parse(SOP, tmp_path)
    assert str(error.value).startswith(str(tmp_path / f"{SOP}.meta.yaml"))
    assert "missing field 'doc_type'" in str(error.value)


def test_content_hash_covers_the_sidecar(tmp_path: Path) -> None:
    for name in (SOP, f"{SOP}.meta.yaml"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    before = parse(SOP, tmp_path)
    assert before.content_sha256 == parse(SOP).content_sha256
    sidecar = tmp_path / f"{SOP}.meta.yaml"
    sidecar.write_text(sidecar.read_text(encoding="utf-8").replace('"4"', '"5"'), encoding="utf-8")
    after = parse(SOP, tmp_path)
    assert after.content_sha256 != before.content_sha256
    assert {p.revision for p in after.passages} == {"5"}


def test_document_outside_the_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="not inside"):
        parse_document(FIXTURES / MANUAL, tmp_path)


# --- sentences ------------------------------------------------------------------------------


def test_sentence_spans_skip_initials_abbreviations_and_decimals() -> None:
    text = (
        "Call K. Brandt first. Torque to approx. 5 Nm, e.g. with the wrench No. 3. "
        "Vibration at 4.5 mm/s is a warning! Is it 7.1 mm/s? Stop (see 6.2.) Then wait."
    )
    sentences = [text[start:end] for start, end in sentence_spans(text, 0, len(text))]
    assert sentences == [
        "Call K. Brandt first.",
        "Torque to approx. 5 Nm, e.g. with the wrench No. 3.",
        "Vibration at 4.5 mm/s is a warning!",
        "Is it 7.1 mm/s?",
        "Stop (see 6.2.)",
        "Then wait.",
    ]
