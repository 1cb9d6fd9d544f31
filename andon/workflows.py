"""DBOS set-up: SQLite beside the data by default, PostgreSQL when ANDON_DATABASE_URL says so."""

from __future__ import annotations

import sqlalchemy as sa
from dbos import DBOS

import control.execution.workflows  # noqa: F401 - registers the workflows before launch
from andon.settings import Settings


def _sqlite_engine(url: str) -> sa.Engine:
    engine = sa.create_engine(url, pool_size=1, max_overflow=0)

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:
        # WAL + NORMAL: durable at each checkpoint of the log, several times faster than FULL.
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "busy_timeout=30000",
            "foreign_keys=ON",
        ):
            dbapi_conn.execute(f"PRAGMA {pragma}")

    return engine


def launch_workflows(settings: Settings) -> None:
    """Configure DBOS and launch it; launching resumes workflows a crash interrupted."""
    url = settings.workflow_database_url()
    config: dict = {"name": "andon", "system_database_url": url, "log_level": "WARNING"}
    if url.startswith("sqlite"):
        config["system_database_engine"] = _sqlite_engine(url)
        # Approvals arrive by message; poll often so an approved request does not idle.
        config["notification_listener_polling_interval_sec"] = 0.1
    DBOS(config=config)
    DBOS.launch()


def shutdown_workflows() -> None:
    DBOS.destroy(destroy_registry=False)
