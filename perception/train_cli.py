"""What `andon train vision` and `andon train telemetry` share: checking the artifact's name and
version and loading the signing key before any training starts, and failing with a message."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import TypeAdapter, ValidationError
from rich.console import Console

from perception.models import ModelName, ModelVersion
from perception.registry.keys import SigningKeyError, load_signing_key

console = Console(stderr=True)


def fail(message: str) -> NoReturn:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)  # bad input, as typer answers a bad option


def artifact_signer(name: str, version: str | None, signing_key: Path | None) -> Ed25519PrivateKey:
    """The key to sign artifact ``name`` ``version`` with (``signing_key``, else the
    configured one), checked before hours of training; exits with a message when unusable."""
    from andon.settings import Settings

    try:
        TypeAdapter(ModelName).validate_python(name)
        if version is not None:
            TypeAdapter(ModelVersion).validate_python(version)
    except ValidationError as exc:
        fail(f"bad model name or version: {exc.errors()[0]['msg']}")
    try:
        return load_signing_key(signing_key or Settings().model_signing_key)
    except SigningKeyError as exc:
        fail(str(exc))
