"""Server-Sent Events, the ops endpoints (health, readiness through a plant outage, metrics,
OpenAPI) and the audit trail as the MES and an auditor read it."""

from __future__ import annotations

import itertools
import json
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import onnxruntime

from control.execution.service import request_id_for

from .api_helpers import (
    LINE_2,
    LiveSystem,
    command,
    detail_text,
    eventually,
    metric_value,
    set_parameter,
    unique,
)

Event = tuple[str, dict[str, Any]]


@contextmanager
def subscribed(live: LiveSystem, user: str, **params: Any) -> Iterator[queue.Queue[Event]]:
    """Read GET /events in a thread; yields a queue of (kind, data) as they arrive."""
    events: queue.Queue[Event] = queue.Queue()
    opened = threading.Event()
    stop = threading.Event()
    failure: list[BaseException] = []

    def read() -> None:
        try:
            timeout = httpx.Timeout(10.0, read=20.0)
            with (
                httpx.Client(base_url=live.base_url, timeout=timeout) as client,
                client.stream("GET", "/events", headers=live.auth(user), params=params) as reply,
            ):
                assert reply.status_code == 200, reply.status_code
                assert reply.headers["content-type"].startswith("text/event-stream")
                opened.set()
                kind = ""
                for line in reply.iter_lines():
                    if stop.is_set():
                        return
                    if line.startswith("event:"):
                        kind = line.removeprefix("event:").strip()
                    elif line.startswith("data:"):
                        events.put((kind, json.loads(line.removeprefix("data:"))))
        except BaseException as exc:  # surfaced to the test below
            failure.append(exc)
        finally:
            opened.set()

    thread = threading.Thread(target=read, name="sse-reader", daemon=True)
    thread.start()
    assert opened.wait(10), "the event stream did not open"
    assert not failure, failure
    try:
        yield events
    finally:
        stop.set()


def _wait_for(events: queue.Queue[Event], wanted: Any, timeout: float = 10.0) -> Event:
    deadline = datetime.now(UTC).timestamp() + timeout
    while True:
        left = deadline - datetime.now(UTC).timestamp()
        assert left > 0, "event not delivered in time"
        kind, data = events.get(timeout=left)
        if wanted(kind, data):
            return kind, data


def test_events_deliver_the_decision_and_actuation_of_an_action(live: LiveSystem) -> None:
    with subscribed(live, "alice") as events:
        # The ticking plant publishes state changes: the subscription is live once one arrives.
        kind, _ = _wait_for(events, lambda k, d: k == "state")
        response = live.act("olga", set_parameter("conveyor-2", "speed_mps", 1.0), "sse")
        assert response.status_code == 200, response.text
        request_id = response.json()["id"]
        mine = {"decision": None, "actuation": None, "request": None}
        while not all(mine.values()):
            kind, data = _wait_for(
                events, lambda k, d: k in mine and d.get("request_id") == request_id
            )
            mine[kind] = data
    assert mine["decision"] is not None and mine["decision"]["outcome"] == "allowed"
    assert mine["actuation"] is not None
    assert mine["actuation"]["asset"] == "conveyor-2" and mine["actuation"]["ok"] is True
    assert mine["actuation"]["readback"] == 1.0
    assert mine["request"] is not None and mine["request"]["status"] == "executed"


def test_events_can_be_filtered_by_kind(live: LiveSystem) -> None:
    live.sim_do(lambda p: p.start("conveyor-2"))
    with subscribed(live, "carol", kinds=["estop", "decision"]) as events:
        denied = live.act("carol", set_parameter("press-3", "speed_spm", 22))
        assert denied.status_code == 403
        first_kind, first = events.get(timeout=10)
        # State changes stream all the time; the filter kept them all out.
        assert first_kind == "decision", (first_kind, first)
        assert first["request_id"] == denied.json()["id"]
        assert first["outcome"] == "denied"
        stopped = live.post("/lines/line-2/emergency-stop", "carol", json={"reason": "sse"})
        assert stopped.status_code == 200
        kind, data = events.get(timeout=10)
    assert kind == "estop"
    assert (data["line"], data["by"], data["delivered"]) == ("line-2", "carol", True)


