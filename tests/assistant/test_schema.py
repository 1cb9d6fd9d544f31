"""The bound checker: schemas for constrained decoding must not allow answers without end."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from assistant.llm.schema import UnboundedSchemaError, generation_schema


class Urgency(StrEnum):
    LOW = "low"
    HIGH = "high"


class Step(BaseModel):
    action: Literal["inspect", "stop", "create_work_order"]
    target: str = Field(max_length=40)
    note: str | None = Field(default=None, max_length=80)


class Plan(BaseModel):
    summary: str = Field(max_length=160)
    urgency: Urgency
    steps: list[Step] = Field(max_length=4)
    window_minutes: tuple[int, int]
    work_order: str = Field(pattern=r"^WO-[0-9]{4}$")
    offset: str = Field(pattern=r"^[+-][0-9]{1,3}\.[0-9]$")


def problems_of(model: type[BaseModel]) -> str:
    with pytest.raises(UnboundedSchemaError) as error:
        generation_schema(model)
    return str(error.value)


def test_a_bounded_model_is_accepted_with_extra_keys_forbidden() -> None:
    schema = generation_schema(Plan)

    assert schema["additionalProperties"] is False
    assert schema["$defs"]["Step"]["additionalProperties"] is False
    # Everything else is pydantic's schema as it was.
    original = Plan.model_json_schema()
    assert schema["properties"] == original["properties"]
    assert "additionalProperties" not in original


def test_an_explicit_choice_about_extra_keys_is_kept() -> None:
    class Forbidding(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str = Field(max_length=10)

    assert generation_schema(Forbidding)["additionalProperties"] is False


def test_a_free_text_string_needs_max_length() -> None:
    class Note(BaseModel):
        text: str

    assert "Note.text: string without max_length" in problems_of(Note)


def test_an_optional_string_needs_max_length_too() -> None:
    class Note(BaseModel):
        text: str | None = None

    assert "Note.text: string without max_length" in problems_of(Note)


def test_an_array_needs_max_length_and_bounded_items() -> None:
    class Checklist(BaseModel):
        items: list[str] = Field(max_length=5)
        tags: list[Literal["a", "b"]]

    problems = problems_of(Checklist)

    assert "Checklist.items[]: string without max_length" in problems
    assert "Checklist.tags: array without max_length" in problems
    assert "Checklist.items:" not in problems


def test_nested_models_are_checked_through_their_references() -> None:
    class Inner(BaseModel):
        comment: str

    class Outer(BaseModel):
        inner: Inner
        inners: list[Inner] = Field(max_length=2)

    problems = problems_of(Outer)

    assert "Outer.inner.comment: string without max_length" in problems
    assert "Outer.inners[].comment: string without max_length" in problems


def test_every_problem_is_listed_at_once() -> None:
    class Messy(BaseModel):
        a: str
        b: list[int]
        c: dict[str, int]
        d: Any

    problems = problems_of(Messy)

    assert "Messy.a: string without max_length" in problems
    assert "Messy.b: array without max_length" in problems
    assert "Messy.c: object with arbitrary keys" in problems
    assert "Messy.d: any JSON value is allowed" in problems


def test_a_model_that_accepts_extra_keys_is_refused() -> None:
    class Open(BaseModel):
        model_config = ConfigDict(extra="allow")
        name: str = Field(max_length=10)

    assert "Open: object with arbitrary keys" in problems_of(Open)


def test_a_recursive_model_is_refused() -> None:
    class Node(BaseModel):
        label: str = Field(max_length=10)
        children: list[Node] = Field(max_length=2)

    assert "refers back to Node" in problems_of(Node)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"^[A-Z]+$", "repeats without an upper bound"),
        (r"^x.*$", "repeats without an upper bound"),
        (r"^[0-9]{2,}$", "repeats without an upper bound"),
        (r"[0-9]{4}", "must be anchored"),
    ],
)
def test_patterns_must_be_anchored_and_bounded(pattern: str, expected: str) -> None:
    # max_length does not help: grammar converters follow the pattern and drop maxLength.
    class Coded(BaseModel):
        code: str = Field(pattern=pattern, max_length=8)

    assert expected in problems_of(Coded)


def test_repetition_signs_inside_classes_or_escaped_are_literal() -> None:
    class Signed(BaseModel):
        value: str = Field(pattern=r"^[+*][0-9]{1,3}\+$")

    assert generation_schema(Signed)["properties"]["value"]["pattern"] == r"^[+*][0-9]{1,3}\+$"
