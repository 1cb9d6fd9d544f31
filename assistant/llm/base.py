"""The one interface every language-model backend of the assistant speaks, and its contracts."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Role = Literal["system", "user", "assistant"]

SchemaT = TypeVar("SchemaT", bound=BaseModel)


class LLMError(RuntimeError):
    """A backend could not give an answer: server unreachable or refusing, or output unusable."""


class ChatMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: Role
    content: str


class Usage(BaseModel):
    """What one generation cost."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    # Queued behind another generation: the embedded model runs one at a time.
    wait_s: float = Field(ge=0)
    # From the start of this generation to its last token.
    elapsed_s: float = Field(ge=0)

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.elapsed_s if self.elapsed_s > 0 else 0.0


class StructuredAnswer(BaseModel, Generic[SchemaT]):
    """A constrained answer: the validated instance, and the raw text it was parsed from."""

    model_config = ConfigDict(frozen=True)

    value: SchemaT
    raw: str
    usage: Usage


class LanguageModel(ABC):
    """A chat model that answers in schema-constrained JSON or streams free text."""

    # Names the model in logs and audit records, e.g. the GGUF file or the served model id.
    name: str
    # Whether the decoder allows no whitespace between JSON tokens: a prompt then shows the reply
    # in that compact form, which the model would not write by itself.
    compact_json: bool = False

    @abstractmethod
    async def generate_json(
        self,
        messages: Sequence[ChatMessage],
        schema: type[SchemaT],
        *,
        max_tokens: int,
        temperature: float = 0.0,
    ) -> StructuredAnswer[SchemaT]:
        """An answer decoded under ``schema``'s JSON schema, validated into ``schema``.

        Raises ``UnboundedSchemaError`` before generating when ``schema`` has a string or array
        without a maximum length, and ``LLMError`` when no valid answer comes back.
        """

    @abstractmethod
    def stream_text(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
    ) -> AsyncIterator[str]:
        """Free text in chunks as they are generated; closing the iterator stops generation."""

    @abstractmethod
    async def aclose(self) -> None:
        """Releases the model or the connection pool."""


def parse_answer(
    raw: str, schema: type[SchemaT], *, finish_reason: str | None, max_tokens: int
) -> SchemaT:
    """``raw`` validated into ``schema``, or an ``LLMError`` saying why it cannot be."""
    if finish_reason == "length":
        # The grammar keeps the JSON valid token by token, but cannot close it past max_tokens.
        raise LLMError(
            f"the answer reached max_tokens={max_tokens} before its JSON was complete; "
            f"raise max_tokens or lower the length bounds of {schema.__name__}"
        )
    try:
        return schema.model_validate_json(raw)
    except ValidationError as exc:
        raise LLMError(f"the answer is not a valid {schema.__name__}: {exc}") from exc


def message_dicts(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    """Messages in the chat-completions wire format both backends take."""
    if not messages:
        raise ValueError("at least one message is needed")
    return [{"role": message.role, "content": message.content} for message in messages]
