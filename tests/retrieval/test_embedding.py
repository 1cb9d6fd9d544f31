"""MiniLM on ONNX Runtime: agrees with the original model, batches faithfully, refuses bad files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.schema import TextNode

from retrieval import embedding
from retrieval.embedding import DIMENSION, MiniLMEmbedder, MiniLMEmbedding
from retrieval.weights import (
    MAX_TOKENS,
    ONNX_MODEL,
    PinnedFile,
    WeightsError,
    count_tokens,
    verified_path,
)

REPO = Path(__file__).resolve().parents[2]
REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_reference.json").read_text())
# The int8 export against fp32 torch, measured: worst cosine 0.99918 (the >256-token case), the
# short sentences 0.99948 to 0.99969. Bound just under the worst so a real regression shows.
MIN_REFERENCE_COSINE = 0.999


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def reference_cases() -> list[dict[str, Any]]:
    return REFERENCE["cases"]


def test_reference_file_describes_what_we_compare_against() -> None:
    assert REFERENCE["dimension"] == DIMENSION
    assert REFERENCE["max_tokens"] == MAX_TOKENS
    # Same word pieces as the reference's tokenizer, so differences come from the model alone.
    for case in reference_cases():
        assert count_tokens(case["text"]) == case["word_pieces"], case["text"]
    assert any(case["word_pieces"] > MAX_TOKENS for case in reference_cases())


def test_vectors_match_the_original_model(embedder: MiniLMEmbedder) -> None:
    texts = [case["text"] for case in reference_cases()]
    expected = np.array([case["vector"] for case in reference_cases()], dtype=np.float64)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)  # undo the 6-decimal rounding

    vectors = embedder.embed(texts).astype(np.float64)
    cosines = (vectors * expected).sum(axis=1) / np.linalg.norm(vectors, axis=1)

    worst = int(np.argmin(cosines))
    assert cosines[worst] >= MIN_REFERENCE_COSINE, (
        f"worst cosine {cosines[worst]:.5f} for {texts[worst][:60]!r}"
    )


def test_text_past_the_token_limit_is_truncated(embedder: MiniLMEmbedder) -> None:
    long_text = next(c["text"] for c in reference_cases() if c["word_pieces"] > MAX_TOKENS)
    tail = " Afterwards the die setter inspects the feeder-2 coil cradle and the conveyor belt."

    with_tail, without_tail = embedder.embed([long_text + tail, long_text])

    np.testing.assert_allclose(with_tail, without_tail, atol=1e-6)
    # Words inside the window do change the vector: the comparison above is not vacuous.
    shortened = embedder.embed_one(long_text[: len(long_text) // 3])
    assert float(shortened @ without_tail) < 0.99


def test_vectors_have_unit_length_and_the_declared_shape(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed(["Torque", "", "press-3.vibration_rms_mm_s high", "a " * 400])

    assert vectors.shape == (4, DIMENSION) == (4, embedder.dimension)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_batches_equal_one_by_one_in_input_order() -> None:
    # Mixed lengths in no particular order; batches of 3 force sorting and several paddings.
    texts = [case["text"] for case in reversed(reference_cases())]
    texts += ["", "Replace P400-BRG-23160."]
    batched = MiniLMEmbedder(batch_size=3)
    one_by_one = np.stack([batched.embed_one(text) for text in texts])

    result = batched.embed(texts)

    np.testing.assert_allclose(result, one_by_one, atol=1e-5)
    # Every two rows differ, so a row landing in another's place could not pass the check above.
    gaps = np.abs(one_by_one[:, None, :] - one_by_one[None, :, :]).max(axis=2)
    assert gaps[~np.eye(len(texts), dtype=bool)].min() > 1e-3


def test_empty_input_gives_an_empty_matrix(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed([])

    assert vectors.shape == (0, DIMENSION)
    assert vectors.dtype == np.float32


def test_a_lone_string_is_refused(embedder: MiniLMEmbedder) -> None:
    # Iterating a string would silently embed each character.
    with pytest.raises(TypeError, match="sequence of texts"):
        embedder.embed("press-3 main bearing")  # type: ignore[arg-type]


PASSAGES = {
    "bearing": "Main bearing replacement on the P-400: lock out the press, support the "
    "crankshaft, remove the bearing cap and fit the new spherical roller bearing.",
    "coil": "Coil change on feeder-2: thread the new coil through the straightener, "
    "set the loop height and jog the strip into the first die station.",
    "conveyor": "Conveyor-2 belt tracking: adjust the take-up screws on the tail pulley until "
    "the belt runs centred at full speed.",
    "vision": "Vision station VI-2 calibration: place the master part under the camera and "
    "accept the reference image.",
}


@pytest.mark.parametrize(
    ("query", "best"),
    [
        ("How do I replace the main bearing on press-3?", "bearing"),
        ("What are the steps to load a new steel coil into the feeder?", "coil"),
        ("The transfer conveyor belt keeps drifting to one side", "conveyor"),
    ],
)
def test_questions_rank_the_passage_that_answers_them_first(
    embedder: MiniLMEmbedder, query: str, best: str
) -> None:
    names = list(PASSAGES)
    scores = embedder.embed(list(PASSAGES.values())) @ embedder.embed_one(query)

    ranking = [names[i] for i in np.argsort(-scores)]

    assert ranking[0] == best, dict(zip(names, scores.round(3), strict=True))


def fake_weights_package(root: Path, name: str, content: bytes) -> None:
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('weight packages must not run')\n")
    (package / "model.onnx").write_bytes(content)


def test_pinned_file_with_the_right_bytes_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_weights_package(tmp_path, "andon_fake_weights_ok", b"vetted bytes")
    monkeypatch.syspath_prepend(str(tmp_path))
    pinned = PinnedFile(
        "andon_fake_weights_ok", "model.onnx", hashlib.sha256(b"vetted bytes").hexdigest()
    )

    assert verified_path(pinned) == tmp_path / "andon_fake_weights_ok" / "model.onnx"


def test_tampered_model_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_weights_package(tmp_path, "andon_fake_weights_bad", b"tampered bytes")
    monkeypatch.syspath_prepend(str(tmp_path))
    # A fresh PinnedFile: verified_path caches its verdict per pinned file.
    pinned = PinnedFile(
        "andon_fake_weights_bad", "model.onnx", hashlib.sha256(b"vetted bytes").hexdigest()
    )
    monkeypatch.setattr(embedding, "ONNX_MODEL", pinned)

    with pytest.raises(WeightsError, match="refusing to load a model file that is not the vetted"):
        MiniLMEmbedder()


def test_cpu_is_the_default_provider(embedder: MiniLMEmbedder) -> None:
    assert embedder.providers == ("CPUExecutionProvider",)
    assert embedder.threads == 2
    assert ONNX_MODEL.sha256[:12] in embedder.model_id


def test_cuda_is_used_only_when_asked_for_and_available() -> None:
    cpu, cuda = "CPUExecutionProvider", "CUDAExecutionProvider"
    expected = (cuda, cpu) if cuda in ort.get_available_providers() else (cpu,)

    assert MiniLMEmbedder(use_cuda=True).providers == expected


async def test_llama_index_adapter_returns_the_embedders_vectors(
    embedder: MiniLMEmbedder,
) -> None:
    adapter = MiniLMEmbedding(embedder)
    texts = [case["text"] for case in reference_cases()[:4]]
    expected = embedder.embed(texts)

    np.testing.assert_allclose(adapter.get_text_embedding_batch(texts), expected, atol=1e-6)
    np.testing.assert_allclose(await adapter.aget_text_embedding_batch(texts), expected, atol=1e-6)
    np.testing.assert_allclose(adapter.get_query_embedding(texts[0]), expected[0], atol=1e-6)
    np.testing.assert_allclose(await adapter.aget_query_embedding(texts[1]), expected[1], atol=1e-6)
    assert adapter.model_name == embedder.model_id


def test_ingestion_pipeline_embeds_nodes_with_the_adapter(embedder: MiniLMEmbedder) -> None:
    texts = [case["text"] for case in reference_cases()[:3]]
    pipeline = IngestionPipeline(transformations=[MiniLMEmbedding(embedder)], disable_cache=True)

    nodes = pipeline.run(nodes=[TextNode(text=text) for text in texts])

    np.testing.assert_allclose([node.embedding for node in nodes], embedder.embed(texts), atol=1e-6)


def test_embedding_through_llama_index_opens_no_network_connection() -> None:
    # Attempts are counted as well as refused: llama-index swallows some download errors.
    script = textwrap.dedent(
        """
        import socket

        attempts = []

        def refuse(*args, **kwargs):
            attempts.append(args)
            raise OSError("network access attempted")

        socket.socket.connect = socket.socket.connect_ex = refuse
        socket.getaddrinfo = socket.create_connection = refuse

        from llama_index.core.ingestion import IngestionPipeline
        from llama_index.core.schema import TextNode

        from retrieval.embedding import MiniLMEmbedding

        pipeline = IngestionPipeline(transformations=[MiniLMEmbedding()], disable_cache=True)
        (node,) = pipeline.run(nodes=[TextNode(text="press-3 main bearing")])
        print(len(node.embedding), len(attempts))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == [str(DIMENSION), "0"], result.stdout
