"""CSV and JSONL logs -> one record per row or line, each rendered as one readable line."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..weights import count_tokens
from .chunking import PASSAGE_TOKEN_BUDGET
from .errors import DocumentError

FIELD_SEP = " | "


@dataclass(frozen=True)
class Record:
    record_id: str
    date: dt.date | None
    assets: tuple[str, ...]
    failure_mode: str | None
    text: str


def parse_csv(path: Path, text: str) -> list[Record]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "record_id" not in reader.fieldnames:
        raise DocumentError(path, "the CSV header has no 'record_id' column")

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        try:
            for row in reader:
                if None in row:
                    raise DocumentError(
                        path, f"line {reader.line_num}: more fields than the header names"
                    )
                yield reader.line_num, row
        except csv.Error as error:
            raise DocumentError(path, f"line {reader.line_num}: {error}") from None

    return _records(path, rows())


def parse_jsonl(path: Path, text: str) -> list[Record]:
    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                fields = json.loads(line)
            except json.JSONDecodeError as error:
                raise DocumentError(path, f"line {number}: not valid JSON ({error.msg})") from None
            if not isinstance(fields, dict):
                raise DocumentError(path, f"line {number}: a record must be a JSON object")
            yield number, fields

    return _records(path, rows())


def _records(path: Path, rows: Iterator[tuple[int, dict[str, Any]]]) -> list[Record]:
    records: list[Record] = []
    first_line: dict[str, int] = {}
    for line, fields in rows:
        record = _record(path, line, fields)
        if record.record_id in first_line:
            raise DocumentError(
                path,
                f"line {line}: record id {record.record_id!r} already used on line "
                f"{first_line[record.record_id]}",
            )
        first_line[record.record_id] = line
        records.append(record)
    return records


def _record(path: Path, line: int, fields: dict[str, Any]) -> Record:
    """Id, date, asset and failure mode lead bare; every other field follows as "name: value"."""
    shown = {name: _shown(value) for name, value in fields.items()}
    shown = {name: value for name, value in shown.items() if value}
    record_id = shown.get("record_id")
    if not record_id:
        raise DocumentError(path, f"line {line}: the record has no record_id")
    date_field = "date" if "date" in shown else "opened"
    lead_fields = ("record_id", date_field, "asset", "failure_mode")
    lead = [shown[name] for name in lead_fields if name in shown]
    rest = [f"{name}: {value}" for name, value in shown.items() if name not in lead_fields]
    return Record(
        record_id=record_id,
        date=_date(path, line, date_field, shown.get(date_field)),
        assets=_assets(fields.get("asset")),
        failure_mode=shown.get("failure_mode"),
        text=FIELD_SEP.join((*lead, *rest)),
    )


def record_chunks(text: str, budget: int = PASSAGE_TOKEN_BUDGET) -> list[str]:
    """A record's text, cut between fields into parts the embedder sees whole.

    Most records are one part. A long work order (findings, many tasks) becomes several, each an
    exact span of the record's text; a single field over budget stays whole rather than torn.
    """
    if count_tokens(text) <= budget:
        return [text]
    parts: list[str] = []
    current = ""
    for field in text.split(FIELD_SEP):
        candidate = f"{current}{FIELD_SEP}{field}" if current else field
        if current and count_tokens(candidate) > budget:
            parts.append(current)
            current = field
        else:
            current = candidate
    parts.append(current)
    return parts


def _shown(value: Any) -> str:
    """A field's value as text: lists joined with '; ', codes and numbers verbatim."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(part for part in (_shown(item) for item in value) if part)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return " ".join(str(value).split())


def _date(path: Path, line: int, name: str, value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value).date()
    except ValueError:
        raise DocumentError(
            path, f"line {line}: {name} {value!r} is not an ISO date (YYYY-MM-DD)"
        ) from None


def _assets(value: Any) -> tuple[str, ...]:
    """``"press-3"``, ``"press-3; feeder-2"`` or a JSON list of ids."""
    values = value if isinstance(value, list) else str(value or "").split(";")
    return tuple(text for text in (str(item).strip() for item in values) if text)
