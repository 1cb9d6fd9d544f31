"""Document metadata: Markdown front matter or a ``<file>.meta.yaml`` sidecar -> DocumentMeta."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..models import DocumentMeta
from .errors import DocumentError

SIDECAR_SUFFIX = ".meta.yaml"

_FRONT_MATTER = re.compile(
    r"\A---[ \t]*\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL | re.MULTILINE
)


def sidecar_path(document: Path) -> Path:
    """``manual.pdf`` -> ``manual.pdf.meta.yaml`` beside it."""
    return document.with_name(document.name + SIDECAR_SUFFIX)


def front_matter(path: Path, text: str) -> tuple[DocumentMeta, int]:
    """The metadata between the leading ``---`` lines and the offset where the body starts."""
    if not text.startswith("---"):
        raise DocumentError(
            path,
            "no front matter: a Markdown document must start with a '---' line, "
            "its metadata (doc_id, title, doc_type, revision, ...) and a closing '---' line",
        )
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise DocumentError(path, "the front matter is not closed by a '---' line")
    return metadata_from_yaml(path, match.group(1)), match.end()


def sidecar_meta(sidecar: Path, raw: bytes) -> DocumentMeta:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DocumentError(sidecar, f"metadata is not UTF-8 text ({error.reason})") from None
    return metadata_from_yaml(sidecar, text)


def metadata_from_yaml(path: Path, text: str) -> DocumentMeta:
    try:
        fields = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(error, "problem", None) or "syntax error"
        raise DocumentError(path, f"metadata is not valid YAML{line}: {problem}") from None
    if not isinstance(fields, dict):
        raise DocumentError(path, "metadata must be a YAML mapping of DocumentMeta's fields")
    try:
        return DocumentMeta.model_validate(fields)
    except ValidationError as error:
        raise DocumentError(path, f"invalid metadata: {_condensed(error)}") from None


def _condensed(error: ValidationError) -> str:
    """Pydantic's error list as one line: ``missing field 'revision'; doc_type: ...``."""
    problems: list[str] = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "metadata"
        if item["type"] == "missing":
            problems.append(f"missing field '{field}'")
        elif item["type"] == "extra_forbidden":
            problems.append(f"unknown field '{field}'")
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            problems.append(f"{field}: {message}{_shown(item.get('input'))}")
    return "; ".join(problems)


def _shown(value: Any) -> str:
    if isinstance(value, str | int | float) and len(str(value)) <= 60:
        return f" (got {value!r})"
    return ""
