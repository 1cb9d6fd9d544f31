"""Detection rules against the live system: a defect burst pauses the real feeder over
OPC-UA, holds the parts and opens a work order with the evidence, through the same
policy, execution and audit path as a person's request, and exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from control.auth.keys import KeyStore
from control.execution.models import RequestRecord
from control.execution.service import ExecutionService
from control.rules.models import Observation
from control.rules.service import RuleEngine

from .api_helpers import LiveSystem


def part(n: int, at: datetime, *, abnormal: bool) -> Observation:
    return Observation(
        source="vision",
        asset="vision-2",
        subject=f"rules-test-part-{n}",
        label="crack" if abnormal else "ok",
        abnormal=abnormal,
        score=0.91 if abnormal else 0.05,
        threshold=0.6,
        model="vision-demo@test",
        at=at + timedelta(seconds=n),
        sha256=f"{n:02x}" * 32,
        uri=f"frames/rules-test-{n}.png",
        part_count=500 + n,
    )


def observe(live: LiveSystem, observation: Observation) -> list[RequestRecord]:
    return live.run(live.app.state.rules.observe(observation))


def test_defect_burst_pauses_the_feeder_holds_parts_and_opens_a_work_order(
    live: LiveSystem,
) -> None:
    live.sim_do(lambda p: (p.start("press-3"), p.start("feeder-2")))
    t0 = datetime.now(UTC)
    caused: list[RequestRecord] = []
    for n in range(12):
        caused += observe(live, part(n, t0, abnormal=n in (2, 6, 11)))
    (record,) = caused
    assert record.status == "executed", record.message
    assert record.requester.role == "automation"
    assert record.request.proposed_by.kind == "rule"

    # The plant itself says the feeder is paused, and the press still runs.
    assert live.snapshot("feeder-2").run_state == "paused"
    assert live.snapshot("press-3").run_state == "running"

    holds = live.get("/quality-holds", "bob", params={"asset": "vision-2", "status": "held"})
    hold = next(h for h in holds.json() if h["source_request"].startswith(record.id))
    assert (hold["parts_from"], hold["parts_to"]) == (502, 511)
    assert [e["subject"] for e in hold["evidence"]] == [
        "rules-test-part-2",
        "rules-test-part-6",
        "rules-test-part-11",
    ]
    orders = live.get("/work-orders", "bob", params={"asset": "press-3"}).json()
    order = next(o for o in orders if (o["source_request"] or "").startswith(record.id))
    assert order["priority"] == "high" and order["lockout_required"] is True
    assert {e["model"] for e in order["evidence"]} == {"vision-demo@test"}
    assert order["evidence"][0]["sha256"] == "02" * 32

    # Audited like any request, with the rule as the proposer.
    kinds = [r["kind"] for r in live.audit(request_id=record.id)]
    assert kinds[:2] == ["request", "decision"] and kinds[-1] == "result"
    live.audit_head()

    # The same observations again, to a fresh engine (a replay after a restart): the firing
    # has the same idempotency key, so control answers with the first request and the
    # plant is not actuated again.
    actuations = live.actuations("feeder-2")
    services = live.app.state.services
    restarted = RuleEngine(services.plant, ExecutionService(services), services.events)
    replayed: list[RequestRecord] = []
    for n in range(12):
        replayed += live.run(restarted.observe(part(n, t0, abnormal=n in (2, 6, 11))))
    assert [r.id for r in replayed] == [record.id]
    assert live.actuations("feeder-2") == actuations


def test_operator_holds_parts_supervisor_resolves_once(live: LiveSystem) -> None:
    step = {
        "command": "place_quality_hold",
        "asset": "vision-2",
        "hold": {"reason": "burr seen on parts at the end of the shift", "parts_from": 10},
    }
    response = live.act("alice", step)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "executed"
    hold_id = response.json()["steps"][0]["readback"]

    denied = live.post(
        f"/quality-holds/{hold_id}/resolve", "alice", json={"outcome": "released", "note": "ok"}
    )
    assert denied.status_code == 403  # an operator may hold parts, not release them

    body = {"outcome": "scrapped", "note": "burr confirmed on 12 parts"}
    done = live.post(f"/quality-holds/{hold_id}/resolve", "bob", json=body)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "scrapped" and done.json()["resolved_by"] == "bob"
    again = live.post(f"/quality-holds/{hold_id}/resolve", "sam", json=body)
    assert again.status_code == 409
    assert live.get("/quality-holds/QH-999999", "bob").status_code == 404
    assert live.get("/quality-holds/nonsense", "bob").status_code == 404
    bad = live.post(f"/quality-holds/{hold_id}/resolve", "bob", json={"outcome": "maybe"})
    assert bad.status_code == 422
    assert [r["kind"] for r in live.audit(subject=hold_id)] == ["quality_hold"]


def test_no_api_key_acts_as_the_rules_role(live: LiveSystem) -> None:
    plant = live.app.state.services.plant
    issued = KeyStore(live.settings.keys_path, roles={r.id for r in plant.people_roles()})
    with pytest.raises(ValueError, match="automation"):
        issued.create("mallory", "automation")
    # A key written into the file by other means is refused all the same.
    forged = live.keystore.create("mallory", "automation")
    headers = {"Authorization": f"Bearer {forged}"}
    response = live.client.get("/lines/line-2", headers=headers)
    assert response.status_code in (401, 403), response.text
