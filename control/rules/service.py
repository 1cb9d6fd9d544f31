"""The imperative shell around the detection rules: keeps their state, submits firings.

A firing goes through `ExecutionService.submit` as the plant model's rules role, with an
idempotency key derived from the observation that caused it: the same policy (evaluate),
the same durable execution and the same audit trail as a person's request, and a replayed
observation never acts twice.
"""

from __future__ import annotations

import asyncio

import structlog
from prometheus_client import Counter

from control.actions.models import Requester
from control.events.bus import EventBus
from control.execution.models import RequestRecord, plant_unreachable
from control.execution.service import ExecutionService
from control.plant.models import PlantModel
from control.rules.engine import Firing, RuleState, observe
from control.rules.models import Observation

log = structlog.get_logger()

OBSERVATIONS = Counter(
    "andon_rule_observations_total", "Perception observations seen by the rules", ["source"]
)
FIRINGS = Counter("andon_rule_firings_total", "Detection rules fired", ["rule", "status"])


class RuleEngine:
    def __init__(self, plant: PlantModel, execution: ExecutionService, events: EventBus) -> None:
        self._plant = plant
        self._execution = execution
        self._events = events
        self._states = {rule.id: RuleState() for rule in plant.detection_rules}
        # Observations arrive from several streams: one at a time keeps each rule's window
        # in arrival order.
        self._lock = asyncio.Lock()
        # Firings the plant could not be read for: tried again with the next observation
        # (same idempotency key), so an outage delays the action but never drops it.
        self._pending: list[Firing] = []

    async def observe(self, observation: Observation) -> list[RequestRecord]:
        """Feed one observation to every rule; the requests it caused, as control answered."""
        OBSERVATIONS.labels(observation.source).inc()
        async with self._lock:
            firings, self._pending = self._pending, []
            for rule in self._plant.detection_rules:
                self._states[rule.id], firing = observe(rule, self._states[rule.id], observation)
                if firing is not None:
                    firings.append(firing)
            return [await self._submit(firing) for firing in firings]

    async def _submit(self, firing: Firing) -> RequestRecord:
        requester = Requester(user=f"rule:{firing.rule.id}", role=self._plant.rules_role)
        record = await self._execution.submit(firing.request, requester, firing.idempotency_key)
        if plant_unreachable(record.decision):
            self._pending.append(firing)
        FIRINGS.labels(firing.rule.id, record.status.value).inc()
        log.warning(
            "detection rule fired",
            rule=firing.rule.id,
            request_id=record.id,
            status=record.status.value,
            observations=len(firing.matched),
        )
        self._events.publish(
            "rule",
            {
                "rule": firing.rule.id,
                "request_id": record.id,
                "status": record.status.value,
                "message": record.message,
            },
        )
        return record
