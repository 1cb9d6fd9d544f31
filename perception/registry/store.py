"""The model registry on disk: `<root>/<name>/<version>/` holds a signed artifact and
`<root>/<name>/pointers.json` which version is active, which runs in shadow and the earlier
active versions (rollback targets).

Pointer changes are read-modify-write under an exclusive file lock and replace the file
atomically, so the API and the CLI (another process) never lose each other's change.
"""

from __future__ import annotations

import fcntl
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, ValidationError

from perception.registry.artifact import (
    METADATA_FILE,
    MODEL_FILE,
    SIGNATURE_FILE,
    Artifact,
    ArtifactError,
    load_artifact,
)

POINTERS_FILE = "pointers.json"
HISTORY = 20  # earlier active versions kept as rollback targets
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # as perception.models.ModelName
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


class RegistryError(Exception):
    pass


class NotFound(RegistryError):
    pass


class Conflict(RegistryError):
    """The change does not apply to the current state (already active, nothing to roll
    back to, a different artifact under the same version)."""


class Pointers(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    active: str | None = None
    shadow: str | None = None
    previous: tuple[str, ...] = ()  # newest last


class ModelRegistry:
    def __init__(self, root: Path, trusted_keys: Mapping[str, Ed25519PublicKey]) -> None:
        self.root = root
        self._trusted = trusted_keys

    def names(self) -> list[str]:
        """Models with at least one version or a pointer file (other files are ignored)."""
        if not self.root.is_dir():
            return []
        return sorted(
            d.name
            for d in self.root.iterdir()
            if d.is_dir()
            and _NAME.match(d.name)
            and (self.versions(d.name) or self._has_pointers(d))
        )

    def versions(self, name: str) -> list[str]:
        directory = self._dir(name)
        if not directory.is_dir():
            return []
        return sorted(d.name for d in directory.iterdir() if d.is_dir() and _VERSION.match(d.name))

    def path(self, name: str, version: str) -> Path:
        if not _VERSION.match(version):
            raise NotFound(f"{version!r} is not a model version")
        return self._dir(name) / version

    def load(self, name: str, version: str) -> Artifact:
        """The verified artifact of a version (ArtifactError: refused; NotFound: absent)."""
        path = self.path(name, version)
        if not path.is_dir():
            raise NotFound(f"model {name} has no version {version!r}")
        artifact = load_artifact(path, self._trusted)
        if (artifact.name, artifact.version) != (name, version):
            raise ArtifactError(
                f"{path}: holds {artifact.name} {artifact.version}, not {name} {version}; refused"
            )
        return artifact

    def pointers(self, name: str) -> Pointers:
        path = self._dir(name) / POINTERS_FILE
        try:
            return Pointers.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return Pointers()
        except (OSError, ValidationError) as exc:
            raise RegistryError(f"{path} is unreadable: {exc}") from None

    def install(self, source: Path) -> tuple[Artifact, bool]:
        """Copy a verified artifact into the registry; (artifact, False) when that exact
        artifact is already there. A different artifact under the same version: Conflict."""
        artifact = load_artifact(source, self._trusted)
        target = self.path(artifact.name, artifact.version)
        if target.exists():
            try:
                present = self.load(artifact.name, artifact.version)
            except ArtifactError as exc:
                raise Conflict(f"{target} exists and is refused: {exc}") from None
            if present.sha256 != artifact.sha256:
                raise Conflict(
                    f"model {artifact.name} already has a different version {artifact.version}"
                )
            return present, False
        staging = target.with_name(f".{target.name}.installing")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name in (MODEL_FILE, METADATA_FILE, SIGNATURE_FILE):
            shutil.copyfile(source / name, staging / name)
        staging.rename(target)  # the version appears whole or not at all
        return self.load(artifact.name, artifact.version), True

    def promote(self, name: str, version: str) -> tuple[Pointers, Pointers]:
        """Make `version` active; the one it replaces becomes the rollback target."""

        def change(p: Pointers) -> Pointers:
            self._require(name, version)
            if p.active == version:
                raise Conflict(f"{name} {version} is already active")
            previous = (*p.previous, p.active) if p.active else p.previous
            shadow = None if p.shadow == version else p.shadow
            return Pointers(active=version, shadow=shadow, previous=previous[-HISTORY:])

        return self._update(name, change)

    def rollback(self, name: str) -> tuple[Pointers, Pointers]:
        """Make the previous active version active again."""

        def change(p: Pointers) -> Pointers:
            if not p.previous:
                raise Conflict(f"{name} has no earlier active version to roll back to")
            target = p.previous[-1]
            shadow = None if p.shadow == target else p.shadow
            return Pointers(active=target, shadow=shadow, previous=p.previous[:-1])

        return self._update(name, change)

    def set_shadow(self, name: str, version: str | None) -> tuple[Pointers, Pointers]:
        """Run `version` beside the active one (None: stop shadowing)."""

        def change(p: Pointers) -> Pointers:
            if version is not None:
                self._require(name, version)
                if p.active == version:
                    raise Conflict(f"{name} {version} is the active version")
            return p.model_copy(update={"shadow": version})

        return self._update(name, change)

    def _update(
        self, name: str, change: Callable[[Pointers], Pointers]
    ) -> tuple[Pointers, Pointers]:
        directory = self._dir(name)
        directory.mkdir(parents=True, exist_ok=True)
        with _locked(directory / ".lock"):
            before = self.pointers(name)
            after = change(before)
            tmp = directory / f".{POINTERS_FILE}.tmp"
            tmp.write_text(after.model_dump_json(indent=2) + "\n")
            tmp.replace(directory / POINTERS_FILE)
        return before, after

    def _require(self, name: str, version: str) -> None:
        if not self.path(name, version).is_dir():
            raise NotFound(f"model {name} has no version {version!r}")

    def _dir(self, name: str) -> Path:
        if not _NAME.match(name):
            raise NotFound(f"{name!r} is not a model name")
        return self.root / name

    @staticmethod
    def _has_pointers(directory: Path) -> bool:
        return (directory / POINTERS_FILE).is_file()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
