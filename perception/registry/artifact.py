"""Signed model artifacts: a directory holding model.onnx, metadata.json and signature.json.

signature.json carries the sha256 of both files and an Ed25519 signature over them (and the
key id), so a flipped byte in either file, an edited signature or a key outside the trust
list is refused before the model is parsed, let alone run. The bytes that were verified are
the bytes the runtime loads: the files are read once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from perception.models import ModelMetadata
from perception.registry.keys import key_id

MODEL_FILE = "model.onnx"
METADATA_FILE = "metadata.json"
SIGNATURE_FILE = "signature.json"
FORMAT = "andon-model-artifact/1"
_SIGNED_FILES = (MODEL_FILE, METADATA_FILE)


class ArtifactError(Exception):
    """The artifact is missing, unsigned, tampered with, signed by an untrusted key or
    malformed; the message says which."""


@dataclass(frozen=True, slots=True)
class Artifact:
    directory: Path
    metadata: ModelMetadata
    onnx_model: bytes  # exactly the verified bytes
    key_id: str
    sha256: Mapping[str, str]  # file name -> hex digest, as signed

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def version(self) -> str:
        return self.metadata.version


def write_artifact(
    directory: Path,
    onnx_model: bytes,
    metadata: ModelMetadata,
    signing_key: Ed25519PrivateKey,
) -> Path:
    """Write and sign an artifact into `directory` (created if needed); returns it.

    The signature is written last, so an interrupted write never leaves a directory that
    verifies."""
    directory.mkdir(parents=True, exist_ok=True)
    contents = {
        MODEL_FILE: onnx_model,
        METADATA_FILE: (metadata.model_dump_json(indent=2) + "\n").encode(),
    }
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}
    kid = key_id(signing_key.public_key())
    signature = signing_key.sign(_message(kid, digests))
    document = {
        "format": FORMAT,
        "algorithm": "ed25519",
        "key_id": kid,
        "files": digests,
        "signature": base64.b64encode(signature).decode(),
    }
    contents[SIGNATURE_FILE] = (json.dumps(document, indent=2) + "\n").encode()
    (directory / SIGNATURE_FILE).unlink(missing_ok=True)
    for name, data in contents.items():
        _write_atomic(directory / name, data)
    return directory


def load_artifact(directory: Path, trusted_keys: Mapping[str, Ed25519PublicKey]) -> Artifact:
    """Read and verify an artifact; raises ArtifactError unless it is intact and signed by a
    trusted key."""
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: no such artifact directory")
    signature_path = directory / SIGNATURE_FILE
    if not signature_path.is_file():
        raise ArtifactError(f"{directory}: unsigned artifact (no {SIGNATURE_FILE}); refused")
    document = _read_signature(signature_path)
    kid = document["key_id"]
    public_key = trusted_keys.get(kid)
    if public_key is None:
        raise ArtifactError(
            f"{directory}: signed by key {kid}, which is not in the trust list "
            "(ANDON_MODEL_TRUSTED_KEYS); refused"
        )
    signed: dict[str, str] = document["files"]
    try:
        public_key.verify(document["signature_bytes"], _message(kid, signed))
    except InvalidSignature:
        raise ArtifactError(
            f"{directory}: {SIGNATURE_FILE} does not verify with key {kid} "
            "(the signature or its file list was altered); refused"
        ) from None
    contents: dict[str, bytes] = {}
    for name in _SIGNED_FILES:
        try:
            data = (directory / name).read_bytes()
        except OSError as exc:
            raise ArtifactError(f"{directory}: cannot read {name}: {exc.strerror}") from None
        if hashlib.sha256(data).hexdigest() != signed[name]:
            raise ArtifactError(f"{directory}: {name} was modified after signing; refused")
        contents[name] = data
    try:
        metadata = ModelMetadata.model_validate_json(contents[METADATA_FILE])
    except ValidationError as exc:
        # Signed but invalid: made by an incompatible trainer, not tampered with.
        raise ArtifactError(f"{directory}: {METADATA_FILE} is not valid metadata: {exc}") from None
    return Artifact(directory, metadata, contents[MODEL_FILE], kid, dict(signed))


def _message(kid: str, digests: Mapping[str, str]) -> bytes:
    """The signed bytes: canonical JSON of the format, key id and file digests."""
    body = {"format": FORMAT, "algorithm": "ed25519", "key_id": kid, "files": dict(digests)}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _read_signature(path: Path) -> dict[str, object]:
    try:
        document = json.loads(path.read_bytes())
        files = document["files"]
        valid = (
            document["format"] == FORMAT
            and document["algorithm"] == "ed25519"
            and isinstance(document["key_id"], str)
            and isinstance(files, dict)
            and set(files) == set(_SIGNED_FILES)
            and all(isinstance(v, str) for v in files.values())
        )
        signature = base64.b64decode(document["signature"], validate=True)
    except (OSError, ValueError, KeyError, TypeError, binascii.Error):
        valid = False
    if not valid:
        raise ArtifactError(f"{path.parent}: {SIGNATURE_FILE} is malformed; refused")
    return {**document, "signature_bytes": signature}


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
