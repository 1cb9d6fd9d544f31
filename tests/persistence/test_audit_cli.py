"""`andon audit verify|tail` exit codes and messages."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from control.audit import AuditKind, AuditLog
from control.audit.anchor import ANCHOR_FILENAME
from control.audit.cli import audit_app
from control.db import create_schema, make_engine

from .conftest import tamper

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_env_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANDON_DATABASE_URL", raising=False)


def _write_trail(data_dir: Path, *tampering: str) -> None:
    async def write() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{data_dir / 'andon.sqlite'}")
        await create_schema(engine)
        log = AuditLog(engine, data_dir / ANCHOR_FILENAME)
        for i in range(5):
            await log.append(
                AuditKind.write, actor="alice", role="operator", subject="press-1", data={"i": i}
            )
        if tampering:
            await tamper(engine, *tampering)
        await engine.dispose()

    asyncio.run(write())


def test_verify_ok(tmp_path: Path) -> None:
    _write_trail(tmp_path)
    result = runner.invoke(audit_app, ["verify", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: 5 records, head seq 5 hash ")
    assert "anchor seq 5 matches" in result.output


def test_verify_tampered_exits_1(tmp_path: Path) -> None:
    _write_trail(tmp_path, "UPDATE audit_records SET actor = 'mallory' WHERE seq = 3")
    result = runner.invoke(audit_app, ["verify", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "TAMPERED at seq 3: contents do not match the stored hash" in result.output


def test_verify_truncated_exits_1(tmp_path: Path) -> None:
    _write_trail(tmp_path, "DELETE FROM audit_records WHERE seq = 5")
    result = runner.invoke(audit_app, ["verify", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "TAMPERED at seq 5" in result.output


def test_unreachable_database_exits_2_without_traceback() -> None:
    url = "postgresql://postgres:secret@127.0.0.1:1/test"
    result = runner.invoke(audit_app, ["verify", "--database-url", url])
    assert result.exit_code == 2
    assert "error: cannot read the audit trail at postgresql+psycopg://postgres:***@" in (
        result.output
    )
    assert "Traceback" not in result.output and "secret" not in result.output


def test_missing_sqlite_database_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(audit_app, ["verify", "--data-dir", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "no database at" in result.output
    assert not (tmp_path / "nowhere").exists()


def test_tail(tmp_path: Path) -> None:
    _write_trail(tmp_path)
    result = runner.invoke(audit_app, ["tail", "-n", "2", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == ["4", "5"]
    assert "alice/operator  press-1" in lines[0] and '{"i":3}' in lines[0]
