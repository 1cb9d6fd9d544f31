"""Authentication (API keys, both header styles, revocation) and role checks over HTTP."""

from __future__ import annotations

import re
from typing import Any

import pytest

from control.auth.keys import KeyStore

from .api_helpers import LiveSystem, command, detail_text, set_parameter

# Endpoints anyone may call: liveness, readiness, metrics and the API description.
PUBLIC = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect"}
PLACEHOLDERS = {
    "line_id": "line-2",
    "line": "line-2",
    "asset_id": "press-3",
    "asset": "press-3",
    "request_id": "req-0",
    "work_order_id": "WO-000001",
    "doc_id": "doc-0",
    "hold_id": "QH-000001",
    "name": "vision-defects",
    "conversation_id": "conv-0",
    "uri": "0" * 64 + ".png",
}


def _protected_routes(live: LiveSystem) -> list[tuple[str, str]]:
    spec = live.client.get("/openapi.json").json()
    routes = []
    for path, methods in spec["paths"].items():
        if path in PUBLIC:
            continue
        concrete = re.sub(r"\{(\w+)\}", lambda m: PLACEHOLDERS[m.group(1)], path)
        routes.extend((method.upper(), concrete) for method in methods)
    return routes


def test_every_non_public_endpoint_needs_a_key(live: LiveSystem) -> None:
    routes = _protected_routes(live)
    assert len(routes) >= 20, routes  # the sweep really covers the API
    head = live.audit_head()
    for method, path in routes:
        # A body that would be valid for the e-stop: only the missing key may stop it.
        response = live.client.request(method, path, json={"reason": "no key"})
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert "missing credentials" in detail_text(response), (method, path)
    assert live.asset_state("press-3")["run_state"] == "stopped"
    assert live.audit_head() == head  # nothing was acted on or recorded


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer andon_not-a-key-anyone-was-given"},
        {"X-API-Key": "andon_not-a-key-anyone-was-given"},
        {"Authorization": "Bearer not-even-the-right-prefix"},
        {"Authorization": "Bearer " + "andon_" + "x" * 5000},
    ],
    ids=["bearer", "x-api-key", "no-prefix", "oversized"],
)
def test_unknown_key_is_401(live: LiveSystem, headers: dict[str, str]) -> None:
    response = live.client.get("/lines", headers=headers)
    assert response.status_code == 401
    assert detail_text(response) == "unknown or revoked API key"


def test_a_non_bearer_authorization_scheme_counts_as_missing(live: LiveSystem) -> None:
    response = live.client.get("/lines", headers={"Authorization": f"Basic {live.keys['alice']}"})
    assert response.status_code == 401
    assert "missing credentials" in detail_text(response)


def test_both_header_styles_authenticate_the_same_user(live: LiveSystem) -> None:
    key = live.keys["olga"]
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        response = live.client.post(
            "/actions",
            headers=headers,
            json={"action": set_parameter("conveyor-2", "speed_mps", 0.9), "reason": "header"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["requester"] == {"user": "olga", "role": "operator"}


def test_revoked_key_stops_working_in_the_running_api(live: LiveSystem) -> None:
    store = KeyStore(live.settings.keys_path)  # as `andon keys revoke` would, from outside
    key = live.keystore.create("temp-mes", "operator")
    assert live.client.get("/lines/line-2", headers={"X-API-Key": key}).status_code == 200
    store.revoke(key)
    for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
        response = live.client.get("/lines/line-2", headers=headers)
        assert response.status_code == 401
        assert detail_text(response) == "unknown or revoked API key"
    # The other keys are untouched.
    assert live.get("/lines/line-2", "alice").status_code == 200


def test_key_for_a_role_the_plant_does_not_define_is_refused(live: LiveSystem) -> None:
    # A keys file may hold a key for a role that is not (or no longer) in the plant model.
    key = KeyStore(live.settings.keys_path).create("visitor", "visitor")
    response = live.client.get("/lines", headers={"X-API-Key": key})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("user", "allowed"),
    [
        ("alice", False),
        ("bob", True),
        ("carol", True),  # maintenance approves lockout removal, so it may audit
        ("dave", True),
        ("root", True),
    ],
)
def test_audit_trail_is_for_approvers_and_admins(
    live: LiveSystem, user: str, allowed: bool
) -> None:
    for path in ("/audit", "/audit/verify"):
        response = live.get(path, user)
        if allowed:
            assert response.status_code == 200, response.text
        else:
            assert response.status_code == 403
            assert detail_text(response) == "role 'operator' may not read the audit trail"


@pytest.mark.parametrize(
    ("user", "action", "reason"),
    [
        ("carol", set_parameter("press-3", "speed_spm", 22), "role maintenance may not request"),
        ("carol", command("start", "conveyor-2"), "role maintenance may not request start"),
        ("alice", command("remove_lockout", "press-3"), "role operator may not request"),
    ],
    ids=["maintenance-set", "maintenance-start", "operator-remove-lockout"],
)
def test_role_may_not_request_is_denied_and_nothing_moves(
    live: LiveSystem, user: str, action: dict[str, Any], reason: str
) -> None:
    before = live.actuations(action["asset"])
    state = live.asset_state(action["asset"])
    response = live.act(user, action)
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["status"] == "denied"
    assert reason in body["message"]
    assert "role_may_not_request" in body["decision"]["steps"][0]["rules"]
    assert live.actuations(action["asset"]) == before
    after = live.asset_state(action["asset"])
    assert (after["run_state"], after["lockouts"]) == (state["run_state"], state["lockouts"])
    if action["command"] == "set_parameter":
        assert after["tags"][action["tag"]] == state["tags"][action["tag"]]


def test_maintenance_may_not_take_manual_override(live: LiveSystem) -> None:
    response = live.post(
        "/assets/press-3/manual-override", "carol", json={"enabled": True, "reason": "my press"}
    )
    assert response.status_code == 403
    assert detail_text(response) == "role maintenance has no manual override right"
    assert live.asset_state("press-3")["manual_override"] is False


def test_operator_may_not_approve(live: LiveSystem) -> None:
    waiting = live.act("alice", command("start", "press-3"), "shift start")
    assert waiting.status_code == 202, waiting.text
    request_id = waiting.json()["id"]
    response = live.post(
        f"/approvals/{request_id}/approve", "olga", json={"reason": "looks fine to me"}
    )
    assert response.status_code == 403
    assert "role operator may not approve" in detail_text(response)
    assert live.get(f"/requests/{request_id}", "alice").json()["status"] == "waiting_approval"
    assert live.asset_state("press-3")["run_state"] == "stopped"
