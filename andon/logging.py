"""Structured logging for every process (API, simulator, CLI)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

import structlog


def configure_logging(level: str = "INFO", json: bool = False) -> None:
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(
        level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s %(message)s"
    )
    # asyncua logs every reconnect attempt at INFO; keep it to warnings.
    logging.getLogger("asyncua").setLevel(logging.WARNING)


@contextlib.contextmanager
def logger_level(name: str, level: int) -> Iterator[None]:
    """Standard-library logger ``name`` at ``level`` inside the block, as it was after."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)
