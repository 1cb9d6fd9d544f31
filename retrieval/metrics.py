"""Prometheus metrics of retrieval (served at /metrics with the rest)."""

from prometheus_client import Counter, Gauge, Histogram

SEARCH_SECONDS = Histogram(
    "andon_search_seconds",
    "Hybrid search latency, query to ranked passages",
    buckets=(0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0),
)
SEARCH_ABSTAINED = Counter("andon_search_abstained_total", "Searches the documents did not answer")
PASSAGES_WRITTEN = Counter("andon_passages_written_total", "Passages embedded and indexed")
DOCUMENTS_INDEXED = Gauge("andon_documents_indexed", "Documents completely in the index")
