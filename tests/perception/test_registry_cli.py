"""`andon models ...` against a real registry directory, real signatures, real ONNX Runtime
and the real audit trail (SQLite in the data directory)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from andon.cli import app
from perception.registry.artifact import MODEL_FILE
from perception.registry.store import ModelRegistry, Pointers

from .core_helpers import signed_vision

MODEL = "vision-test"


@pytest.fixture
def setup(tmp_path: Path) -> tuple[CliRunner, Path, Ed25519PrivateKey]:
    key = Ed25519PrivateKey.generate()
    public = tmp_path / "site.pub"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    env = {
        "ANDON_DATA_DIR": str(tmp_path / "var"),
        "ANDON_MODEL_TRUSTED_KEYS": json.dumps([str(public)]),
        "ANDON_INFERENCE_DEVICE": "cpu",
    }
    return CliRunner(env=env), tmp_path, key


def test_import_promote_rollback_shadow_are_verified_and_audited(setup) -> None:
    runner, tmp, key = setup
    for version in ("1", "2"):
        signed_vision(tmp / f"src-{version}", key, version)

    result = runner.invoke(app, ["models", "import", str(tmp / "src-1"), str(tmp / "src-2")])
    assert result.exit_code == 0, result.output
    assert "vision-test 1: installed" in result.output

    for args in (
        ["promote", MODEL, "1", "--reason", "first model", "--user", "dave"],
        ["promote", MODEL, "2", "--reason", "better recall", "--user", "dave"],
        ["shadow", MODEL, "1", "--reason", "compare the old one", "--user", "dave"],
        ["shadow", MODEL, "--off", "--reason", "enough", "--user", "dave"],
        ["rollback", MODEL, "--reason", "false alarms on coil B", "--user", "erin"],
    ):
        result = runner.invoke(app, ["models", *args])
        assert result.exit_code == 0, (args, result.output)

    registry = ModelRegistry(tmp / "var" / "models", {})
    assert registry.pointers(MODEL) == Pointers(active="1")
    listing = runner.invoke(app, ["models", "list"])
    assert listing.exit_code == 0 and "active" in listing.output and "accuracy=1" in listing.output

    tail = runner.invoke(app, ["audit", "tail", "-n", "10"])
    assert tail.exit_code == 0, tail.output
    lines = [line for line in tail.output.splitlines() if "model:vision-test" in line]
    assert len(lines) == 5
    assert "dave/cli" in lines[0] and '"better recall"' in lines[1]
    assert "erin/cli" in lines[-1] and '"action":"rollback"' in lines[-1]
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0


def test_refusals_are_clear_messages_and_change_nothing(setup) -> None:
    runner, tmp, key = setup
    signed_vision(tmp / "src-1", key, "1")
    assert runner.invoke(app, ["models", "import", str(tmp / "src-1")]).exit_code == 0
    assert (
        runner.invoke(app, ["models", "promote", MODEL, "1", "--reason", "go live"]).exit_code == 0
    )

    tampered = signed_vision(tmp / "src-2", key, "2")
    model = tampered / MODEL_FILE
    model.write_bytes(model.read_bytes()[:-1] + b"\x00")
    result = runner.invoke(app, ["models", "import", str(tampered)])
    assert result.exit_code == 2 and "model.onnx was modified after signing" in result.output

    stranger = signed_vision(tmp / "src-3", Ed25519PrivateKey.generate(), "3")
    result = runner.invoke(app, ["models", "verify", str(stranger)])
    assert result.exit_code == 1 and "not in the trust list" in result.output
    result = runner.invoke(app, ["models", "verify", str(tmp / "src-1")])
    assert result.exit_code == 0 and result.output.startswith("OK: vision-test 1")

    cases = [
        (["rollback", MODEL, "--reason", "undo"], "no earlier active version"),
        (["promote", MODEL, "7", "--reason", "why not"], "no version '7'"),
        (["promote", MODEL, "1", "--reason", "again"], "already active"),
        (["shadow", MODEL, "--reason", "compare"], "give a VERSION"),
        (["promote", "Bad/Name", "1", "--reason", "x y z"], "not a model name"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["models", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
    assert runner.invoke(app, ["models", "promote", MODEL, "1", "--reason", ""]).exit_code == 2
    assert ModelRegistry(tmp / "var" / "models", {}).pointers(MODEL) == Pointers(active="1")


def test_keygen_makes_a_usable_site_key(setup) -> None:
    runner, tmp, _ = setup
    result = runner.invoke(app, ["models", "keygen", "--out", str(tmp / "keys" / "site")])
    assert result.exit_code == 0, result.output
    assert (tmp / "keys" / "site.pem").is_file() and (tmp / "keys" / "site.pub").is_file()
    again = runner.invoke(app, ["models", "keygen", "--out", str(tmp / "keys" / "site")])
    assert again.exit_code == 2 and "not overwriting" in again.output
