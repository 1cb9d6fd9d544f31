"""Signed artifacts (real Ed25519, real files) and the on-disk registry of versions."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from perception.models import ModelMetadata
from perception.registry.artifact import (
    METADATA_FILE,
    MODEL_FILE,
    SIGNATURE_FILE,
    ArtifactError,
    load_artifact,
    write_artifact,
)
from perception.registry.keys import (
    DEMO_PUBLIC_KEY,
    DEMO_SIGNING_KEY,
    SigningKeyError,
    generate_key_pair,
    key_id,
    load_signing_key,
    trusted_keys,
)
from perception.registry.store import Conflict, ModelRegistry, NotFound, Pointers

from .core_helpers import signed_vision, vision_metadata, vision_model


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def trust(key: Ed25519PrivateKey) -> dict:
    return {key_id(key.public_key()): key.public_key()}


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


# --- artifacts ----------------------------------------------------------------------------


def test_round_trip_keeps_model_metadata_and_key(tmp_path: Path, key, trust) -> None:
    onnx_model = vision_model()
    metadata = vision_metadata("2026.11.26-1")
    write_artifact(tmp_path / "a", onnx_model, metadata, key)

    artifact = load_artifact(tmp_path / "a", trust)

    assert artifact.onnx_model == onnx_model
    assert artifact.metadata == metadata
    assert artifact.key_id == key_id(key.public_key())
    assert artifact.sha256[MODEL_FILE] == hashlib.sha256(onnx_model).hexdigest()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        METADATA_FILE,
        MODEL_FILE,
        SIGNATURE_FILE,
    ]


def test_unsigned_artifact_is_refused(tmp_path: Path, key, trust) -> None:
    directory = signed_vision(tmp_path / "a", key)
    (directory / SIGNATURE_FILE).unlink()
    with pytest.raises(ArtifactError, match="unsigned"):
        load_artifact(directory, trust)


@pytest.mark.parametrize("file", [MODEL_FILE, METADATA_FILE])
@pytest.mark.parametrize("where", [0, -1, 100])
def test_a_flipped_byte_in_a_signed_file_is_refused(
    tmp_path: Path, key, trust, file: str, where: int
) -> None:
    directory = signed_vision(tmp_path / "a", key)
    _flip(directory / file, where)
    with pytest.raises(ArtifactError, match=re.escape(f"{file} was modified after signing")):
        load_artifact(directory, trust)


def test_a_flipped_bit_in_the_signature_is_refused(tmp_path: Path, key, trust) -> None:
    directory = signed_vision(tmp_path / "a", key)
    document = json.loads((directory / SIGNATURE_FILE).read_text())
    raw = bytearray(base64.b64decode(document["signature"]))
    raw[10] ^= 0x01
    document["signature"] = base64.b64encode(bytes(raw)).decode()
    (directory / SIGNATURE_FILE).write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match="does not verify"):
        load_artifact(directory, trust)


def test_replacing_the_model_and_its_digest_is_refused(tmp_path: Path, key, trust) -> None:
    """The attack that matters: swap the model and update the digest beside it."""
    directory = signed_vision(tmp_path / "a", key)
    evil = vision_model(sign=-1.0)
    (directory / MODEL_FILE).write_bytes(evil)
    document = json.loads((directory / SIGNATURE_FILE).read_text())
    document["files"][MODEL_FILE] = hashlib.sha256(evil).hexdigest()
    (directory / SIGNATURE_FILE).write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match="does not verify"):
        load_artifact(directory, trust)


def test_a_key_outside_the_trust_list_is_refused(tmp_path: Path, trust) -> None:
    stranger = Ed25519PrivateKey.generate()
    directory = signed_vision(tmp_path / "a", stranger)
    with pytest.raises(ArtifactError, match="not in the trust list"):
        load_artifact(directory, trust)


def test_claiming_a_trusted_key_id_does_not_help(tmp_path: Path, key, trust) -> None:
    """Signed by another key but labelled with the trusted key's id."""
    stranger = Ed25519PrivateKey.generate()
    directory = signed_vision(tmp_path / "a", stranger)
    document = json.loads((directory / SIGNATURE_FILE).read_text())
    document["key_id"] = key_id(key.public_key())
    (directory / SIGNATURE_FILE).write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match="does not verify"):
        load_artifact(directory, trust)


@pytest.mark.parametrize("content", [b"", b"[]", b"{not json", b'{"format": "x"}'])
def test_a_malformed_signature_file_is_refused(tmp_path: Path, key, trust, content) -> None:
    directory = signed_vision(tmp_path / "a", key)
    (directory / SIGNATURE_FILE).write_bytes(content)
    with pytest.raises(ArtifactError, match="malformed"):
        load_artifact(directory, trust)


def test_missing_directory_and_missing_model_file(tmp_path: Path, key, trust) -> None:
    with pytest.raises(ArtifactError, match="no such artifact"):
        load_artifact(tmp_path / "nowhere", trust)
    directory = signed_vision(tmp_path / "a", key)
    (directory / MODEL_FILE).unlink()
    with pytest.raises(ArtifactError, match=r"cannot read model\.onnx"):
        load_artifact(directory, trust)


