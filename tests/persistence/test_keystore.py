"""API keys: issue, authenticate, revoke; only hashes on disk, mode 0600."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from control.actions.models import Requester
from control.auth import KeyStore, UnknownKey, UnknownRole, ensure_demo_keys
from control.auth.cli import keys_app

ROLES = {"operator", "supervisor", "maintenance", "engineer", "admin"}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "api_keys.json"


def test_create_and_authenticate(path: Path) -> None:
    store = KeyStore(path, ROLES)
    key = store.create("alice", "operator")
    assert key.startswith("andon_") and len(key) > 40
    assert store.authenticate(key) == Requester(user="alice", role="operator")
    assert store.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert store.authenticate("not-a-key") is None
    assert store.authenticate("") is None


def test_only_hashes_on_disk_with_private_mode(path: Path) -> None:
    store = KeyStore(path, ROLES)
    key = store.create("alice", "operator")
    raw = path.read_text()
    assert key not in raw and key.removeprefix("andon_") not in raw
    entry = json.loads(raw)["keys"][0]
    assert set(entry) == {"id", "sha256", "user", "role", "created_at", "revoked", "revoked_at"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_revoke_by_id_and_by_key(path: Path) -> None:
    store = KeyStore(path, ROLES)
    first, second = store.create("alice", "operator"), store.create("bob", "supervisor")
    by_user = {entry.user: entry for entry in store.list()}
    assert store.revoke(by_user["alice"].id).revoked
    assert store.revoke(second).user == "bob"
    assert store.authenticate(first) is None and store.authenticate(second) is None
    assert all(entry.revoked and entry.revoked_at for entry in store.list())
    with pytest.raises(UnknownKey):
        store.revoke("000000000000")


def test_running_api_sees_changes_without_restart(path: Path) -> None:
    api, cli = KeyStore(path, ROLES), KeyStore(path, ROLES)
    assert api.authenticate("andon_x") is None  # no file yet
    key = cli.create("carol", "maintenance")
    assert api.authenticate(key) == Requester(user="carol", role="maintenance")
    cli.revoke(key)
    assert api.authenticate(key) is None


def test_roles_and_users_are_checked(path: Path) -> None:
    store = KeyStore(path, ROLES)
    with pytest.raises(UnknownRole, match="unknown role 'janitor'"):
        store.create("alice", "janitor")
    with pytest.raises(ValueError, match="invalid user id"):
        store.create("alice smith", "operator")
    key = store.create("dave", "engineer")
    # The role later left the plant model: the key no longer grants anything.
    assert KeyStore(path, ROLES - {"engineer"}).authenticate(key) is None


def test_demo_keys_once(path: Path) -> None:
    issued = ensure_demo_keys(path, ["operator", "supervisor", "maintenance", "engineer", "admin"])
    assert [(k.user, k.role) for k in issued] == [
        ("alice", "operator"),
        ("bob", "supervisor"),
        ("carol", "maintenance"),
        ("dave", "engineer"),
        ("root", "admin"),
    ]
    store = KeyStore(path, ROLES)
    assert all(store.authenticate(k.key) == Requester(user=k.user, role=k.role) for k in issued)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    store.revoke(issued[0].key)
    assert ensure_demo_keys(path, ROLES) == []


def test_keys_cli(path: Path) -> None:
    runner = CliRunner()
    args = ["--keys-file", str(path)]
    created = runner.invoke(keys_app, ["create", "--user", "erin", "--role", "operator", *args])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert KeyStore(path).authenticate(key) == Requester(user="erin", role="operator")

    listed = runner.invoke(keys_app, ["list", *args])
    assert listed.exit_code == 0 and "erin" in listed.output and key not in listed.output
    key_id = listed.output.split()[0]
    revoked = runner.invoke(keys_app, ["revoke", key_id, *args])
    assert revoked.exit_code == 0 and f"revoked {key_id}" in revoked.output
    assert KeyStore(path).authenticate(key) is None

    bad_role = runner.invoke(keys_app, ["create", "--user", "erin", "--role", "janitor", *args])
    assert bad_role.exit_code == 2 and "unknown role 'janitor'" in bad_role.output
    unknown = runner.invoke(keys_app, ["revoke", "nope", *args])
    assert unknown.exit_code == 2 and "no API key 'nope'" in unknown.output