def test_health_readiness_metrics_and_openapi(live: LiveSystem) -> None:
    # The provider ONNX Runtime really has: CUDA only where its CUDA build is installed.
    cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    provider = "CUDAExecutionProvider" if cuda else "CPUExecutionProvider"
    health = live.client.get("/healthz").json()
    assert health == {"status": "ok", "inference_provider": provider}
    ready = live.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "plant": "ok", "database": "ok", "documents": "ok"}

    before = live.client.get("/metrics").text
    denied = live.act("alice", set_parameter("press-3", "speed_spm", 99))
    assert denied.status_code == 403
    executed = live.act("alice", set_parameter("press-3", "speed_spm", 21))
    assert executed.status_code == 200
    metrics = live.client.get("/metrics")
    assert metrics.status_code == 200
    after = metrics.text
    assert "# TYPE andon_decisions_total counter" in after
    assert "# TYPE andon_request_seconds histogram" in after
    for outcome in ("denied", "allowed"):
        name = "andon_decisions_total"
        assert metric_value(after, name, outcome=outcome) == (
            metric_value(before, name, outcome=outcome) + 1
        ), outcome
    count = "andon_request_seconds_count"
    assert metric_value(after, count, status="executed") == (
        metric_value(before, count, status="executed") + 1
    )
    assert metric_value(after, "andon_plant_connected") == 1.0

    spec = live.client.get("/openapi.json").json()
    expected = {
        "/plant": {"get"},
        "/lines": {"get"},
        "/lines/{line_id}": {"get"},
        "/assets/{asset_id}": {"get"},
        "/actions": {"post"},
        "/plans": {"post"},
        "/requests": {"get"},
        "/requests/{request_id}": {"get"},
        "/approvals": {"get"},
        "/approvals/{request_id}/approve": {"post"},
        "/approvals/{request_id}/reject": {"post"},
        "/lines/{line}/emergency-stop": {"post"},
        "/assets/{asset}/manual-override": {"post"},
        "/work-orders": {"get", "post"},
        "/work-orders/{work_order_id}": {"get", "patch", "delete"},
        "/work-orders/{work_order_id}/history": {"get"},
        "/work-orders/{work_order_id}/transition": {"post"},
        "/audit": {"get"},
        "/audit/verify": {"get"},
        "/events": {"get"},
        "/healthz": {"get"},
        "/readyz": {"get"},
        "/metrics": {"get"},
    }
    for path, methods in expected.items():
        assert path in spec["paths"], path
        assert set(spec["paths"][path]) == methods, path
    headers = spec["paths"]["/actions"]["post"]["parameters"]
    assert any(p["name"] == "Idempotency-Key" for p in headers)


def test_readiness_follows_the_plant_through_an_outage(live: LiveSystem) -> None:
    live.sim_do(lambda p: p.start("conveyor-2"))
    head = live.audit_head()
    live.spawn(live.sim.restart(down_seconds=1.5))
    eventually(lambda: live.client.get("/readyz").status_code == 503, timeout=10)
    body = live.client.get("/readyz").json()
    assert body == {"ready": False, "plant": "disconnected", "database": "ok", "documents": "ok"}
    assert live.client.get("/healthz").status_code == 200  # alive, just not ready

    # With the plant unreachable nothing is decided blind, and nothing claims success.
    unread = live.get("/assets/press-3", "alice")
    assert unread.status_code == 503
    assert "plant not reachable" in detail_text(unread)
    key = unique("outage")
    speed_up = set_parameter("conveyor-2", "speed_mps", 1.0)
    blind = live.act("alice", speed_up, "during outage", key=key)
    assert blind.status_code == 503, blind.text
    assert blind.headers["Retry-After"] == "5"
    assert blind.json()["status"] == "denied"
    assert "no connection to the plant" in blind.json()["message"]
    blind_plan = live.plan("alice", [speed_up], "during outage")
    assert blind_plan.status_code == 503, blind_plan.text
    assert blind_plan.headers["Retry-After"] == "5"
    estop = live.post("/lines/line-2/emergency-stop", "alice", json={"reason": "outage test"})
    assert estop.status_code == 503, estop.text
    assert "EMERGENCY STOP NOT CONFIRMED" in detail_text(estop)
    assert "hard-wired emergency stop" in detail_text(estop)
    record = live.audit(kind="estop", subject="line-2")[-1]
    assert record["seq"] > head and record["reason"] == "outage test"
    assert record["data"]["delivered"] is False

    eventually(lambda: live.client.get("/readyz").status_code == 200, timeout=30)
    assert live.client.get("/readyz").json()["plant"] == "ok"
    # The undelivered e-stop did not reach the plant; the driver is back and acts again.
    assert live.snapshot("conveyor-2").run_state == "running"
    assert live.snapshot("conveyor-2").tags["speed_mps"] == 0.8
    # The refusal is on record (denied, rule plant_disconnected) under an id of its own...
    stored = live.get(f"/requests/{blind.json()['id']}", "bob")
    assert stored.status_code == 200, stored.text
    assert stored.json()["status"] == "denied"
    assert [s["rules"] for s in stored.json()["decision"]["steps"]] == [["plant_disconnected"]]
    trail = live.audit(request_id=blind.json()["id"])
    assert [r["kind"] for r in trail] == ["request", "decision"]
    assert trail[1]["data"]["steps"][0]["rules"] == ["plant_disconnected"]
    # ...and did not use up the key: the retry the 503 asked for is judged and executed.
    again = live.act("alice", speed_up, "during outage", key=key)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == request_id_for("alice", key) != blind.json()["id"]
    assert live.snapshot("conveyor-2").tags["speed_mps"] == 1.0


