"""Work orders over REST: create, read, filter, edit, lifecycle, cancel by DELETE, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from .api_helpers import LiveSystem, command, detail_text, unique


def _create(live: LiveSystem, user: str = "carol", **fields: Any) -> dict[str, Any]:
    draft = {"asset": "press-3", "symptom": unique("bearing noise"), **fields}
    response = live.post("/work-orders", user, json=draft)
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


def _transition(live: LiveSystem, wo: str, status: str, user: str = "carol", **extra: Any) -> Any:
    return live.post(f"/work-orders/{wo}/transition", user, json={"status": status, **extra})


def test_create_and_read_back(live: LiveSystem) -> None:
    draft = {
        "asset": "press-3",
        "symptom": "Crown bearing growls above 22 spm",
        "failure_mode": "VIB",
        "priority": "high",
        "tasks": ["measure vibration spectrum", "check lubrication"],
        "parts": [{"part_number": "BRG-22320", "description": "spherical roller", "quantity": 2}],
        "lockout_required": True,
        "due": "2030-01-31T06:00:00Z",
    }
    response = live.post("/work-orders", "carol", json=draft)
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["id"].startswith("WO-") and len(order["id"]) >= 9
    assert order["status"] == "open" and order["created_by"] == "carol"
    assert order["source_request"] is None
    for name in ("asset", "symptom", "failure_mode", "priority", "tasks", "lockout_required"):
        assert order[name] == draft[name], name
    assert order["parts"] == draft["parts"]
    assert datetime.fromisoformat(order["due"]) == datetime(2030, 1, 31, 6, tzinfo=UTC)

    fetched = live.get(f"/work-orders/{order['id']}", "alice")
    assert fetched.status_code == 200 and fetched.json() == order
    history = live.get(f"/work-orders/{order['id']}/history", "alice").json()
    assert [(h["from_status"], h["to_status"], h["actor"]) for h in history] == [
        (None, "open", "carol")
    ]
    audit = live.audit(kind="work_order", subject=order["id"])
    assert [(r["actor"], r["reason"]) for r in audit] == [("carol", "work order created")]
    assert audit[0]["data"] == {"asset": "press-3", "priority": "high"}


def test_defaults_and_every_role_may_open_one(live: LiveSystem) -> None:
    for user in ("alice", "bob", "carol", "dave", "root"):
        order = _create(live, user, asset="conveyor-2")
        assert (order["priority"], order["failure_mode"], order["status"]) == (
            "medium",
            "UNK",
            "open",
        )
        assert order["created_by"] == user


def test_list_filters(live: LiveSystem) -> None:
    started = datetime.now(UTC)
    tag = unique("filter")
    vision = _create(live, asset="vision-2", symptom=f"{tag} a", priority="low", failure_mode="ERO")
    feeder = _create(live, asset="feeder-1", symptom=f"{tag} b", priority="emergency")
    feeder_low = _create(live, asset="feeder-1", symptom=f"{tag} c", priority="low")
    assert _transition(live, feeder_low["id"], "planned").status_code == 200

    def ids(**params: Any) -> list[str]:
        response = live.get("/work-orders", "alice", params={"limit": 500, **params})
        assert response.status_code == 200, response.text
        return [o["id"] for o in response.json()]

    mine = {vision["id"], feeder["id"], feeder_low["id"]}
    assert set(ids(asset="vision-2")) & mine == {vision["id"]}
    assert set(ids(asset="feeder-1")) & mine == {feeder["id"], feeder_low["id"]}
    assert set(ids(priority="low")) & mine == {vision["id"], feeder_low["id"]}
    assert set(ids(failure_mode="ERO")) & mine == {vision["id"]}
    assert set(ids(status="planned")) & mine == {feeder_low["id"]}
    assert set(ids(status=["open", "planned"])) & mine == mine
    assert set(ids(asset="feeder-1", priority="low", status="planned")) & mine == {feeder_low["id"]}
    assert set(ids(created_since=started.isoformat())) == mine  # nothing else since
    assert ids(created_until=started.isoformat(), asset="vision-2").count(vision["id"]) == 0
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert ids(created_since=future) == []
    # Newest first, and paged.
    recent = ids(created_since=started.isoformat())
    assert recent == [feeder_low["id"], feeder["id"], vision["id"]]
    page = ids(created_since=started.isoformat(), limit=1, offset=1)
    assert page == [feeder["id"]]
    assert ids(asset="no-such-asset") == []


def test_patch_changes_only_what_it_names(live: LiveSystem) -> None:
    order = _create(live, priority="medium", tasks=["inspect"])
    response = live.client.patch(
        f"/work-orders/{order['id']}",
        headers=live.auth("carol"),
        json={"priority": "high", "tasks": ["inspect", "replace seal"], "due": None},
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["priority"] == "high"
    assert patched["tasks"] == ["inspect", "replace seal"]
    assert patched["symptom"] == order["symptom"] and patched["asset"] == order["asset"]
    assert patched["status"] == "open" and patched["created_at"] == order["created_at"]
    assert patched["updated_at"] > order["updated_at"]
    assert live.get(f"/work-orders/{order['id']}", "alice").json() == patched
    edits = live.audit(kind="work_order", subject=order["id"])[-1]
    assert edits["reason"] == "work order edited"
    assert edits["data"] == {"changed": ["due", "priority", "tasks"]}


def test_lifecycle_valid_and_invalid_transitions(live: LiveSystem) -> None:
    order = _create(live)
    wo = order["id"]
    skip = _transition(live, wo, "completed")
    assert skip.status_code == 409
    assert "cannot go from open to completed (allowed: cancelled, planned)" in detail_text(skip)
    assert live.get(f"/work-orders/{wo}", "bob").json() == order

    path = [
        ("planned", "bob"),
        ("in_progress", "carol"),
        ("on_hold", "carol"),
        ("in_progress", "carol"),
        ("completed", "carol"),
    ]
    for status, user in path:
        response = _transition(live, wo, status, user, note=f"-> {status}")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
        assert response.json()["status_note"] == f"-> {status}"

    history = live.get(f"/work-orders/{wo}/history", "alice").json()
    assert [(h["from_status"], h["to_status"], h["actor"], h["note"]) for h in history] == [
        (None, "open", "carol", None),
        ("open", "planned", "bob", "-> planned"),
        ("planned", "in_progress", "carol", "-> in_progress"),
        ("in_progress", "on_hold", "carol", "-> on_hold"),
        ("on_hold", "in_progress", "carol", "-> in_progress"),
        ("in_progress", "completed", "carol", "-> completed"),
    ]
    completed = live.get(f"/work-orders/{wo}", "alice").json()

    # Completed is final: no transition, no edit, no cancel.
    for status in ("open", "in_progress", "cancelled"):
        response = _transition(live, wo, status)
        assert response.status_code == 409
        assert "allowed: none, it is closed" in detail_text(response)
    edit = live.client.patch(
        f"/work-orders/{wo}", headers=live.auth("carol"), json={"priority": "low"}
    )
    assert edit.status_code == 409
    assert "completed and can no longer be edited" in detail_text(edit)
    delete = live.client.delete(f"/work-orders/{wo}", headers=live.auth("carol"))
    assert delete.status_code == 409
    assert live.get(f"/work-orders/{wo}", "alice").json() == completed
    assert len(live.get(f"/work-orders/{wo}/history", "alice").json()) == len(history)


def test_delete_cancels_and_the_order_stays_readable(live: LiveSystem) -> None:
    order = _create(live)
    response = live.client.delete(f"/work-orders/{order['id']}", headers=live.auth("bob"))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["status_note"] == "cancelled via DELETE"

    fetched = live.get(f"/work-orders/{order['id']}", "alice")
    assert fetched.status_code == 200
    assert fetched.json()["status"] == "cancelled"
    assert fetched.json()["symptom"] == order["symptom"]
    cancelled = live.get("/work-orders", "alice", params={"status": "cancelled", "limit": 500})
    assert order["id"] in [o["id"] for o in cancelled.json()]
    history = live.get(f"/work-orders/{order['id']}/history", "alice").json()
    assert [(h["to_status"], h["actor"]) for h in history] == [
        ("open", "carol"),
        ("cancelled", "bob"),
    ]
    again = live.client.delete(f"/work-orders/{order['id']}", headers=live.auth("bob"))
    assert again.status_code == 409
    edit = live.client.patch(
        f"/work-orders/{order['id']}", headers=live.auth("bob"), json={"priority": "low"}
    )
    assert edit.status_code == 409
    audit = live.audit(kind="work_order", subject=order["id"])
    assert [r["data"].get("status") for r in audit] == [None, "cancelled"]


def test_a_plan_step_opens_a_work_order(live: LiveSystem) -> None:
    draft = {"asset": "press-3", "symptom": "vibration trending up", "failure_mode": "VIB"}
    response = live.act(
        "alice",
        command("create_work_order", "press-3", work_order=draft),
        "vibration alarm twice this shift",
        proposed_by={"kind": "model", "name": "assistant"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    wo = body["steps"][0]["readback"]
    assert body["steps"][0]["detail"] == f"work order {wo} opened"
    order = live.get(f"/work-orders/{wo}", "bob").json()
    assert order["source_request"] == f"{body['id']}:0"
    assert (order["created_by"], order["failure_mode"], order["status"]) == ("alice", "VIB", "open")


def test_a_work_order_step_for_another_asset_is_denied(live: LiveSystem) -> None:
    before = live.get("/work-orders", "bob", params={"limit": 1}).json()
    draft = {"asset": "press-1", "symptom": "noise from the other press"}
    response = live.act("alice", command("create_work_order", "press-3", work_order=draft))
    assert response.status_code == 403, response.text
    assert response.json()["status"] == "denied"
    assert live.get("/work-orders", "bob", params={"limit": 1}).json() == before
