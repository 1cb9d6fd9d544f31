"""BM25-style sparse vectors: identifiers match exactly and in pieces, weights behave like BM25."""

from __future__ import annotations

import os
import subprocess
import sys

from retrieval import sparse


def weights(text: str) -> dict[int, float]:
    indices, values = sparse.encode_document(text)
    return dict(zip(indices, values, strict=True))


def test_identifiers_are_indexed_whole_and_in_pieces() -> None:
    found = sparse.terms("Replace P400-BRG-23160; check press-3.speed_spm and fault E-310")
    for term in ("p400-brg-23160", "p400", "brg", "23160", "press-3.speed_spm", "speed", "e-310"):
        assert term in found
    assert "and" not in found  # stop word


def test_words_are_stemmed_but_numbers_and_codes_are_not() -> None:
    assert sparse.terms("vibrating") == sparse.terms("vibration") == sparse.terms("vibrations")
    assert sparse.terms("23160") == ["23160"]
    assert sparse.terms("p400") == ["p400"]


def test_exact_part_number_outscores_its_sibling() -> None:
    query = dict(zip(*sparse.encode_query("P400-BRG-23160"), strict=True))
    exact = weights("Main bearing P400-BRG-23160, SKF 23160 CC/W33")
    sibling = weights("Connection bushing P400-BSH-220")
    assert sum(w * exact.get(i, 0.0) for i, w in query.items()) > sum(
        w * sibling.get(i, 0.0) for i, w in query.items()
    )


def test_term_frequency_saturates_and_long_passages_weigh_less() -> None:
    term = sparse.term_index(sparse.terms("bearing")[0])
    once, thrice = weights("bearing"), weights("bearing bearing bearing")
    assert once[term] < thrice[term] < once[term] * 3  # BM25 saturation
    filler = " ".join(f"word{i}" for i in range(300))
    assert weights("bearing " + filler)[term] < once[term]  # length normalisation


def test_query_weights_are_one_per_distinct_term() -> None:
    indices, values = sparse.encode_query("bearing bearing temperature")
    assert len(indices) == 2 and values == [1.0, 1.0]
    assert indices == sorted(indices)


def test_term_indices_are_stable_across_processes() -> None:
    # An index built by one process must be queryable by another, whatever its hash seed.
    code = "from retrieval import sparse; print(sparse.encode_query('P400-BRG-23160 bearing')[0])"
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert runs == {f"{sparse.encode_query('P400-BRG-23160 bearing')[0]}\n"}
