"""`andon ingest`, `andon search` and `andon index` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from retrieval.store import open_store

FIXTURES = Path(__file__).with_name("fixtures")


def andon(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANDON_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "andon.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ingest_then_reingest_then_search_and_list(tmp_path: Path) -> None:
    first = andon(tmp_path, "ingest", str(FIXTURES))
    assert first.returncode == 0, first.stderr
    assert "added (4)" in first.stderr and "press-3-manual" in first.stderr
    again = andon(tmp_path, "ingest", str(FIXTURES))
    assert again.returncode == 0
    assert "0 passages written; 4 documents unchanged" in again.stderr
    found = andon(tmp_path, "search", "P400-BRG-23160", "--role", "operator", "--top-k", "2")
    assert found.returncode == 0, found.stderr
    assert found.stdout.count("\n[") == 2 and "P400-BRG-23160" in found.stdout
    listed = andon(tmp_path, "index", "list")
    assert listed.returncode == 0 and "line-2-work-orders" in listed.stdout
    removed = andon(tmp_path, "index", "remove", "line-2-work-orders")
    assert removed.returncode == 0
    assert "line-2-work-orders" not in andon(tmp_path, "index", "list").stdout


def test_bad_input_gets_a_message_not_a_traceback(tmp_path: Path) -> None:
    missing = andon(tmp_path, "ingest", str(tmp_path / "nowhere"))
    assert missing.returncode == 1
    assert "no such file or folder" in missing.stderr and "Traceback" not in missing.stderr
    role = andon(tmp_path, "search", "bearing", "--role", "janitor")
    assert role.returncode == 2 and "no role 'janitor'" in role.stderr
    unknown = andon(tmp_path, "index", "remove", "no-such-doc")
    assert unknown.returncode == 1 and "not in the index: no-such-doc" in unknown.stderr


def test_a_store_held_by_another_process_is_reported_clearly(tmp_path: Path) -> None:
    store = open_store("", "", tmp_path / "qdrant", "andon", 384)
    try:
        held = andon(tmp_path, "ingest", str(FIXTURES))
    finally:
        store.close()
    assert held.returncode == 2
    assert "in use by another Andon process" in held.stderr and "Traceback" not in held.stderr
