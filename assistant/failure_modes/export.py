"""Writes a trained LoRA as the GGUF adapter llama.cpp applies to the base model at run time.

What llama.cpp's ``convert_lora_to_gguf.py`` writes for a Qwen2 PEFT adapter, without needing
llama.cpp's sources: an ``adapter`` file of type ``lora`` with its alpha, and for every adapted
projection its A (rank x in) and B (out x rank) matrices under llama.cpp's tensor names.
Checked against that converter's output (README, "Model"). Needs the ``gguf`` package (the
``train`` extra); reading the file is llama.cpp's job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

# Hugging Face Qwen2 projection -> llama.cpp tensor name (gguf-py's tensor map for qwen2).
_GGUF_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
# PEFT's state-dict key of one LoRA matrix (adapter name already stripped).
_PEFT_KEY = re.compile(r"(?:.*\.)?layers\.(\d+)\.(\w+\.\w+)\.lora_([AB])\.weight")


def gguf_tensor_name(peft_key: str) -> str:
    """``...layers.3.self_attn.q_proj.lora_A.weight`` -> ``blk.3.attn_q.weight.lora_a``."""
    match = _PEFT_KEY.fullmatch(peft_key)
    if match is None or match[2] not in _GGUF_NAMES:
        raise ValueError(f"not a LoRA matrix of a Qwen2 projection: {peft_key!r}")
    block, projection, side = match.groups()
    return f"blk.{block}.{_GGUF_NAMES[projection]}.weight.lora_{side.lower()}"


def write_lora_gguf(tensors: Mapping[str, np.ndarray], alpha: float, path: Path) -> None:
    """``tensors`` (PEFT keys -> float arrays) as a float16 GGUF LoRA adapter at ``path``."""
    import gguf  # the train extra

    named = sorted((gguf_tensor_name(key), array) for key, array in tensors.items())
    if not named:
        raise ValueError("no LoRA matrices to write")
    writer = gguf.GGUFWriter(path, arch="qwen2")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    for name, array in named:
        writer.add_tensor(name, np.ascontiguousarray(array, dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
