"""Features of a symptom text: character n-gram TF-IDF beside its MiniLM sentence embedding.

Maintenance observations are short and misspelt ("falure", "siezed", "spaying slurry"): the
character n-grams still match their correct spellings in training, while the embedding carries the
meaning of words training never saw ("smoking" near "burnt"). The n-grams follow scikit-learn's
``char_wb`` analyzer with smooth IDF, sublinear TF and L2-normalised rows, in numpy, so inference
needs no scikit-learn.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from retrieval.embedding import MiniLMEmbedder

NGRAM_MIN, NGRAM_MAX = 1, 4

_NOT_WORD = re.compile(r"[^a-z0-9]+")


def clean(text: str) -> str:
    """Lower-case words and numbers, single spaces: the form both features read."""
    return _NOT_WORD.sub(" ", text.lower()).strip()


def char_ngrams(text: str) -> list[str]:
    """Character n-grams of each space-padded word (``char_wb``): ``hot`` -> `` h``, ``ho``..."""
    grams: list[str] = []
    for word in clean(text).split():
        padded = f" {word} "
        for n in range(NGRAM_MIN, NGRAM_MAX + 1):
            if n > len(padded):
                break
            grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


@dataclass(frozen=True)
class NgramTfidf:
    """The n-gram vocabulary seen in training and each n-gram's inverse document frequency."""

    terms: tuple[str, ...]
    idf: np.ndarray
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.terms) != len(self.idf):
            raise ValueError(f"{len(self.terms)} terms but {len(self.idf)} idf values")
        object.__setattr__(self, "_index", {term: i for i, term in enumerate(self.terms)})

    @classmethod
    def fit(cls, texts: Sequence[str]) -> NgramTfidf:
        document_frequency = Counter(gram for text in texts for gram in set(char_ngrams(text)))
        terms = tuple(sorted(document_frequency))
        n = len(texts)
        idf = np.array(
            [math.log((1 + n) / (1 + document_frequency[t])) + 1.0 for t in terms], dtype=np.float64
        )
        return cls(terms, idf)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Rows of ``(1 + log tf) * idf``, L2-normalised; n-grams unseen in training are dropped."""
        matrix = np.zeros((len(texts), len(self.terms)), dtype=np.float64)
        for row, text in enumerate(texts):
            counts = Counter(g for g in char_ngrams(text) if g in self._index)
            for gram, count in counts.items():
                column = self._index[gram]
                matrix[row, column] = (1.0 + math.log(count)) * self.idf[column]
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms > 0, norms, 1.0)


def features(texts: Sequence[str], tfidf: NgramTfidf, embedder: MiniLMEmbedder) -> np.ndarray:
    """One row per text: its n-gram TF-IDF, then its 384-float unit embedding."""
    cleaned = [clean(text) for text in texts]
    return np.hstack([tfidf.transform(cleaned), embedder.embed(cleaned).astype(np.float64)])