def test_audit_trail_is_intact_and_says_who_what_why(live: LiveSystem) -> None:
    model = {"kind": "model", "name": "assistant-7b"}
    proposed = live.act(
        "alice",
        set_parameter("feeder-2", "feed_length_mm", 450),
        "longer blank for part 88-120",
        proposed_by=model,
    )
    assert proposed.status_code == 200, proposed.text
    denied = live.act("carol", command("start", "press-3"), "try to start")
    assert denied.status_code == 403
    started = datetime.now(UTC)
    stopped = live.post("/lines/line-1/emergency-stop", "dave", json={"reason": "smoke"})
    assert stopped.status_code == 200

    verify = live.get("/audit/verify", "root")
    assert verify.status_code == 200
    report = verify.json()
    assert report["ok"] is True and report["problem"] is None
    assert report["records"] == report["head_seq"] > 0
    assert len(report["head_hash"]) == 64

    for record in live.audit(request_id=proposed.json()["id"]):
        assert (record["actor"], record["role"], record["subject"]) == (
            "alice",
            "operator",
            "feeder-2",
        )
        assert record["reason"] == "longer blank for part 88-120"
        assert record["proposed_by"] == model
    decision = live.audit(request_id=denied.json()["id"], kind="decision")
    assert len(decision) == 1
    assert decision[0]["actor"] == "carol" and decision[0]["data"]["outcome"] == "denied"
    assert "role maintenance may not request start" in decision[0]["data"]["reasons"][0]

    recent = live.audit(since=started.isoformat())
    assert [(r["kind"], r["actor"], r["subject"]) for r in recent] == [("estop", "dave", "line-1")]
    # Newest first from the API, and every record chains to the one before it.
    newest = live.get("/audit", "root", params={"limit": 50}).json()
    assert [r["seq"] for r in newest] == sorted((r["seq"] for r in newest), reverse=True)
    for later, earlier in itertools.pairwise(newest):
        assert later["seq"] == earlier["seq"] + 1
        assert later["prev_hash"] == earlier["hash"]
    assert live.get("/audit", "root", params={"limit": 1}).json()[0]["seq"] == report["head_seq"]


def test_plant_and_line_views(live: LiveSystem) -> None:
    plant = live.get("/plant", "alice").json()
    assert plant["site"]["id"] == "kettering-stamping"
    assert {a["id"] for a in plant["assets"]} >= set(LINE_2)
    lines = live.get("/lines", "alice").json()
    assert [line["line"]["id"] for line in lines] == ["line-1", "line-2"]
    line_2 = live.get("/lines/line-2", "alice").json()
    assert [a["asset"]["id"] for a in line_2["assets"]] == list(LINE_2)
    press = live.get("/assets/press-3", "alice").json()
    assert press["asset"]["id"] == "press-3"
    assert press["state"]["tags"]["speed_spm"] == 20.0
    assert press["state"]["run_state"] == "stopped"
