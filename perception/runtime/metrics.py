"""Prometheus metrics of the inference runtime (served at /metrics with the others)."""

from prometheus_client import Counter, Gauge, Histogram

_LATENCY = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)

PROVIDER = Gauge(
    "andon_inference_provider", "1 for the execution provider chosen at start", ["provider"]
)
MODEL_LOADED = Gauge(
    "andon_model_loaded",
    "1 for each loaded model version, its role (active/shadow) and the provider it runs on",
    ["model", "role", "version", "provider"],
)
LATENCY = Histogram(
    "andon_inference_seconds",
    "Input submitted to answer given (queue + batch + run), per model",
    ["model"],
    buckets=_LATENCY,
)
BATCH_SIZE = Histogram(
    "andon_inference_batch_size",
    "Samples per ONNX Runtime run",
    ["model"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
ANSWERS = Counter(
    "andon_inference_answers_total",
    "Answers given (throughput), by outcome: ok or fallback (shed ones included)",
    ["model", "outcome"],
)
SHED = Counter(
    "andon_inference_shed_total",
    "Inputs refused because the model's queue was full (answered with a fallback)",
    ["model", "stream"],
)
CONFIDENCE = Histogram(
    "andon_inference_confidence",
    "Top class probability of vision answers",
    ["model"],
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0),
)
SCORE_RATIO = Histogram(
    "andon_inference_score_ratio",
    "Telemetry anomaly score divided by the model's anomaly threshold",
    ["model"],
    buckets=(0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 8.0),
)
DRIFT_PSI = Gauge(
    "andon_inference_drift_psi",
    "Population stability index of an input statistic against the training reference",
    ["model", "feature"],
)
DEGRADED = Gauge(
    "andon_model_degraded",
    "1 while a model answers with fallbacks (degraded or unloaded)",
    ["model"],
)
SHADOW_COMPARISONS = Counter(
    "andon_shadow_comparisons_total", "Samples answered by both active and shadow", ["model"]
)
SHADOW_DISAGREEMENTS = Counter(
    "andon_shadow_disagreements_total", "Samples where the shadow's label differed", ["model"]
)
SHADOW_DISAGREEMENT_RATE = Gauge(
    "andon_shadow_disagreement_rate", "Share of recent comparisons that disagreed", ["model"]
)
SHADOW_SKIPPED = Counter(
    "andon_shadow_skipped_total",
    "Batches the shadow did not see (still busy with the previous one, or it failed)",
    ["model"],
)
