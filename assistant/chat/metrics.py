"""Prometheus metrics of the chat."""

from prometheus_client import Counter, Histogram

_BUCKETS = (0.5, 1, 2, 4, 8, 15, 30, 60, 120)

CHAT_SECONDS = Histogram(
    "andon_chat_answer_seconds", "Time from question to finished answer", buckets=_BUCKETS
)
CHAT_FIRST_TOKEN_SECONDS = Histogram(
    "andon_chat_first_token_seconds",
    "Time from question to the first answer text",
    buckets=_BUCKETS,
)
CHAT_ABSTAINED = Counter(
    "andon_chat_abstained", "Answers that said the documents do not answer the question"
)
