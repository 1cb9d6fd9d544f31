"""Approvals: risky requests wait (202), four eyes, approver roles, reject, re-check, 409s."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from .api_helpers import LiveSystem, command, detail_text, unique


def _request_start(live: LiveSystem, user: str = "alice") -> dict[str, Any]:
    response = live.act(user, command("start", "press-3"), "shift start, die set")
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/requests/{body['id']}"
    assert body["status"] == "waiting_approval"
    assert body["steps"] == []
    return body


def _approve(live: LiveSystem, request_id: str, user: str, reason: str = "die checked") -> Any:
    return live.post(f"/approvals/{request_id}/approve", user, json={"reason": reason})


def _reject(live: LiveSystem, request_id: str, user: str, reason: str = "not now") -> Any:
    return live.post(f"/approvals/{request_id}/reject", user, json={"reason": reason})


def test_high_risk_start_waits_for_a_supervisor_and_then_runs(live: LiveSystem) -> None:
    before = live.actuations("press-3")
    waiting = _request_start(live)
    assert set(waiting["decision"]["approver_roles"]) == {"supervisor", "engineer", "admin"}
    assert "waiting for approval" in waiting["message"]
    assert "high risk" in waiting["message"]
    assert waiting["expires_at"] is not None
    location = live.get(f"/requests/{waiting['id']}", "alice")
    assert location.status_code == 200 and location.json()["status"] == "waiting_approval"
    assert live.asset_state("press-3")["run_state"] == "stopped"
    assert live.actuations("press-3") == before

    # Who sees it in their approval queue: approvers other than the requester.
    def queued(user: str) -> bool:
        return waiting["id"] in [r["id"] for r in live.get("/approvals", user).json()]

    assert queued("bob") and queued("dave") and queued("root")
    assert not queued("alice") and not queued("olga") and not queued("carol")
    listed = live.get("/requests", "bob", params={"status": "waiting_approval"}).json()
    assert waiting["id"] in [r["id"] for r in listed]

    own = _approve(live, waiting["id"], "alice")
    assert own.status_code == 403
    assert "four-eyes" in detail_text(own)
    operator = _approve(live, waiting["id"], "olga")
    assert operator.status_code == 403
    assert "role operator may not approve" in detail_text(operator)
    maintenance = _approve(live, waiting["id"], "carol")
    assert maintenance.status_code == 403
    assert live.asset_state("press-3")["run_state"] == "stopped"

    approved = _approve(live, waiting["id"], "bob", "die and guards checked")
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "executed"
    assert body["approver"] == "bob"
    assert body["approval_reason"] == "die and guards checked"
    assert [(s["ok"], s["readback"]) for s in body["steps"]] == [(True, "done")]
    assert live.asset_state("press-3")["run_state"] == "running"
    assert live.actuations("press-3") == {"press-3": before["press-3"] + 1}
    assert not queued("bob")

    again = _approve(live, waiting["id"], "sam")
    assert again.status_code == 409
    assert "executed, not waiting for approval" in detail_text(again)
    assert live.actuations("press-3") == {"press-3": before["press-3"] + 1}

    records = live.audit(request_id=waiting["id"])
    assert [r["kind"] for r in records] == [
        "request",
        "decision",
        "approval",
        "write",
        "readback",
        "result",
    ]
    approval = records[2]
    assert (approval["actor"], approval["role"], approval["reason"]) == (
        "bob",
        "supervisor",
        "die and guards checked",
    )
    assert approval["data"] == {"approved": True}
    # The actuation is recorded under the requester, with the request's reason.
    assert records[3]["actor"] == "alice" and records[3]["reason"] == "shift start, die set"


def test_four_eyes_holds_for_a_supervisor_too(live: LiveSystem) -> None:
    waiting = _request_start(live, "bob")
    own = _approve(live, waiting["id"], "bob")
    assert own.status_code == 403
    assert detail_text(own) == "four-eyes rule: the requester cannot approve their own request"
    assert live.asset_state("press-3")["run_state"] == "stopped"
    other = _approve(live, waiting["id"], "sam")
    assert other.status_code == 200, other.text
    assert other.json()["status"] == "executed" and other.json()["approver"] == "sam"
    assert live.asset_state("press-3")["run_state"] == "running"


def test_rejected_request_does_nothing(live: LiveSystem) -> None:
    before = live.actuations("press-3")
    waiting = _request_start(live)
    operator = _reject(live, waiting["id"], "olga")
    assert operator.status_code == 403  # rejecting is an approver's call as well
    rejected = _reject(live, waiting["id"], "sam", "coil not loaded yet")
    assert rejected.status_code == 200, rejected.text
    body = rejected.json()
    assert body["status"] == "rejected"
    assert body["message"] == "rejected by sam: coil not loaded yet"
    assert body["steps"] == []
    assert live.get(f"/requests/{waiting['id']}", "alice").json()["status"] == "rejected"
    assert live.asset_state("press-3")["run_state"] == "stopped"
    assert live.actuations("press-3") == before

    for answer in (_approve, _reject):
        late = answer(live, waiting["id"], "bob")
        assert late.status_code == 409
        assert "rejected, not waiting for approval" in detail_text(late)
    assert live.asset_state("press-3")["run_state"] == "stopped"

    records = live.audit(request_id=waiting["id"])
    assert [r["kind"] for r in records] == ["request", "decision", "approval", "result"]
    assert records[2]["data"] == {"approved": False}
    assert records[3]["data"]["status"] == "rejected"


def test_approval_is_rechecked_against_the_plant_when_it_runs(live: LiveSystem) -> None:
    waiting = _request_start(live)
    # While it waits, maintenance locks the press out.
    locked = live.act("carol", command("apply_lockout", "press-3"), "bearing inspection")
    assert locked.status_code == 200, locked.text
    before = live.actuations("press-3")
    approved = _approve(live, waiting["id"], "bob")
    assert approved.status_code == 502, approved.text
    body = approved.json()
    assert body["status"] == "failed"
    assert "locked out by carol" in body["message"]
    assert [s["ok"] for s in body["steps"]] == [False]
    assert live.asset_state("press-3")["run_state"] == "stopped"
    assert live.actuations("press-3") == before


def test_approval_recheck_sees_a_lockout_elsewhere_on_the_line(live: LiveSystem) -> None:
    waiting = _request_start(live)
    locked = live.act("carol", command("apply_lockout", "conveyor-2"), "belt repair")
    assert locked.status_code == 200, locked.text
    approved = _approve(live, waiting["id"], "bob")
    assert live.asset_state("press-3")["run_state"] == "stopped"
    assert approved.status_code == 502, approved.text
    assert "line-2-lockout" in approved.json()["message"]


def test_operator_lockout_needs_an_approver_who_may_lock_out(live: LiveSystem) -> None:
    # Operators may request a lockout but not carry it out: it waits for a supervisor
    # (engineers approve start, set_parameter and resume, but not apply_lockout).
    response = live.act("alice", command("apply_lockout", "feeder-2"), "strip jam clearing")
    assert response.status_code == 202, response.text
    request_id = response.json()["id"]
    assert set(response.json()["decision"]["approver_roles"]) == {"supervisor", "admin"}
    engineer = _approve(live, request_id, "dave")
    assert engineer.status_code == 403
    assert "role engineer may not approve" in detail_text(engineer)
    assert live.asset_state("feeder-2")["lockouts"] == []
    approved = _approve(live, request_id, "bob")
    assert approved.status_code == 200, approved.text
    assert live.asset_state("feeder-2")["lockouts"] == ["alice"]  # the requester's own lock


def test_idempotent_retry_of_a_waiting_request_waits_once(live: LiveSystem) -> None:
    key = unique("mes-start")
    first = live.act("alice", command("start", "press-3"), "shift start", key=key)
    assert first.status_code == 202, first.text
    retry = live.act("alice", command("start", "press-3"), "shift start", key=key)
    assert retry.status_code == 202, retry.text
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers["location"] == f"/requests/{first.json()['id']}"
    approved = _approve(live, first.json()["id"], "bob")
    assert approved.status_code == 200, approved.text
    after = live.act("alice", command("start", "press-3"), "shift start", key=key)
    assert after.status_code == 200 and after.json()["status"] == "executed"
    assert after.json()["id"] == first.json()["id"]
    assert len(live.audit(request_id=first.json()["id"], kind="decision")) == 1
    assert live.asset_state("press-3")["run_state"] == "running"


def test_racing_answers_one_wins_and_the_plant_follows_it(live: LiveSystem) -> None:
    waiting = _request_start(live)
    answers = [("bob", "approve"), ("sam", "reject"), ("dave", "approve")]

    def answer(who_and_verb: tuple[str, str]) -> tuple[str, int]:
        who, verb = who_and_verb
        with httpx.Client(base_url=live.base_url, timeout=30) as client:
            response = client.post(
                f"/approvals/{waiting['id']}/{verb}",
                headers=live.auth(who),
                json={"reason": f"{who} says {verb}"},
            )
        return who, response.status_code

    with ThreadPoolExecutor(max_workers=len(answers)) as pool:
        codes = dict(pool.map(answer, answers))
    winners = [who for who, code in codes.items() if code == 200]
    assert len(winners) == 1, codes
    assert sorted(codes.values()) == [200, 409, 409], codes
    final = live.get(f"/requests/{waiting['id']}", "alice").json()
    assert final["approver"] == winners[0]
    approvals = live.audit(request_id=waiting["id"], kind="approval")
    assert [a["actor"] for a in approvals] == winners
    if winners[0] == "sam":
        assert final["status"] == "rejected"
        assert live.asset_state("press-3")["run_state"] == "stopped"
    else:
        assert final["status"] == "executed"
        assert live.asset_state("press-3")["run_state"] == "running"
