"""Which code trained a model: ModelMetadata.trainer."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]


def trainer_version() -> str:
    """`andon <version>`, plus the git commit (with `+dirty` for uncommitted changes) when
    the code runs from a checkout."""
    try:
        version = f"andon {metadata.version('andon')}"
    except metadata.PackageNotFoundError:
        version = "andon (not installed)"
    try:
        commit = subprocess.run(
            ["git", "-C", str(_REPO), "describe", "--always", "--dirty=+dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version} (git {commit})" if commit else version
