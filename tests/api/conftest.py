"""One live Andon system for the whole API test package.

DBOS is a process-wide singleton, so the app (and the simulated plant it embeds) is started
once for tests/api (package scope: it stops before other suites run). Each test starts from
a freshly reset plant (`fresh_plant`) and uses its own idempotency keys and work orders, so
tests do not depend on each other's plant state.
Requests left waiting for approval by one test stay waiting; tests look only at their own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from andon.settings import Settings
from simulator.server import endpoint_url, free_tcp_port

from .api_helpers import LiveSystem


@pytest.fixture(scope="package")
def quiet_logs() -> Iterator[None]:
    """Warnings and up, plain tracebacks: rich tracebacks with locals cost seconds per 500."""
    saved = structlog.get_config()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.dev.ConsoleRenderer(
                colors=False, exception_formatter=structlog.dev.plain_traceback
            ),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=False,
    )
    yield
    structlog.configure(**saved)


@pytest.fixture(scope="package")
def live(quiet_logs: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSystem]:
    data_dir: Path = tmp_path_factory.mktemp("andon-api")
    settings = Settings(
        data_dir=data_dir,
        opcua_url=endpoint_url("127.0.0.1", free_tcp_port()),
        api_host="127.0.0.1",
        api_port=free_tcp_port(),
        log_level="WARNING",
        # The live camera and telemetry loops would add their own requests and audit
        # records while a test counts them; tests/perception drives those loops.
        inspection_live=False,
        telemetry_live=False,
    )
    system = LiveSystem.start(settings)
    yield system
    system.stop()


@pytest.fixture(autouse=True)
def fresh_plant(live: LiveSystem) -> LiveSystem:
    """Every test starts from the plant file's initial state (all stopped, no locks)."""
    live.sim_reset()
    return live
