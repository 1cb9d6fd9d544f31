"""`andon up` end to end for retrieval: it indexes its configured documents in the background,
and REST search, citation lookup and the document index answer with the caller's access."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from control.auth.keys import KeyStore
from control.plant.loader import load_plant
from simulator.server import endpoint_url, free_tcp_port

FIXTURES = Path(__file__).with_name("fixtures")
USERS = {"alice": "operator", "dave": "engineer", "root": "admin"}
RESTRICTED = """---
doc_id: press-3-overload-setting
title: Overload valve setting (engineering only)
doc_type: engineering_procedure
revision: "2"
assets: [press-3]
access_groups: [engineering]
---
# Overload valve setting

## 2 Setting

Set the hydraulic overload relief valve P400-HOL-V3 to 212 bar with test gauge TG-77.
"""


@dataclass
class System:
    base: str
    keys: dict[str, str]
    corpus: Path

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[user]}"}

    def post(self, user: str, path: str, body: object) -> httpx.Response:
        return httpx.post(self.base + path, json=body, headers=self.auth(user), timeout=30)

    def get(self, user: str, path: str, **params: str) -> httpx.Response:
        return httpx.get(self.base + path, params=params, headers=self.auth(user), timeout=30)


def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    root = tmp_path_factory.mktemp("andon-search")
    corpus = root / "corpus"
    shutil.copytree(FIXTURES, corpus)
    (corpus / "overload.md").write_text(RESTRICTED)
    data = root / "data"
    data.mkdir()
    store = KeyStore(data / "api_keys.json", roles={r.id for r in load_plant().roles})
    keys = {user: store.create(user, role) for user, role in USERS.items()}
    port = free_tcp_port()
    env = {
        **os.environ,
        "ANDON_DATA_DIR": str(data),
        "ANDON_OPCUA_URL": endpoint_url("127.0.0.1", free_tcp_port()),
        "ANDON_CORPORA": json.dumps([str(corpus)]),
        "ANDON_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "andon.cli", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    system = System(f"http://127.0.0.1:{port}", keys, corpus)
    try:

        def indexed() -> bool:
            try:
                documents = system.get("root", "/documents")
            except httpx.TransportError:
                assert proc.poll() is None, "andon up exited"
                return False
            return documents.status_code == 200 and len(documents.json()) == 5

        eventually(indexed, 120, "the configured documents to be indexed")
        yield system
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_search_returns_cited_passages(system: System) -> None:
    response = system.post("alice", "/search", {"query": "P400-BRG-23160 bearing", "top_k": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["hits"]) == 3 and body["abstain"] is False
    for hit in body["hits"]:
        assert "#" in hit["citation_id"] and hit["text"] and hit["similarity"] > 0
    cited = system.get("alice", "/passages", citation_id=body["hits"][0]["citation_id"])
    assert cited.status_code == 200 and cited.json()["text"] == body["hits"][0]["text"]


def test_restricted_documents_stay_with_their_group(system: System) -> None:
    query = {"query": "overload relief valve setting bar P400-HOL-V3", "top_k": 10}
    operator = system.post("alice", "/search", query).json()["hits"]
    assert all(h["doc_id"] != "press-3-overload-setting" for h in operator)
    engineer = system.post("dave", "/search", query).json()["hits"]
    assert engineer[0]["doc_id"] == "press-3-overload-setting"
    citation = engineer[0]["citation_id"]
    assert system.get("alice", "/passages", citation_id=citation).status_code == 404
    assert system.get("dave", "/passages", citation_id=citation).status_code == 200
    listed = {d["doc_id"] for d in system.get("alice", "/documents").json()}
    assert "press-3-overload-setting" not in listed and len(listed) == 4


def test_filters_apply(system: System) -> None:
    body = {"query": "bearing", "top_k": 10, "filters": {"doc_types": ["maintenance_log"]}}
    hits = system.post("alice", "/search", body).json()["hits"]
    assert hits and all(h["doc_type"] == "maintenance_log" for h in hits)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "x" * 1001}, "query"),
        ({"query": "bearing", "top_k": 0}, "top_k"),
        ({"query": "bearing", "filters": {"doc_types": ["novel"]}}, "doc_types"),
        (
            {"query": "bearing", "filters": {"date_from": "2026-02-01", "date_to": "2026-01-01"}},
            "date_to",
        ),
        ({"query": "bearing", "surprise": 1}, "surprise"),
    ],
)
def test_bad_search_requests_get_a_422_with_the_field(
    system: System, body: dict[str, object], field: str
) -> None:
    response = system.post("alice", "/search", body)
    assert response.status_code == 422
    assert field in response.text


def test_search_needs_credentials(system: System) -> None:
    assert httpx.post(system.base + "/search", json={"query": "x"}).status_code == 401


def test_only_an_admin_manages_the_index(system: System) -> None:
    assert (
        system.post("dave", "/documents/sync", {"paths": [str(system.corpus)]}).status_code == 403
    )
    missing = system.post("root", "/documents/sync", {"paths": ["/no/such/folder"]})
    assert missing.status_code == 422 and "/no/such/folder" in missing.text
    again = system.post("root", "/documents/sync", {"paths": [str(system.corpus)]})
    assert again.status_code == 200 and again.json()["passages"] == 0  # nothing changed
    delete = httpx.delete(
        system.base + "/documents/line-2-changeover-sop", headers=system.auth("dave"), timeout=30
    )
    assert delete.status_code == 403
    delete = httpx.delete(
        system.base + "/documents/line-2-changeover-sop", headers=system.auth("root"), timeout=30
    )
    assert delete.status_code == 204
    assert "line-2-changeover-sop" not in {
        d["doc_id"] for d in system.get("root", "/documents").json()
    }
    gone = httpx.delete(
        system.base + "/documents/line-2-changeover-sop", headers=system.auth("root"), timeout=30
    )
    assert gone.status_code == 404


def test_readiness_reports_the_document_index(system: System) -> None:
    # The fixture waited for every document; the sync itself ends a moment after the last one.
    eventually(
        lambda: httpx.get(system.base + "/readyz", timeout=10).json()["documents"] == "ok",
        30,
        "the sync to end",
    )
    assert httpx.get(system.base + "/readyz", timeout=10).json()["ready"] is True


def test_search_latency_is_exported(system: System) -> None:
    system.post("alice", "/search", {"query": "bearing"})
    metrics = httpx.get(system.base + "/metrics", timeout=10).text
    assert "andon_search_seconds_count" in metrics
    assert "andon_documents_indexed" in metrics
