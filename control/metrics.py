"""Prometheus metrics of the control plane (served at /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

_FAST = (0.001, 0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

DECISIONS = Counter("andon_decisions_total", "Decisions taken on action requests", ["outcome"])
REQUEST_SECONDS = Histogram(
    "andon_request_seconds",
    "Action request round trip, submit to final status",
    ["status"],
    buckets=_FAST,
)
ESTOP_SECONDS = Histogram("andon_estop_seconds", "Emergency stop delivery time", buckets=_FAST)
PLANT_CONNECTED = Gauge("andon_plant_connected", "1 while the OPC-UA session to the plant is up")