def test_metadata_rules() -> None:
    with pytest.raises(ValidationError, match="at least two classes"):
        vision_metadata("1", classes=("only",))
    with pytest.raises(ValidationError, match="batch"):
        vision_metadata("1", inputs=({"name": "image", "shape": (1, 1, 8, 8)},))
    with pytest.raises(ValidationError, match="one more edge"):
        vision_metadata(
            "1", reference_stats={"pixel_mean": {"edges": (0, 1), "fractions": (0.5, 0.5)}}
        )
    with pytest.raises(ValidationError, match="version"):
        vision_metadata("../../etc")
    data = vision_metadata("1").model_dump(mode="json")
    data["kind"], data["classes"] = "telemetry", []
    with pytest.raises(ValidationError, match="anomaly"):
        ModelMetadata.model_validate(data)


# --- keys ---------------------------------------------------------------------------------


def test_demo_key_pair_matches_and_has_a_stable_id() -> None:
    private = load_signing_key(DEMO_SIGNING_KEY)
    trust = trusted_keys([DEMO_PUBLIC_KEY])
    assert list(trust) == ["4931883bbe31727a"]  # the id perception/keys/README.md names
    trust["4931883bbe31727a"].verify(private.sign(b"x"), b"x")


def test_generated_key_pair_and_bad_key_files(tmp_path: Path) -> None:
    kid = generate_key_pair(tmp_path / "site.pem", tmp_path / "site.pub")
    assert (tmp_path / "site.pem").stat().st_mode & 0o077 == 0  # owner only
    assert list(trusted_keys([tmp_path / "site.pub"])) == [kid]
    with pytest.raises(SigningKeyError, match="exists"):
        generate_key_pair(tmp_path / "site.pem", tmp_path / "other.pub")
    with pytest.raises(SigningKeyError, match="cannot read signing key"):
        load_signing_key(tmp_path / "site.pub")
    with pytest.raises(SigningKeyError, match="cannot read public key"):
        trusted_keys([tmp_path / "missing.pub"])


# --- registry -----------------------------------------------------------------------------


def test_install_is_verified_idempotent_and_refuses_a_different_same_version(
    tmp_path: Path, key, trust
) -> None:
    registry = ModelRegistry(tmp_path / "models", trust)
    artifact, added = registry.install(signed_vision(tmp_path / "v1", key, "1"))
    assert (
        added and registry.names() == ["vision-test"] and registry.versions("vision-test") == ["1"]
    )
    assert registry.install(tmp_path / "v1")[1] is False
    other = signed_vision(tmp_path / "other", key, "1", sign=-1.0)
    with pytest.raises(Conflict, match="different version 1"):
        registry.install(other)
    tampered = signed_vision(tmp_path / "v2", key, "2")
    _flip(tampered / MODEL_FILE, 5)
    with pytest.raises(ArtifactError):
        registry.install(tampered)
    assert registry.versions("vision-test") == ["1"]
    assert artifact.directory == tmp_path / "models" / "vision-test" / "1"


def test_an_artifact_moved_to_another_version_directory_is_refused(
    tmp_path: Path, key, trust
) -> None:
    registry = ModelRegistry(tmp_path / "models", trust)
    registry.install(signed_vision(tmp_path / "v1", key, "1"))
    (tmp_path / "models" / "vision-test" / "1").rename(tmp_path / "models" / "vision-test" / "9")
    with pytest.raises(ArtifactError, match="holds vision-test 1, not vision-test 9"):
        registry.load("vision-test", "9")


def test_pointer_changes_persist_and_roll_back(tmp_path: Path, key, trust) -> None:
    registry = ModelRegistry(tmp_path / "models", trust)
    for version in ("1", "2", "3"):
        registry.install(signed_vision(tmp_path / version, key, version))

    registry.promote("vision-test", "1")
    registry.promote("vision-test", "2")
    registry.set_shadow("vision-test", "3")
    before, after = registry.promote("vision-test", "3")  # promoting the shadow ends it
    assert before == Pointers(active="2", shadow="3", previous=("1",))
    assert after == Pointers(active="3", shadow=None, previous=("1", "2"))

    reopened = ModelRegistry(tmp_path / "models", trust)  # another process, e.g. the CLI
    assert reopened.pointers("vision-test") == after
    reopened.rollback("vision-test")
    reopened.rollback("vision-test")
    assert registry.pointers("vision-test") == Pointers(active="1")
    with pytest.raises(Conflict, match="no earlier active version"):
        registry.rollback("vision-test")
    with pytest.raises(Conflict, match="already active"):
        registry.promote("vision-test", "1")
    with pytest.raises(Conflict, match="is the active version"):
        registry.set_shadow("vision-test", "1")
    with pytest.raises(NotFound, match="no version '7'"):
        registry.promote("vision-test", "7")
    with pytest.raises(NotFound, match="not a model name"):
        registry.promote("../etc", "1")


def test_registry_ignores_other_files_in_the_models_directory(tmp_path: Path, key, trust) -> None:
    """The LLM weights cache shares data_dir/models."""
    registry = ModelRegistry(tmp_path / "models", trust)
    registry.install(signed_vision(tmp_path / "v1", key, "1"))
    (tmp_path / "models" / "qwen2.5-coder.gguf").write_bytes(b"weights")
    (tmp_path / "models" / "empty").mkdir()
    assert registry.names() == ["vision-test"]
