"""Bad input for every endpoint: a 4xx with a reason, never a 500, and nothing changed.

Each table row is one request; the test runs the whole table against a plant with line 2
running, then checks that no rejected request left anything behind: the audit chain has
not grown, the work order is unchanged, no request was stored and the plant did not move.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from .api_helpers import LINE_2, LiveSystem, command, detail_text, set_parameter, unique

JSON = {"content-type": "application/json"}
LONG_REASON = "r" * 501
HUGE_REASON = "r" * 100_000
OK_ACTION = set_parameter("press-3", "speed_spm", 22)


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    status: int | tuple[int, ...]
    says: str  # expected in the reason (a field name for a 422)
    json: Any = None
    content: bytes | None = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _action(**changes: Any) -> dict[str, Any]:
    return {"action": OK_ACTION, "reason": "bad input test", **changes}


def _plan(steps: list[dict[str, Any]], **plan: Any) -> dict[str, Any]:
    return {"plan": {"steps": steps, **plan}, "reason": "bad input test"}


def _cases(wo: str) -> list[Case]:
    sp = "body.action.set_parameter"
    return [
        # --- POST /actions ------------------------------------------------------------
        Case("actions-malformed-json", "POST", "/actions", 422, "JSON decode error",
             content=b'{"action": ', headers=JSON),
        Case("actions-not-an-object", "POST", "/actions", 422, "body", json=[OK_ACTION]),
        Case("actions-empty-body", "POST", "/actions", 422, "body", content=b"", headers=JSON),
        Case("actions-text-plain", "POST", "/actions", 422, "body",
             content=b'{"action": {}}', headers={"content-type": "text/plain"}),
        Case("actions-missing-reason", "POST", "/actions", 422, "body.reason",
             json={"action": OK_ACTION}),
        Case("actions-missing-action", "POST", "/actions", 422, "body.action",
             json={"reason": "no action"}),
        Case("actions-reason-short", "POST", "/actions", 422, "body.reason",
             json=_action(reason="ab")),
        Case("actions-reason-long", "POST", "/actions", 422, "body.reason",
             json=_action(reason=LONG_REASON)),
        Case("actions-reason-huge", "POST", "/actions", 422, "body.reason",
             json=_action(reason=HUGE_REASON)),
        Case("actions-spoofed-actor", "POST", "/actions", 422, "body.actor",
             json=_action(actor="root")),
        Case("actions-unknown-action-field", "POST", "/actions", 422, f"{sp}.force",
             json=_action(action={**OK_ACTION, "force": True})),
        Case("actions-unknown-command", "POST", "/actions", 422, "body.action",
             json=_action(action=command("explode", "press-3"))),
        Case("actions-missing-command", "POST", "/actions", 422, "body.action",
             json=_action(action={"asset": "press-3"})),
        Case("actions-value-text", "POST", "/actions", 422, f"{sp}.value",
             json=_action(action={**OK_ACTION, "value": "fast"})),
        Case("actions-value-list", "POST", "/actions", 422, f"{sp}.value",
             json=_action(action={**OK_ACTION, "value": [22]})),
        Case("actions-value-missing", "POST", "/actions", 422, f"{sp}.value",
             json=_action(action=command("set_parameter", "press-3", tag="speed_spm"))),
        Case("actions-asset-long", "POST", "/actions", 422, f"{sp}.asset",
             json=_action(action={**OK_ACTION, "asset": "p" * 65})),
        Case("actions-asset-number", "POST", "/actions", 422, f"{sp}.asset",
             json=_action(action={**OK_ACTION, "asset": 3})),
        Case("actions-proposer-kind", "POST", "/actions", 422, "body.proposed_by.kind",
             json=_action(proposed_by={"kind": "robot"})),
        Case("actions-proposer-name-long", "POST", "/actions", 422, "body.proposed_by.name",
             json=_action(proposed_by={"kind": "model", "name": "m" * 121})),
        Case("actions-proposer-extra", "POST", "/actions", 422, "body.proposed_by.user",
             json=_action(proposed_by={"kind": "human", "user": "root"})),
        Case("actions-work-order-priority", "POST", "/actions", 422, "priority",
             json=_action(action=command("create_work_order", "press-3", work_order={
                 "asset": "press-3", "symptom": "noise", "priority": "urgent"}))),
        Case("actions-idempotency-key-long", "POST", "/actions", 422, "header.Idempotency-Key",
             json=_action(), headers={"Idempotency-Key": "k" * 129}),
        Case("actions-idempotency-key-empty", "POST", "/actions", 422, "header.Idempotency-Key",
             json=_action(), headers={"Idempotency-Key": ""}),
        # --- POST /plans --------------------------------------------------------------
        Case("plans-no-steps", "POST", "/plans", 422, "body.plan.steps", json=_plan([])),
        Case("plans-21-steps", "POST", "/plans", 422, "body.plan.steps",
             json=_plan([OK_ACTION] * 21)),
        Case("plans-21-citations", "POST", "/plans", 422, "body.plan.citations",
             json=_plan([OK_ACTION], citations=["doc"] * 21)),
        Case("plans-unknown-plan-field", "POST", "/plans", 422, "body.plan.priority",
             json=_plan([OK_ACTION], priority="now")),
        Case("plans-missing-plan", "POST", "/plans", 422, "body.plan",
             json={"reason": "no plan at all"}),
        Case("plans-steps-not-list", "POST", "/plans", 422, "body.plan.steps",
             json=_plan(OK_ACTION)),  # type: ignore[arg-type]
        Case("plans-malformed-json", "POST", "/plans", 422, "JSON decode error",
             content=b'{"plan": {"steps": [}', headers=JSON),
        Case("plans-idempotency-key-long", "POST", "/plans", 422, "header.Idempotency-Key",
             json=_plan([OK_ACTION]), headers={"Idempotency-Key": "k" * 129}),
        # --- requests and approvals -----------------------------------------------------
        Case("requests-limit-0", "GET", "/requests", 422, "query.limit", params={"limit": 0}),
        Case("requests-limit-501", "GET", "/requests", 422, "query.limit", params={"limit": 501}),
        Case("requests-limit-text", "GET", "/requests", 422, "query.limit",
             params={"limit": "ten"}),
        Case("requests-offset-negative", "GET", "/requests", 422, "query.offset",
             params={"offset": -1}),
        Case("requests-status-bogus", "GET", "/requests", 422, "query.status",
             params={"status": "done"}),
        Case("request-unknown", "GET", "/requests/req-does-not-exist", 404, "no request"),
        Case("request-unknown-long", "GET", "/requests/" + "q" * 3000, 404, "no request"),
        Case("approve-unknown", "POST", "/approvals/req-does-not-exist/approve", 404,
             "no request", json={"reason": "approve it"}),
        Case("reject-unknown", "POST", "/approvals/req-does-not-exist/reject", 404,
             "no request", json={"reason": "reject it"}),
        Case("approve-no-reason", "POST", "/approvals/req-does-not-exist/approve", 422,
             "body.reason", json={}),
        Case("approve-extra-field", "POST", "/approvals/req-does-not-exist/approve", 422,
             "body.approver", json={"reason": "approve it", "approver": "root"}),
        Case("reject-reason-long", "POST", "/approvals/req-does-not-exist/reject", 422,
             "body.reason", json={"reason": LONG_REASON}),
        Case("approve-malformed-json", "POST", "/approvals/req-x/approve", 422,
             "JSON decode error", content=b"{reason", headers=JSON),
        # --- plant ----------------------------------------------------------------------
        Case("line-unknown", "GET", "/lines/line-9", 404, "no line 'line-9'"),
        Case("asset-unknown", "GET", "/assets/press-9", 404, "no asset 'press-9'"),
        Case("asset-unknown-huge-id", "GET", "/assets/" + "x" * 5000, 404, "no asset"),
        # --- safety ---------------------------------------------------------------------
        Case("estop-unknown-line", "POST", "/lines/line-9/emergency-stop", (403, 404),
             "unknown line 'line-9'", json={"reason": "test"}),
        Case("estop-empty-reason", "POST", "/lines/line-2/emergency-stop", 422, "body.reason",
             json={"reason": ""}),
        Case("estop-reason-long", "POST", "/lines/line-2/emergency-stop", 422, "body.reason",
             json={"reason": LONG_REASON}),
        Case("estop-extra-field", "POST", "/lines/line-2/emergency-stop", 422, "body.line",
             json={"reason": "stop", "line": "line-1"}),
        Case("estop-malformed-json", "POST", "/lines/line-2/emergency-stop", 422,
             "JSON decode error", content=b'{"reason": "st', headers=JSON),
        Case("estop-wrong-type", "POST", "/lines/line-2/emergency-stop", 422, "body.reason",
             json={"reason": 7}),
        Case("override-unknown-asset", "POST", "/assets/press-9/manual-override", (403, 404),
             "unknown asset 'press-9'", json={"enabled": True, "reason": "take it"}),
        Case("override-missing-enabled", "POST", "/assets/press-3/manual-override", 422,
             "body.enabled", json={"reason": "take it"}),
        Case("override-enabled-garbage", "POST", "/assets/press-3/manual-override", 422,
             "body.enabled", json={"enabled": "maybe", "reason": "take it"}),
        Case("override-missing-reason", "POST", "/assets/press-3/manual-override", 422,
             "body.reason", json={"enabled": True}),
        Case("override-extra-field", "POST", "/assets/press-3/manual-override", 422,
             "body.minutes", json={"enabled": True, "reason": "take it", "minutes": 5}),
        # --- work orders ----------------------------------------------------------------
        Case("wo-create-empty", "POST", "/work-orders", 422, "body.asset", json={}),
        Case("wo-create-unknown-asset", "POST", "/work-orders", 422, "unknown asset 'press-9'",
             json={"asset": "press-9", "symptom": "it squeaks"}),
        Case("wo-create-empty-asset", "POST", "/work-orders", 422, "body.asset",
             json={"asset": "", "symptom": "it squeaks"}),
        Case("wo-create-symptom-short", "POST", "/work-orders", 422, "body.symptom",
             json={"asset": "press-3", "symptom": "ab"}),
        Case("wo-create-symptom-long", "POST", "/work-orders", 422, "body.symptom",
             json={"asset": "press-3", "symptom": LONG_REASON}),
        Case("wo-create-priority", "POST", "/work-orders", 422, "body.priority",
             json={"asset": "press-3", "symptom": "it squeaks", "priority": "urgent"}),
        Case("wo-create-failure-mode", "POST", "/work-orders", 422, "body.failure_mode",
             json={"asset": "press-3", "symptom": "it squeaks", "failure_mode": "XYZ"}),
        Case("wo-create-part-quantity", "POST", "/work-orders", 422, "body.parts.0.quantity",
             json={"asset": "press-3", "symptom": "it squeaks",
                   "parts": [{"part_number": "BRG-1", "quantity": 0}]}),
        Case("wo-create-31-tasks", "POST", "/work-orders", 422, "body.tasks",
             json={"asset": "press-3", "symptom": "it squeaks", "tasks": ["t"] * 31}),
        Case("wo-create-status-field", "POST", "/work-orders", 422, "body.status",
             json={"asset": "press-3", "symptom": "it squeaks", "status": "completed"}),
        Case("wo-create-due-garbage", "POST", "/work-orders", 422, "body.due",
             json={"asset": "press-3", "symptom": "it squeaks", "due": "tomorrow"}),
        Case("wo-create-malformed-json", "POST", "/work-orders", 422, "JSON decode error",
             content=b'{"asset": "press-3",', headers=JSON),
        Case("wo-list-limit-0", "GET", "/work-orders", 422, "query.limit", params={"limit": 0}),
        Case("wo-list-limit-501", "GET", "/work-orders", 422, "query.limit",
             params={"limit": 501}),
        Case("wo-list-offset-negative", "GET", "/work-orders", 422, "query.offset",
             params={"offset": -5}),
        Case("wo-list-status", "GET", "/work-orders", 422, "query.status",
             params={"status": "done"}),
        Case("wo-list-priority", "GET", "/work-orders", 422, "query.priority",
             params={"priority": "urgent"}),
        Case("wo-list-failure-mode", "GET", "/work-orders", 422, "query.failure_mode",
             params={"failure_mode": "XYZ"}),
        Case("wo-list-since", "GET", "/work-orders", 422, "query.created_since",
             params={"created_since": "yesterday"}),
        Case("wo-get-unknown", "GET", "/work-orders/WO-999999", 404, "no work order"),
        Case("wo-get-garbage", "GET", "/work-orders/garbage", 404, "no work order"),
        Case("wo-get-short-number", "GET", "/work-orders/WO-1", 404, "no work order"),
        Case("wo-history-unknown", "GET", "/work-orders/WO-999999/history", 404,
             "no work order"),
        Case("wo-patch-unknown", "PATCH", "/work-orders/WO-999999", 404, "no work order",
             json={"priority": "low"}),
        Case("wo-patch-null-symptom", "PATCH", f"/work-orders/{wo}", 422, "symptom",
             json={"symptom": None}),
        Case("wo-patch-short-symptom", "PATCH", f"/work-orders/{wo}", 422, "body.symptom",
             json={"symptom": "ab"}),
        Case("wo-patch-status", "PATCH", f"/work-orders/{wo}", 422, "body.status",
             json={"status": "completed"}),
        Case("wo-patch-asset", "PATCH", f"/work-orders/{wo}", 422, "body.asset",
             json={"asset": "press-1"}),
        Case("wo-patch-priority", "PATCH", f"/work-orders/{wo}", 422, "body.priority",
             json={"priority": "urgent"}),
        Case("wo-patch-31-parts", "PATCH", f"/work-orders/{wo}", 422, "body.parts",
             json={"parts": [{"part_number": "P"}] * 31}),
        Case("wo-patch-malformed-json", "PATCH", f"/work-orders/{wo}", 422, "JSON decode error",
             content=b"{", headers=JSON),
        Case("wo-patch-not-object", "PATCH", f"/work-orders/{wo}", 422, "body",
             json=["priority", "low"]),
        Case("wo-transition-bogus", "POST", f"/work-orders/{wo}/transition", 422, "body.status",
             json={"status": "done"}),
        Case("wo-transition-missing", "POST", f"/work-orders/{wo}/transition", 422,
             "body.status", json={}),
        Case("wo-transition-note-long", "POST", f"/work-orders/{wo}/transition", 422,
             "body.note", json={"status": "planned", "note": LONG_REASON}),
        Case("wo-transition-unknown", "POST", "/work-orders/WO-999999/transition", 404,
             "no work order", json={"status": "planned"}),
        Case("wo-delete-unknown", "DELETE", "/work-orders/WO-999999", 404, "no work order"),
        # --- audit ----------------------------------------------------------------------
        Case("audit-limit-0", "GET", "/audit", 422, "query.limit", params={"limit": 0}),
        Case("audit-limit-1001", "GET", "/audit", 422, "query.limit", params={"limit": 1001}),
        Case("audit-kind", "GET", "/audit", 422, "query.kind", params={"kind": "gossip"}),
        Case("audit-since", "GET", "/audit", 422, "query.since", params={"since": "monday"}),
    ]  # fmt: skip


def _send(live: LiveSystem, case: Case, user: str) -> httpx.Response:
    return live.client.request(
        case.method,
        case.path,
        json=case.json,
        content=case.content,
        params=case.params,
        headers={**live.auth(user), **case.headers},
    )


def _requests_stored(live: LiveSystem) -> list[str]:
    response = live.get("/requests", "bob", params={"limit": 500})
    assert response.status_code == 200
    return [r["id"] for r in response.json()]


def test_bad_input_gets_a_4xx_with_a_reason_and_changes_nothing(live: LiveSystem) -> None:
    created = live.post(
        "/work-orders", "carol", json={"asset": "feeder-2", "symptom": "strip wanders left"}
    )
    assert created.status_code == 201, created.text
    wo = created.json()["id"]
    for asset in ("press-3", "feeder-2", "conveyor-2"):  # line 2 running: an e-stop would show
        live.sim_do(lambda p, a=asset: p.start(a))
    plant_before = {a: live.snapshot(a) for a in LINE_2}
    audit_before = live.audit_head()
    requests_before = _requests_stored(live)
    order_before = live.get(f"/work-orders/{wo}", "bob").json()
    history_before = live.get(f"/work-orders/{wo}/history", "bob").json()

    cases = _cases(wo)
    assert len({c.name for c in cases}) == len(cases)
    wrong = []
    for case in cases:
        # Admins hold every right, so a refusal here is about the input, not the role.
        response = _send(live, case, "root")
        expected = case.status if isinstance(case.status, tuple) else (case.status,)
        reason = detail_text(response) if response.status_code < 500 else response.text
        if response.status_code not in expected or case.says not in reason:
            wrong.append(
                f"{case.name}: {case.method} {case.path} -> {response.status_code} {reason}"
            )
    assert not wrong, "\n".join(wrong)

    assert live.audit_head() == audit_before
    assert _requests_stored(live) == requests_before
    assert live.get(f"/work-orders/{wo}", "bob").json() == order_before
    assert live.get(f"/work-orders/{wo}/history", "bob").json() == history_before
    for asset, before in plant_before.items():
        after = live.snapshot(asset)
        assert after.run_state == before.run_state, asset
        assert after.actuation_count == before.actuation_count, asset
        assert after.manual_override is False and after.lockouts == ()


SET_NAN = b'{"command": "set_parameter", "asset": "press-3", "tag": "speed_spm", "value": %s}'


@pytest.mark.parametrize(
    ("literal", "echoed"),
    [
        (b"NaN", "NaN"),
        (b"Infinity", "Infinity"),
        (b"-Infinity", "-Infinity"),
        (b"1e999", "Infinity"),
    ],
)
def test_non_finite_setpoint_is_a_422_not_a_500(
    live: LiveSystem, literal: bytes, echoed: str
) -> None:
    before = live.snapshot("press-3")
    body = b'{"action": ' + SET_NAN % literal + b', "reason": "non-finite"}'
    # Own connection: should this regress to a 500, the server drops the connection.
    with httpx.Client(base_url=live.base_url, timeout=30) as client:
        response = client.post("/actions", content=body, headers={**live.auth("alice"), **JSON})
    after = live.snapshot("press-3")
    assert after.tags["speed_spm"] == before.tags["speed_spm"]
    assert after.actuation_count == before.actuation_count
    assert response.status_code == 422, response.text
    assert "body.action.set_parameter.value" in detail_text(response)
    # The offending input is shown to the client, as a string JSON can carry.
    [error] = [e for e in response.json()["detail"] if e["loc"][-1] == "value"]
    assert error["input"] == echoed


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/plans", b'{"plan": {"steps": [' + SET_NAN % b"NaN" + b']}, "reason": "nan"}', "value"),
        ("/work-orders", b'{"asset": "press-3", "symptom": NaN}', "body.symptom"),
        ("/assets/press-3/manual-override", b'{"enabled": NaN, "reason": "nan"}', "body.enabled"),
        ("/lines/line-2/emergency-stop", b'{"reason": Infinity}', "body.reason"),
    ],
    ids=["plans", "work-orders", "manual-override", "emergency-stop"],
)
def test_non_finite_number_anywhere_is_a_422_not_a_500(
    live: LiveSystem, path: str, body: bytes, field: str
) -> None:
    head = live.audit_head()
    with httpx.Client(base_url=live.base_url, timeout=30) as client:
        response = client.post(path, content=body, headers={**live.auth("root"), **JSON})
    assert live.audit_head() == head
    assert response.status_code == 422, response.text
    assert field in detail_text(response)


@pytest.mark.parametrize("value", [True, "24"], ids=["bool", "numeric-string"])
def test_setpoint_value_must_be_a_json_number(live: LiveSystem, value: object) -> None:
    before = live.snapshot("press-3")
    response = live.act("alice", {**OK_ACTION, "value": value})
    assert response.status_code == 422, response.text
    assert "body.action.set_parameter.value" in detail_text(response)
    assert live.snapshot("press-3").actuation_count == before.actuation_count


def test_unknown_asset_in_an_action_is_denied_for_that_reason(live: LiveSystem) -> None:
    response = live.act("alice", set_parameter("press-9", "speed_spm", 22), key=unique("unk"))
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["status"] == "denied"
    assert "unknown asset 'press-9'" in body["message"], body["message"]
    assert "no connection" not in body["message"]


def test_unknown_tag_and_measurement_writes_are_denied(live: LiveSystem) -> None:
    before = live.snapshot("press-3")
    unknown = live.act("alice", set_parameter("press-3", "turbo", 1))
    assert unknown.status_code == 403, unknown.text
    assert "press-3 has no tag 'turbo'" in unknown.json()["message"]
    measured = live.act("alice", set_parameter("press-3", "tonnage_t", 100))
    assert measured.status_code == 403, measured.text
    assert "not a setpoint" in measured.json()["message"]
    after = live.snapshot("press-3")
    assert after.actuation_count == before.actuation_count
    assert after.tags["tonnage_t"] == before.tags["tonnage_t"]
