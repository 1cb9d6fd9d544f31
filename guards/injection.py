"""Screening text for instructions aimed at the assistant: documents, tags and requests alike.

A manual page is data. One that addresses "the AI assistant", tells it to ignore its
instructions, claims a system or administrator voice, hides a note in an HTML comment or tries
to close the prompt's source block is trying to steer the model, and is withheld from the prompt
(and so cannot be cited). An operator's request that does the same, or that asks to get around
a lockout, an interlock, an approval or the guards themselves, is refused before any model sees
it. The patterns are plain and conservative: a false alarm costs one withheld passage or one
refusal with its reason, a miss could cost a plan that someone else's text wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Written for the assistant (or claims authority over it), whatever it then asks for.
_STEERING: tuple[tuple[str, str], ...] = (
    (
        "tells the assistant to ignore its instructions",
        r"\b(ignore|disregard|forget|override)s?\b[^.\n]{0,40}\b(previous|prior|above|earlier|"
        r"your|all|the|any)\b[^.\n]{0,30}\b(instructions?|rules|prompt|limits|guards?)\b",
    ),
    ("claims to override the assistant's instructions", r"\boverrides? your instructions\b"),
    (
        "addresses the AI assistant or language model",
        r"\b(note|hint|message|instructions?)\s+(for|to)\s+(the\s+)?(andon\s+)?"
        r"(ai|assistant|language model|llm|model|chatbot)\b"
        r"|\bai assistant\b|\bassistant reading this\b|\blanguage model\b|\bllm\b"
        r"|\bassistant (instructions|action)\b|(^|[.!?]\s+)assistant\s*:",
    ),
    (
        "takes a system or administrator voice",
        r"^\s*system\s*:|(?-i:\bSYSTEM\s*:)|\bsystem (note|override|message|prompt)\b",
    ),
    (
        "declares a new role or mode for the assistant",
        r"\byou are now\b|\b(admin|administrator|developer|god|debug) mode\b",
    ),
    ("gives new instructions", r"\bnew instructions?\b"),
    ("hides text in an HTML comment", r"<!--"),
    ("tries to close or open a source block", r"</?\s*source\b|<\|im_(start|end)\|>"),
    (
        "asks to keep something from the operator",
        r"\b(never|do not|don't) (tell|mention|inform)\b",
    ),
    ("claims the guards are disabled", r"\bguards? (are |is )?(disabled|off)\b"),
)

# Asks to get around a safety function, an approval or a limit: refused whoever asks and
# however politely.
_BYPASS: tuple[tuple[str, str], ...] = (
    (
        "asks to bypass, defeat or disable a safety function",
        r"\b(bypass|defeat|disable|jumper|jump out|override|circumvent|mute|get around)\w*\b"
        r"[^.\n]{0,40}\b(interlocks?|lock ?outs?|locks?|guards?|light curtains?|safety|"
        r"validation|checks?|limits?|approvals?|alarms?)\b",
    ),
    (
        "asks to skip validation or approval",
        r"\b(skip|without|no)\b[^.\n]{0,20}\b(validation|checks?|approvals?|waiting)\b"
        r"(?! (is|was) given)|\bno approval needed\b",
    ),
    (
        "claims an approval or a role the requester does not have",
        r"\bapproval has already been given\b|\bi approve it myself\b|\bself[- ]approv"
        r"|\b(as|i'?m|i am)( acting as)?( the| a| an)? (admin|administrator|developer|"
        r"supervisor|shift supervisor|engineer|plant manager)\b|\bswitch my role\b"
        r"|\bacting as( the| a)? (admin|supervisor|engineer)\b",
    ),
    (
        "treats a lockout as optional",
        r"\block\b[^.\n]{0,30}\b(just a formality|doesn'?t matter|not needed)\b"
        r"|\beven though (it|the \w+) is locked out\b"
        r"|\bremove (every|all) (lock ?outs?|locks)\b",
    ),
    (
        "asks for an unbounded value",
        r"\bto (infinity|infinite|max(imum)?|the max(imum)?|full speed|unlimited)\b",
    ),
)

_COMPILED = {
    "steering": tuple((why, re.compile(p, re.IGNORECASE | re.MULTILINE)) for why, p in _STEERING),
    "bypass": tuple((why, re.compile(p, re.IGNORECASE | re.MULTILINE)) for why, p in _BYPASS),
}


@dataclass(frozen=True)
class Finding:
    """Why a text was flagged, and the words that gave it away."""

    why: str
    evidence: str

    def __str__(self) -> str:
        return f"{self.why} ({self.evidence!r})"


def _scan(text: str, groups: Iterable[str]) -> list[Finding]:
    found: list[Finding] = []
    for group in groups:
        for why, pattern in _COMPILED[group]:
            match = pattern.search(text)
            if match:
                found.append(Finding(why, " ".join(match.group(0).split())[:80]))
    return found


def screen_source(text: str) -> list[Finding]:
    """Instructions aimed at the assistant inside a document passage or a plant value."""
    return _scan(text, ("steering",))


def screen_request(text: str) -> list[Finding]:
    """Instructions to the assistant, or attempts to get around a safety function, in a request."""
    return _scan(text, ("steering", "bypass"))
