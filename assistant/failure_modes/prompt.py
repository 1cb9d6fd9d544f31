"""What the failure-mode model reads and completes: the same text in training and at run time.

The model learns to continue ``prompt(observation)`` with ``continuation(class name)`` and its
end-of-text token; a class scores the log probability of that continuation.
"""

from __future__ import annotations

_TEMPLATE = "Maintenance work-order observation: {text}\nISO 14224 failure mode:"


def observation(text: str) -> str:
    """``text`` on one line with single spaces: a newline would read as the end of the field."""
    return " ".join(text.split())


def has_words(text: str) -> bool:
    """Whether ``text`` holds a letter or digit (any script): nothing else names a fault."""
    return any(char.isalnum() for char in text)


def prompt(text: str) -> str:
    return _TEMPLATE.format(text=observation(text))


def continuation(label: str) -> str:
    """The answer for class ``label`` as the model writes it (a space, then the name)."""
    return f" {label}"
