"""The one error parsing raises: a plain-words problem with a named file, fit for the CLI."""

from __future__ import annotations

from pathlib import Path


class DocumentError(ValueError):
    """A document (or its metadata) cannot be ingested as it stands."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem
