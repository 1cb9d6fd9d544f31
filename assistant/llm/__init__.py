"""Language-model backends behind one interface: llama.cpp in-process, or an OpenAI-compatible
server such as vLLM. Both decode JSON under a schema and stream text."""

from .base import ChatMessage, LanguageModel, LLMError, StructuredAnswer, Usage
from .embedded import EmbeddedLLM
from .openai_compat import OpenAICompatibleLLM
from .schema import UnboundedSchemaError, generation_schema
from .weights import QWEN_CODER_0_5B, QWEN_CODER_1_5B, SMOLLM2_135M, SplitModel, model_file

__all__ = [
    "QWEN_CODER_0_5B",
    "QWEN_CODER_1_5B",
    "SMOLLM2_135M",
    "ChatMessage",
    "EmbeddedLLM",
    "LLMError",
    "LanguageModel",
    "OpenAICompatibleLLM",
    "SplitModel",
    "StructuredAnswer",
    "UnboundedSchemaError",
    "Usage",
    "generation_schema",
    "model_file",
]
