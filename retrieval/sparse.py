"""BM25-style sparse vectors computed here, so keyword search needs no model download.

Documents get BM25's saturated term frequency with length normalisation; queries get a weight of
one per distinct term. Qdrant multiplies in the inverse document frequency itself
(``Modifier.IDF`` on the sparse vector), so the score of a query against a passage is BM25.

Identifiers matter more than prose on a shop floor: a part number (``P400-BRG-23160``), a tag
(``press-3.speed_spm``) or a fault code (``E-310``) is indexed whole *and* in its pieces, so an
exact identifier matches best while ``23160`` or ``speed_spm`` alone still finds it.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

from nltk.stem.porter import PorterStemmer

# BM25 constants (Robertson's usual values) and an average passage length in terms; the
# chunker caps passages at 230 word pieces, roughly 150 terms.
K1 = 1.2
B = 0.75
AVG_TERMS = 150.0

_TOKEN = re.compile(r"[a-z0-9]+(?:[-_./][a-z0-9]+)*")
_PIECE = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        """a an and are as at be been being but by can could did do does for from had has have
        how i if in into is it its may me my no not of on or our should so than that the their
        them then there these they this to was we were what when where which while who why will
        with would you your""",
    )
)


_PORTER = PorterStemmer()


@lru_cache(maxsize=65536)
def _stem(piece: str) -> str:
    # Porter only for words: "23160" or "p400" stay as written.
    return _PORTER.stem(piece) if piece.isalpha() and len(piece) > 3 else piece


def terms(text: str) -> list[str]:
    """Index terms of ``text``: words (stemmed, no stop words) and identifiers whole and split."""
    out: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        pieces = _PIECE.findall(token)
        if len(pieces) > 1:
            out.append(token)
        out.extend(_stem(piece) for piece in pieces if piece not in _STOPWORDS)
    return out


def term_index(term: str) -> int:
    """A stable 31-bit index per term (Python's hash() changes between processes)."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "big") >> 1


SparseVector = tuple[list[int], list[float]]


def _merge(counts: Iterable[tuple[str, float]]) -> dict[int, float]:
    # Two terms may hash to one index; their weights add, as a hashed BM25 does.
    merged: dict[int, float] = {}
    for term, weight in counts:
        index = term_index(term)
        merged[index] = merged.get(index, 0.0) + weight
    return merged


def _as_vector(weights: dict[int, float]) -> SparseVector:
    indices = sorted(weights)
    return indices, [weights[i] for i in indices]


def encode_document(text: str) -> SparseVector:
    counts = Counter(terms(text))
    length = sum(counts.values())
    norm = K1 * (1 - B + B * length / AVG_TERMS)
    return _as_vector(_merge((t, tf * (K1 + 1) / (tf + norm)) for t, tf in counts.items()))


def encode_query(text: str) -> SparseVector:
    return encode_terms(terms(text))


def encode_terms(query_terms: Iterable[str]) -> SparseVector:
    """A keyword query for exactly these index terms, one weight each."""
    return _as_vector(_merge((t, 1.0) for t in set(query_terms)))


def encode_documents(texts: Sequence[str]) -> tuple[list[list[int]], list[list[float]]]:
    """llama-index's ``SparseEncoderCallable`` shape: indices and values per text."""
    vectors = [encode_document(text) for text in texts]
    return [v[0] for v in vectors], [v[1] for v in vectors]


def encode_queries(texts: Sequence[str]) -> tuple[list[list[int]], list[list[float]]]:
    vectors = [encode_query(text) for text in texts]
    return [v[0] for v in vectors], [v[1] for v in vectors]
