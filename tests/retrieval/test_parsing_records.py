"""CSV and JSONL logs: one passage per record, cited by its record id."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from retrieval.citations import cites
from retrieval.models import DocType
from retrieval.parsing import PASSAGE_TOKEN_BUDGET, DocumentError, parse_document
from retrieval.weights import count_tokens

FIXTURES = Path(__file__).parent / "fixtures"
CSV_LOG = "press-3-maintenance-log.csv"
JSONL_LOG = "line-2-work-orders.jsonl"


def log_in(tmp_path: Path, name: str, content: str) -> Path:
    """``content`` as a log in ``tmp_path`` with the fixture log's sidecar."""
    fixture = CSV_LOG if name.endswith(".csv") else JSONL_LOG
    shutil.copy(FIXTURES / f"{fixture}.meta.yaml", tmp_path / f"{name}.meta.yaml")
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_csv_log_gives_one_passage_per_record() -> None:
    document = parse_document(FIXTURES / CSV_LOG, FIXTURES)
    passages = document.passages
    assert [p.citation_id for p in passages] == [
        "press-3-maintenance-log#ML-26-0123:0",
        "press-3-maintenance-log#ML-25-0502:0",
        "press-3-maintenance-log#ML-26-0131:0",
    ]
    bearing = passages[0]
    assert bearing.text == (
        "ML-26-0123 | 2026-03-14 | press-3 | VIB | "
        "symptom: Vibration rose to 6.8 mm/s, squeal on the down stroke | "
        "action: Replaced main bearing; checked lube pressure | parts: P400-BRG-23160 | "
        "downtime_min: 240 | work_order: WO-26-0117 | technician: J. Okafor"
    )
    assert bearing.date == dt.date(2026, 3, 14)
    assert bearing.failure_mode == "VIB"
    assert bearing.assets == ("press-3",)
    assert bearing.section_path == ("ML-26-0123",)
    assert bearing.doc_type is DocType.maintenance_log
    assert bearing.source == CSV_LOG
    assert cites(bearing.citation_id, "press-3-maintenance-log")
    # Empty fields are left out rather than shown as "parts: ".
    assert "parts:" not in passages[2].text and "work_order:" not in passages[2].text


def test_jsonl_log_uses_opened_lists_and_the_records_own_assets() -> None:
    passages = parse_document(FIXTURES / JSONL_LOG, FIXTURES).passages
    rolls, light = passages
    assert rolls.citation_id == "line-2-work-orders#WO-25-0388:0"
    assert rolls.date == dt.date(2025, 8, 19)  # no "date" field: the "opened" one
    # The record's own asset only: the document's list would make every record match a filter.
    assert rolls.assets == ("feeder-2",)
    assert rolls.failure_mode == "ERO"
    assert rolls.text == (
        "WO-25-0388 | 2025-08-19 | feeder-2 | ERO | closed: 2025-08-21 | "
        "description: Replace worn upper and lower feed rolls | "
        "parts: FD600-ROLL-U; FD600-ROLL-L | status: closed"
    )
    assert light.date == dt.date(2026, 6, 1)
    assert light.assets == ("vision-2", "conveyor-2")
    assert "parts: VI2-LED-BAR | downtime_min: 45 | urgent: no" in light.text


def test_record_passages_carry_the_document_fields() -> None:
    document = parse_document(FIXTURES / JSONL_LOG, FIXTURES)
    for passage in document.passages:
        assert passage.doc_id == "line-2-work-orders"
        assert passage.title == "Line 2 work orders"
        assert passage.doc_type is DocType.work_order
        assert passage.revision == "2026-06"
        assert passage.access_groups == ("general",)
        assert passage.page is None and passage.chunk == 0


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        (
            "log.csv",
            "record_id,date\nML-1,2026-01-02\n,2026-01-03\n",
            "line 3: the record has no record_id",
        ),
        ("log.csv", "date,asset\n2026-01-02,press-3\n", "no 'record_id' column"),
        (
            "log.csv",
            "record_id,date\nML-1,2026-01-02\nML-1,2026-01-05\n",
            "'ML-1' already used on line 2",
        ),
        (
            "log.csv",
            "record_id,date\nML-1,14/03/2026\n",
            "line 2: date '14/03/2026' is not an ISO date",
        ),
        (
            "log.csv",
            "record_id,date\nML-1,2026-01-02,extra\n",
            "line 2: more fields than the header",
        ),
        (
            "log.jsonl",
            '{"record_id": "WO-1"}\n\n{"date": "2026-01-02"}\n',
            "line 3: the record has no record_id",
        ),
        (
            "log.jsonl",
            '{"record_id": "WO-1"}\n{"record_id": "WO-1"}\n',
            "'WO-1' already used on line 1",
        ),
        ("log.jsonl", '{"record_id": "WO-1"\n', "line 1: not valid JSON"),
        ("log.jsonl", '["WO-1"]\n', "line 1: a record must be a JSON object"),
    ],
)
def test_bad_records_are_document_errors_naming_the_line(
    tmp_path: Path, name: str, content: str, problem: str
) -> None:
    path = log_in(tmp_path, name, content)
    with pytest.raises(DocumentError) as error:
        parse_document(path, tmp_path)
    assert str(error.value) == f"{path}: {error.value.problem}"
    assert problem in error.value.problem


def test_utf8_bom_and_crlf_csv_parse(tmp_path: Path) -> None:
    content = "\ufeffrecord_id,date,asset\r\nML-1,2026-01-02,press-3; feeder-2\r\n"
    path = log_in(tmp_path, "log.csv", content)
    [passage] = parse_document(path, tmp_path).passages
    assert passage.citation_id == "press-3-maintenance-log#ML-1:0"
    assert passage.assets == ("press-3", "feeder-2")
    assert passage.text == "ML-1 | 2026-01-02 | press-3; feeder-2"


def test_a_record_without_an_asset_takes_the_documents(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("record_id,date,symptom\nR-1,2026-01-02,line stopped\n")
    (tmp_path / "log.csv.meta.yaml").write_text(
        "doc_id: log\ntitle: Log\ndoc_type: maintenance_log\nrevision: '1'\nassets: [line-2]\n"
    )
    (passage,) = parse_document(log, tmp_path).passages
    assert passage.assets == ("line-2",)


def test_a_long_record_is_cut_between_fields_into_cited_parts(tmp_path: Path) -> None:
    findings = " ".join(f"Finding {i}: outer race spalled at position {i}." for i in range(40))
    log = tmp_path / "wo.jsonl"
    record = {"record_id": "WO-26-0117", "opened": "2026-03-10", "asset": "press-3"}
    log.write_text(json.dumps(record | {"tasks": ["lock out", "replace"], "findings": findings}))
    (tmp_path / "wo.jsonl.meta.yaml").write_text(
        "doc_id: wo\ntitle: Work orders\ndoc_type: work_order\nrevision: '1'\n"
    )
    passages = parse_document(log, tmp_path).passages
    assert [p.citation_id for p in passages] == ["wo#WO-26-0117:0", "wo#WO-26-0117:1"]
    assert count_tokens(passages[0].text) <= PASSAGE_TOKEN_BUDGET
    # Exact spans of the rendered record, cut at a field boundary.
    assert passages[0].text == "WO-26-0117 | 2026-03-10 | press-3 | tasks: lock out; replace"
    assert passages[1].text == f"findings: {findings}"
    assert all(p.assets == ("press-3",) and p.date == dt.date(2026, 3, 10) for p in passages)
