"""Emergency stop over REST: every role with the right stops the whole line, audited."""

from __future__ import annotations

import pytest

from simulator.process import ProcessModel

from .api_helpers import LINE_2, USERS, LiveSystem, command, detail_text


def _run_everything(live: LiveSystem) -> None:
    def start_all(process: ProcessModel) -> None:
        for asset in ("press-3", "feeder-2", "conveyor-2", "vision-2", "press-1", "feeder-1"):
            process.start(asset)

    live.sim_do(start_all)
    for asset in LINE_2:
        assert live.asset_state(asset)["run_state"] == "running"


@pytest.mark.parametrize("user", sorted(USERS))
def test_any_role_with_the_right_stops_the_whole_line(live: LiveSystem, user: str) -> None:
    _run_everything(live)
    reason = f"{user}: hand near the die"
    response = live.post("/lines/line-2/emergency-stop", user, json={"reason": reason})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["target"] == "line-2" and body["done"] is True and body["detail"] == "done"
    assert body["elapsed_ms"] >= 0

    line = live.get("/lines/line-2", user).json()
    assert {a["asset"]["id"]: a["state"]["run_state"] for a in line["assets"]} == dict.fromkeys(
        LINE_2, "stopped"
    )
    # Line 1 keeps running: the stop is for the line that was named.
    assert live.asset_state("press-1")["run_state"] == "running"
    assert live.asset_state("feeder-1")["run_state"] == "running"

    estop = live.audit(kind="estop", subject="line-2")[-1]
    assert (estop["actor"], estop["role"], estop["reason"]) == (user, USERS[user], reason)
    assert estop["data"]["delivered"] is True
    assert estop["request_id"].startswith("estop-")
    assert estop["proposed_by"] == {"kind": "human", "name": ""}


def test_emergency_stop_needs_no_body_and_ignores_interlocks(live: LiveSystem) -> None:
    _run_everything(live)
    # The feeder-before-press stop order would refuse "stop press-3" now; the e-stop
    # stops both at once, and needs no approval.
    response = live.client.post("/lines/line-2/emergency-stop", headers=live.auth("alice"))
    assert response.status_code == 200, response.text
    for asset in LINE_2:
        assert live.snapshot(asset).run_state == "stopped"
    estop = live.audit(kind="estop", subject="line-2")[-1]
    assert (estop["actor"], estop["reason"]) == ("alice", "emergency stop")


def test_emergency_stop_of_a_stopped_line_still_answers(live: LiveSystem) -> None:
    response = live.post("/lines/line-1/emergency-stop", "carol", json={"reason": "drill"})
    assert response.status_code == 200, response.text
    assert live.asset_state("press-1")["run_state"] == "stopped"


def test_emergency_stop_of_an_unknown_line_is_refused_and_not_actuated(live: LiveSystem) -> None:
    _run_everything(live)
    head = live.audit_head()
    for line in ("line-9", "LINE-2", "line-2 "):
        response = live.post(f"/lines/{line}/emergency-stop", "alice", json={"reason": "?"})
        assert response.status_code in (403, 404), response.text
        assert f"unknown line {line!r}" in detail_text(response)
    assert live.audit_head() == head
    for asset in LINE_2:
        assert live.snapshot(asset).run_state == "running"


def test_stop_and_start_are_commands_too(live: LiveSystem) -> None:
    # The ordinary (non-emergency) path for low-risk run commands, for contrast.
    assert live.act("alice", command("start", "conveyor-2")).status_code == 200
    assert live.act("alice", command("pause", "conveyor-2")).status_code == 200
    assert live.asset_state("conveyor-2")["run_state"] == "paused"
    resumed = live.act("alice", command("resume", "conveyor-2"))
    assert resumed.status_code == 200, resumed.text
    assert live.asset_state("conveyor-2")["run_state"] == "running"
