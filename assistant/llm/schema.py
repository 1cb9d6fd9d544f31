"""JSON schemas fit for constrained decoding: every answer they allow has a bounded length.

A grammar built from a schema only stops a model where the schema does: an unbounded string lets
a small model write until max_tokens, and the answer is then cut and useless. So every free-text
string needs ``max_length``, every array ``max_length`` and every object fixed fields. Bounds must
hold on every backend, hence the conservative reading: string formats (date-time, uuid) do not
count as bounds, since not every grammar engine enforces them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

# Repetition that has no upper bound: *, + or {n,} outside escapes and character classes.
_OPEN_REPETITION = re.compile(r"[*+]|\{\d*,\}")
_ESCAPE = re.compile(r"\\.")
_CHARACTER_CLASS = re.compile(r"\[\^?\]?[^\]]*\]")


class UnboundedSchemaError(ValueError):
    """The schema allows answers of unbounded length; the message lists every such place."""


def generation_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema, checked for bounds, with extra object keys forbidden.

    Extra keys are forbidden explicitly because backends differ in what an absent
    ``additionalProperties`` means; pydantic ignores extra keys anyway, so nothing is lost.
    """
    schema = model.model_json_schema()
    problems = list(_unbounded(schema, model.__name__, schema.get("$defs", {}), frozenset()))
    if problems:
        raise UnboundedSchemaError(
            f"{model.__name__} cannot be used for constrained generation: " + "; ".join(problems)
        )
    closed = copy.deepcopy(schema)
    _forbid_extra_keys(closed)
    return closed


def _unbounded(
    node: dict[str, Any], path: str, defs: dict[str, Any], expanding: frozenset[str]
) -> Iterator[str]:
    if "const" in node or "enum" in node:
        return
    if ref := node.get("$ref"):
        name = ref.rsplit("/", 1)[-1]
        if name in expanding:
            yield f"{path}: refers back to {name}, so answers can nest without end"
        else:
            yield from _unbounded(defs[name], path, defs, expanding | {name})
        return
    alternatives = [sub for key in ("anyOf", "oneOf", "allOf") for sub in node.get(key, [])]
    for alternative in alternatives:
        yield from _unbounded(alternative, path, defs, expanding)

    kinds = node.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if not kinds and not alternatives and "properties" not in node:
        yield f"{path}: any JSON value is allowed; give it a type"
    if "string" in kinds:
        yield from _string_problems(node, path)
    if "array" in kinds:
        if "maxItems" not in node:
            yield f"{path}: array without max_length"
        if isinstance(items := node.get("items"), dict):
            yield from _unbounded(items, f"{path}[]", defs, expanding)
        for index, item in enumerate(node.get("prefixItems", [])):
            yield from _unbounded(item, f"{path}[{index}]", defs, expanding)
    if "object" in kinds or "properties" in node:
        if node.get("additionalProperties", False) is not False or "properties" not in node:
            yield f"{path}: object with arbitrary keys; use a model with fixed fields"
        for name, field in node.get("properties", {}).items():
            yield from _unbounded(field, f"{path}.{name}", defs, expanding)


def _string_problems(node: dict[str, Any], path: str) -> Iterator[str]:
    pattern = node.get("pattern")
    if pattern is None:
        if "maxLength" not in node:
            yield f"{path}: string without max_length"
        return
    # Grammar converters follow a pattern and ignore maxLength beside it, and llama.cpp's
    # converter accepts anchored patterns only.
    if not (pattern.startswith("^") and pattern.endswith("$")):
        yield f"{path}: pattern {pattern!r} must be anchored with ^ and $"
    if _OPEN_REPETITION.search(_CHARACTER_CLASS.sub("x", _ESCAPE.sub("x", pattern))):
        yield f"{path}: pattern {pattern!r} repeats without an upper bound (*, + or {{n,}})"


def _forbid_extra_keys(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "object" and isinstance(node.get("properties"), dict):
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _forbid_extra_keys(value)
    elif isinstance(node, list):
        for value in node:
            _forbid_extra_keys(value)
