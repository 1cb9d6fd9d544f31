"""Sentence embeddings with all-MiniLM-L6-v2 on ONNX Runtime (no torch), from verified files.

The recipe is sentence-transformers' for this model: word pieces truncated at ``MAX_TOKENS``,
BERT's last hidden state mean-pooled over the attention mask, then L2-normalised, so cosine
similarity is a dot product. ``MiniLMEmbedding`` adapts the embedder to llama-index.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import onnxruntime as ort
import structlog
from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import PrivateAttr

from .weights import ONNX_MODEL, load_tokenizer, verified_path

log = structlog.get_logger()

DIMENSION = 384
# Tied to the pinned file's hash: vectors from other weights must never share an index with ours.
MODEL_ID = f"sentence-transformers/all-MiniLM-L6-v2:onnx-int8:{ONNX_MODEL.sha256[:12]}"

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"

# Two threads: with one, embedding stalls whenever another process takes the only core it has.
DEFAULT_THREADS = 2
# Measured on 2 cores with ~150-token chunks: batches of 8 ran 10-20% faster than batches of 32.
DEFAULT_BATCH_SIZE = 8


def _providers(use_cuda: bool) -> list[str]:
    if not use_cuda:
        return [CPU]
    if CUDA not in ort.get_available_providers():
        log.warning("embedding.cuda_unavailable", available=ort.get_available_providers())
        return [CPU]
    return [CUDA, CPU]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 weights, fp32 compute): texts in, unit vectors of 384 floats out."""

    dimension: ClassVar[int] = DIMENSION
    model_id: ClassVar[str] = MODEL_ID

    def __init__(
        self,
        *,
        threads: int = DEFAULT_THREADS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        use_cuda: bool = False,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.threads = threads
        self.batch_size = batch_size
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(
            str(verified_path(ONNX_MODEL)), sess_options=options, providers=_providers(use_cuda)
        )
        # What the session really runs on: onnxruntime drops providers it cannot start.
        self.providers: tuple[str, ...] = tuple(self._session.get_providers())
        self._tokenizer = load_tokenizer()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, float32 of shape ``(len(texts), 384)``, row i for ``texts[i]``."""
        if isinstance(texts, str):
            raise TypeError("embed takes a sequence of texts, not one string")
        vectors = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        if not texts:
            return vectors
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([encoding.ids for encoding in encodings], dtype=np.int64)
        mask = np.array([encoding.attention_mask for encoding in encodings], dtype=np.int64)
        lengths = mask.sum(axis=1)
        # Texts of like length share a batch, so short ones are not padded to the longest.
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = int(lengths[rows].max())
            # Padding is on the right, so cutting columns only removes padding.
            vectors[rows] = self._embed_batch(ids[rows, :width], mask[rows, :width])
        return vectors

    def embed_one(self, text: str) -> np.ndarray:
        """The unit vector of one text, shape ``(384,)``."""
        return self.embed([text])[0]

    def _embed_batch(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        (hidden,) = self._session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


class MiniLMEmbedding(BaseEmbedding):
    """llama-index embedding model (and ingestion transformation) backed by a MiniLMEmbedder."""

    _embedder: MiniLMEmbedder = PrivateAttr()

    def __init__(self, embedder: MiniLMEmbedder | None = None, **kwargs: Any) -> None:
        # llama-index hands over this many texts per call; the embedder batches and sorts them.
        kwargs.setdefault("embed_batch_size", 256)
        super().__init__(model_name=MODEL_ID, **kwargs)
        self._embedder = embedder if embedder is not None else MiniLMEmbedder()

    @classmethod
    def class_name(cls) -> str:
        return "MiniLMEmbedding"

    @property
    def embedder(self) -> MiniLMEmbedder:
        return self._embedder

    def _get_query_embedding(self, query: str) -> Embedding:
        # all-MiniLM-L6-v2 is symmetric: queries take no instruction prefix.
        return self._embedder.embed_one(query).tolist()

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._embedder.embed_one(text).tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embedder.embed(texts).tolist()

    # onnxruntime releases the GIL while it runs, so a worker thread keeps the event loop free.
    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await asyncio.to_thread(self._get_query_embedding, query)

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return await asyncio.to_thread(self._get_text_embedding, text)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)
