"""ISO 14224 failure modes of free-text symptoms, from a small language model fine-tuned on real
observations.

``classify("press 3 bearing running hot")`` -> ``FailureModeGuess(mode=OHE, ...)``; ``evaluate``
scores a split of the data set (``python -m bench assistant`` reports its accuracy).
"""

from .classifier import FailureModeClassifier, FailureModeGuess, classify, default_classifier
from .evaluation import evaluate

__all__ = [
    "FailureModeClassifier",
    "FailureModeGuess",
    "classify",
    "default_classifier",
    "evaluate",
]
