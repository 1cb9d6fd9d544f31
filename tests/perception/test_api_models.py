"""The model registry over REST on the live system (real app, simulator, audit trail):
who may change models, what is refused with which status, and that each change is audited.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from andon.settings import Settings
from perception.registry.artifact import MODEL_FILE
from perception.registry.keys import key_id
from perception.registry.store import ModelRegistry
from simulator.server import endpoint_url, free_tcp_port

from ..api.api_helpers import LiveSystem, eventually
from .core_helpers import FRAME, normal_frames, signed_vision

MODEL = "vision-test"
pytestmark = pytest.mark.slow  # starts the whole system once for the module


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSystem]:
    tmp: Path = tmp_path_factory.mktemp("andon-models")
    key = Ed25519PrivateKey.generate()
    public = tmp / "site.pub"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    settings = Settings(
        data_dir=tmp / "var",
        opcua_url=endpoint_url("127.0.0.1", free_tcp_port()),
        api_port=free_tcp_port(),
        log_level="WARNING",
        # Only the site's key: the repo's demo models (signed with the demo key) stay out.
        model_trusted_keys=(public,),
        inference_device="cpu",
        inference_threads=1,
    )
    registry = ModelRegistry(settings.models_dir, {key_id(key.public_key()): key.public_key()})
    for version, sign in (("1", 1.0), ("2", -1.0), ("3", 1.0)):
        registry.install(signed_vision(tmp / f"src-{version}", key, version, sign=sign))
    registry.promote(MODEL, "1")
    model_file = registry.path(MODEL, "3") / MODEL_FILE  # tampered after install
    model_file.write_bytes(model_file.read_bytes()[:-1] + b"\x01")
    system = LiveSystem.start(settings)
    yield system
    system.stop()


def _model(live: LiveSystem, user: str = "alice") -> dict:
    response = live.get(f"/models/{MODEL}", user)
    assert response.status_code == 200, response.text
    return response.json()


def _model_audit(live: LiveSystem) -> list[dict]:
    return live.audit(subject=f"model:{MODEL}")


def test_anyone_signed_in_reads_models_and_refused_versions_say_why(live: LiveSystem) -> None:
    assert live.client.get("/models").status_code == 401
    models = live.get("/models", "alice").json()
    assert [m["name"] for m in models] == [MODEL]  # the demo models are not trusted here
    model = models[0]
    assert model["active"] == "1" and model["health"] == "ok" and model["kind"] == "vision"
    assert model["provider"] == "CPUExecutionProvider"
    versions = {v["version"]: v for v in model["versions"]}
    assert versions["1"]["problem"] is None and versions["1"]["metrics"] == {"accuracy": 1.0}
    assert "model.onnx was modified after signing" in versions["3"]["problem"]
    assert live.get("/models/nothing-here", "alice").status_code == 404


def test_only_engineers_and_admins_change_models(live: LiveSystem) -> None:
    before = len(_model_audit(live))
    body = {"version": "2", "reason": "try the new one"}
    for user in ("alice", "bob", "carol"):  # operator, supervisor, maintenance
        response = live.post(f"/models/{MODEL}/promote", user, json=body)
        assert response.status_code == 403, response.text
        assert "may not change models" in response.json()["detail"]
    assert _model(live)["active"] == "1"
    assert len(_model_audit(live)) == before  # refused requests change and record nothing


def test_promote_and_rollback_are_applied_and_audited(live: LiveSystem) -> None:
    response = live.post(
        f"/models/{MODEL}/promote", "dave", json={"version": "2", "reason": "better recall"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["active"] == "2" and response.json()["previous"] == ["1"]
    answer = live.run(live.app.state.perception.infer(MODEL, "cam-1", normal_frames(1)[0]))
    assert (answer.version, answer.label) == ("2", "ok")  # version 2 says the opposite

    response = live.post(f"/models/{MODEL}/rollback", "root", json={"reason": "false alarms"})
    assert response.status_code == 200, response.text
    assert response.json()["active"] == "1"

    promote, rollback = _model_audit(live)[-2:]
    assert (promote["actor"], promote["role"], promote["kind"]) == ("dave", "engineer", "model")
    assert promote["reason"] == "better recall"
    assert promote["data"]["before"]["active"] == "1" and promote["data"]["after"]["active"] == "2"
    assert len(promote["data"]["sha256"]["model.onnx"]) == 64
    assert (rollback["actor"], rollback["role"], rollback["data"]["action"]) == (
        "root",
        "admin",
        "rollback",
    )


def test_bad_requests_are_refused_with_reasons(live: LiveSystem) -> None:
    before = len(_model_audit(live))
    cases = [
        ("promote", {"version": "3", "reason": "tampered"}, 422, "modified after signing"),
        ("promote", {"version": "9", "reason": "missing"}, 404, "no version '9'"),
        ("promote", {"version": "1", "reason": "again"}, 409, "already active"),
        ("promote", {"version": "2"}, 422, "reason"),
        ("promote", {"version": "../1", "reason": "escape"}, 422, "version"),
        ("shadow", {"version": "1", "reason": "itself"}, 409, "is the active version"),
        ("shadow", {"version": "3", "reason": "tampered"}, 422, "modified after signing"),
    ]
    for action, body, code, detail in cases:
        response = live.post(f"/models/{MODEL}/{action}", "dave", json=body)
        assert response.status_code == code, (action, body, response.text)
        assert detail in json.dumps(response.json()), (action, body, response.text)
    response = live.post("/models/Bad Name/promote", "dave", json={"version": "1", "reason": "x y"})
    assert response.status_code == 422
    response = live.post("/models/other/rollback", "dave", json={"reason": "nothing there"})
    assert response.status_code == 404
    assert _model(live)["active"] == "1"
    assert len(_model_audit(live)) == before


def test_shadow_is_compared_never_acted_on_and_can_be_stopped(live: LiveSystem) -> None:
    response = live.post(
        f"/models/{MODEL}/shadow", "dave", json={"version": "2", "reason": "compare"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["shadow"]["version"] == "2"
    perception = live.app.state.perception
    for value in np.linspace(0.3, 0.6, 5):
        frame = np.full(FRAME, value, dtype=np.float32)
        answer = live.run(perception.infer(MODEL, "cam-1", frame))
        assert (answer.version, answer.label) == ("1", "defect")

    def compared() -> bool:
        shadow = _model(live)["shadow"]
        return shadow is not None and shadow["comparisons"] >= 1

    eventually(compared, timeout=10)
    shadow = _model(live)["shadow"]
    assert shadow["disagreements"] == shadow["comparisons"]  # it says the opposite

    response = live.post(
        f"/models/{MODEL}/shadow", "dave", json={"version": None, "reason": "done"}
    )
    assert response.status_code == 200 and response.json()["shadow"] is None
    assert [r["data"]["action"] for r in _model_audit(live)[-2:]] == ["shadow", "shadow"]


def test_health_and_metrics_report_the_execution_provider(live: LiveSystem) -> None:
    health = live.client.get("/healthz").json()
    assert health["inference_provider"] == "CPUExecutionProvider"
    metrics = live.client.get("/metrics").text
    assert 'andon_inference_provider{provider="CPUExecutionProvider"} 1.0' in metrics
    assert (
        'andon_model_loaded{model="vision-test",provider="CPUExecutionProvider",'
        'role="active",version="1"} 1.0'
    ) in metrics
    assert "andon_inference_seconds_bucket" in metrics
