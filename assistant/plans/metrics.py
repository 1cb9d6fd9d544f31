"""Prometheus metrics of the planner."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

PLAN_SECONDS = Histogram(
    "andon_plan_seconds",
    "Time from an operator's request to a validated plan, a refusal or a routing to chat",
    ["status"],
    buckets=(0.5, 1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64),
)
PLAN_OUTCOMES = Counter("andon_plan_outcomes_total", "Planner outcomes", ["status"])
