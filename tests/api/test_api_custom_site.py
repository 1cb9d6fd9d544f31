"""A second system with its own plant file: `andon up` as a subprocess (DBOS allows one app
per process) on a copy of the demo site whose approvals expire after two seconds and which
adds a read-only role. Covers approval expiry and a role without rights on every protected
endpoint. The plant's ActuationCount is read over OPC-UA, as any client would."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import yaml
from asyncua import Client

from control.auth.keys import KeyStore
from control.plant.loader import DEMO_SITE
from simulator.server import endpoint_url, free_tcp_port

from .api_helpers import command, detail_text, eventually

TTL_S = 2.0


@dataclass
class ShortTtlSystem:
    base_url: str
    opcua_url: str
    keys: dict[str, str]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[user]}"}


@pytest.fixture(scope="module")
def short_ttl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShortTtlSystem]:
    root = tmp_path_factory.mktemp("andon-short-ttl")
    site = yaml.safe_load(DEMO_SITE.read_text())
    site["approval_ttl_s"] = TTL_S
    site["roles"].append({"id": "viewer", "description": "Reads the plant; may do nothing."})
    plant_file = root / "short_ttl_site.yaml"
    plant_file.write_text(yaml.safe_dump(site, sort_keys=False))
    data_dir = root / "data"
    data_dir.mkdir()
    roles = {r["id"] for r in site["roles"]}
    store = KeyStore(data_dir / "api_keys.json", roles=roles)
    keys = {
        user: store.create(user, role)
        for user, role in (("alice", "operator"), ("bob", "supervisor"), ("vic", "viewer"))
    }
    api_port = free_tcp_port()
    opcua_url = endpoint_url("127.0.0.1", free_tcp_port())
    env = {
        **os.environ,
        "ANDON_DATA_DIR": str(data_dir),
        "ANDON_PLANT_FILE": str(plant_file),
        "ANDON_OPCUA_URL": opcua_url,
        "ANDON_LOG_LEVEL": "WARNING",
    }
    log = (root / "andon.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "andon.cli", "up", "--port", str(api_port), "--no-index-documents"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    system = ShortTtlSystem(f"http://127.0.0.1:{api_port}", opcua_url, keys)
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"andon up exited with {proc.returncode}: see {log.name}")
            try:
                return httpx.get(f"{system.base_url}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        eventually(ready, timeout=60, interval=0.1)
        yield system
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _actuation_count(opcua_url: str, asset: str) -> int:
    async def read() -> int:
        async with Client(opcua_url, timeout=5) as client:
            value = await client.get_node(f"ns=2;s={asset}.ActuationCount").read_value()
            return int(value)

    return asyncio.run(read())


def test_unanswered_approval_expires_and_nothing_actuates(short_ttl: ShortTtlSystem) -> None:
    count_before = _actuation_count(short_ttl.opcua_url, "press-3")
    with httpx.Client(base_url=short_ttl.base_url, timeout=30) as client:
        submitted = time.monotonic()
        response = client.post(
            "/actions",
            headers=short_ttl.auth("alice"),
            json={"action": command("start", "press-3"), "reason": "night shift start"},
        )
        assert response.status_code == 202, response.text
        request_id = response.json()["id"]
        assert response.headers["location"] == f"/requests/{request_id}"

        def status() -> str:
            found = client.get(f"/requests/{request_id}", headers=short_ttl.auth("bob"))
            assert found.status_code == 200, found.text
            value: str = found.json()["status"]
            return value

        assert status() == "waiting_approval"
        eventually(lambda: status() == "expired", timeout=TTL_S + 15, interval=0.1)
        assert time.monotonic() - submitted >= TTL_S * 0.9  # not before its time

        final = client.get(f"/requests/{request_id}", headers=short_ttl.auth("bob")).json()
        assert final["message"] == "nobody approved in time"
        assert final["steps"] == [] and final["approver"] is None

        late = client.post(
            f"/approvals/{request_id}/approve",
            headers=short_ttl.auth("bob"),
            json={"reason": "sorry, was on the floor"},
        )
        assert late.status_code == 409
        assert "expired" in detail_text(late)

        press = client.get("/assets/press-3", headers=short_ttl.auth("bob")).json()
        assert press["state"]["run_state"] == "stopped"
        records = client.get(
            "/audit", headers=short_ttl.auth("bob"), params={"request_id": request_id}
        ).json()
        ordered = sorted(records, key=lambda r: r["seq"])
        assert [r["kind"] for r in ordered] == ["request", "decision", "result"]
        assert ordered[-1]["data"]["status"] == "expired"
        assert client.get("/audit/verify", headers=short_ttl.auth("bob")).json()["ok"] is True
    assert _actuation_count(short_ttl.opcua_url, "press-3") == count_before


def test_a_role_without_rights_is_refused_everywhere_with_a_reason(
    short_ttl: ShortTtlSystem,
) -> None:
    count_before = _actuation_count(short_ttl.opcua_url, "conveyor-2")
    with httpx.Client(base_url=short_ttl.base_url, timeout=30) as client:
        alice, vic = short_ttl.auth("alice"), short_ttl.auth("vic")
        created = client.post(
            "/work-orders", headers=alice, json={"asset": "press-3", "symptom": "oil on floor"}
        )
        assert created.status_code == 201, created.text
        wo = created.json()["id"]
        waiting = client.post(
            "/actions",
            headers=alice,
            json={"action": command("start", "press-3"), "reason": "shift start"},
        )
        assert waiting.status_code == 202, waiting.text
        request_id = waiting.json()["id"]
        head = client.get("/audit/verify", headers=short_ttl.auth("bob")).json()["head_seq"]

        # Reading is for every authenticated user.
        for path in ("/plant", "/lines", "/assets/press-3", f"/work-orders/{wo}", "/requests"):
            assert client.get(path, headers=vic).status_code == 200, path
        assert client.get("/approvals", headers=vic).json() == []

        refusals = [
            ("POST", "/work-orders", {"asset": "press-3", "symptom": "leak"},
             "role 'viewer' may not create work orders"),
            ("PATCH", f"/work-orders/{wo}", {"priority": "low"},
             "role 'viewer' may not change work orders"),
            ("POST", f"/work-orders/{wo}/transition", {"status": "planned"},
             "role 'viewer' may not change work orders"),
            ("DELETE", f"/work-orders/{wo}", None, "role 'viewer' may not change work orders"),
            ("GET", "/audit", None, "role 'viewer' may not read the audit trail"),
            ("GET", "/audit/verify", None, "role 'viewer' may not read the audit trail"),
            ("POST", f"/approvals/{request_id}/approve", {"reason": "why not"},
             "role viewer may not approve"),
            ("POST", f"/approvals/{request_id}/reject", {"reason": "why not"},
             "role viewer may not approve"),
            ("POST", "/lines/line-2/emergency-stop", {"reason": "test"},
             "role viewer has no emergency stop right"),
            ("POST", "/assets/conveyor-2/manual-override", {"enabled": True, "reason": "mine"},
             "role viewer has no manual override right"),
        ]  # fmt: skip
        for method, path, body, reason in refusals:
            response = client.request(method, path, headers=vic, json=body)
            assert response.status_code == 403, (method, path, response.text)
            assert reason in detail_text(response), (method, path, response.text)

        action = {"action": command("start", "conveyor-2"), "reason": "let me try"}
        denied = client.post("/actions", headers=vic, json=action)
        assert denied.status_code == 403, denied.text
        assert "role viewer may not request start" in denied.json()["message"]

        assert client.get(f"/work-orders/{wo}", headers=alice).json() == created.json()
        found = client.get(f"/requests/{request_id}", headers=alice).json()
        assert found["status"] in ("waiting_approval", "expired")
        assert found["approver"] is None
        trail = client.get("/audit", headers=short_ttl.auth("bob"), params={"limit": 1000}).json()
        new = sorted((r for r in trail if r["seq"] > head), key=lambda r: r["seq"])
        # Only the denied action left a trace (a denial is a decision worth keeping); an
        # expiry of alice's request may land meanwhile.
        traces = {(r["kind"], r["actor"]) for r in new}
        assert {("request", "vic"), ("decision", "vic")} <= traces
        assert traces <= {("request", "vic"), ("decision", "vic"), ("result", "alice")}
        conveyor = client.get("/assets/conveyor-2", headers=alice).json()["state"]
        assert (conveyor["run_state"], conveyor["manual_override"]) == ("stopped", False)
    assert _actuation_count(short_ttl.opcua_url, "conveyor-2") == count_before
