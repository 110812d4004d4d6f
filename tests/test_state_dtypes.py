"""The dtype and shape of each per-sequence state, per engine, against hand-checked bytes.

Sources (docs/math.md, "Per-sequence state by engine"): transformers 5.23 cache_utils.LinearAttentionLayer
keeps ``kernel`` convolution positions in the activations' dtype and the recurrent state in the dtype the
layer hands it (float32 from every scan: modeling_mamba's selective scan, modeling_mamba2's chunk scan,
the delta rules of modeling_qwen3_next / modeling_kimi_linear); vLLM 0.13.0 mamba_utils keeps
``kernel - 1`` positions and, with "auto" dtypes, both tensors in the model dtype (Kimi Delta Attention's
recurrent state in float32); SGLang 0.5.8 the conv state in bfloat16 and the recurrent state in
--mamba-ssm-dtype (float32 by default).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vram import presets
from vram.architectures import spec_from_config
from vram.engines._state import sglang_layout, vllm_layout
from vram.model import ModelSpec
from vram.options import build_workload
from vram.terms.kv import state_bytes_per_sequence

SWEEP: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "golden_sweep.json").read_text())["entries"]
BF16 = build_workload(dtype="bf16", seq_len=4096, batch_size=1)


def _engine_bytes(spec: ModelSpec) -> tuple[int, int]:
    vllm = sglang = 0
    for b in spec.decoder_blocks():
        if b.state is not None:
            vllm += b.count * vllm_layout(b.state, 1, 2, None, (), spec.model_type).bytes
            sglang += b.count * sglang_layout(b.state, 1, 4).bytes
    return vllm, sglang


def test_mamba1_state_per_engine_by_hand() -> None:
    # mamba-2.8b: d_model 2560, expand 2 -> inner 5120, d_state 16, d_conv 4, 64 layers, bf16.
    preset = presets.find_model("state-spaces/mamba-2.8b-hf")
    assert preset is not None
    spec = spec_from_config(preset.config, model_id=preset.id)
    inner, state, kernel, layers = 5120, 16, 4, 64
    # transformers: kernel positions in bf16, the SSM state as the scan returns it (float32).
    assert state_bytes_per_sequence(spec, BF16) == layers * (inner * kernel * 2 + inner * state * 4) == 23_592_960
    vllm, sglang = _engine_bytes(spec)
    # vLLM: kernel - 1 positions, both in the model dtype; SGLang: bf16 conv, float32 SSM state.
    assert vllm == layers * ((kernel - 1) * inner * 2 + inner * state * 2) == 12_451_840
    assert sglang == layers * ((kernel - 1) * inner * 2 + inner * state * 4) == 22_937_600


def test_gated_deltanet_state_per_engine_by_hand() -> None:
    # Qwen3-Next defaults: 48 layers, 36 Gated DeltaNet; 16 key heads x 128, 32 value heads x 128, kernel 4.
    spec = spec_from_config(SWEEP["qwen3_next"]["config"], model_id="x")
    conv, rec, layers = 2 * 16 * 128 + 32 * 128, 32 * 128 * 128, 36
    assert state_bytes_per_sequence(spec, BF16) == layers * (conv * 4 * 2 + rec * 4) == 77_856_768
    vllm, sglang = _engine_bytes(spec)
    assert vllm == layers * (conv * 3 * 2 + rec * 2) == 39_518_208
    assert sglang == layers * (conv * 3 * 2 + rec * 4) == 77_266_944


def test_minimax_lightning_state_is_in_the_values_dtype() -> None:
    # modeling_minimax: attn_weights_inter (K^T V) is allocated in value_states.dtype; no convolution.
    config = SWEEP["minimax"]["config"]
    spec = spec_from_config(config, model_id="x")
    # 32 heads, head_dim 4096 / 32 = 128 (head_dim null), 16 of the 32 layers linear.
    assert config["head_dim"] is None and config["layer_types"].count("linear_attention") == 16
    assert state_bytes_per_sequence(spec, BF16) == 16 * 32 * 128 * 128 * 2 == 16_777_216


def test_xlstm_cache_dtype_not_inference_state_dtype() -> None:
    # xLSTMModel.forward allocates xLSTMCache with dtype=inputs_embeds.dtype and copies each chunk's
    # states into it: the inference_state_dtype the kernels compute in does not change the cache.
    config = SWEEP["xlstm"]["config"]
    fp32 = spec_from_config({**config, "inference_state_dtype": "float32"}, model_id="x")
    bf16 = spec_from_config({**config, "inference_state_dtype": "bfloat16"}, model_id="x")
    assert state_bytes_per_sequence(fp32, BF16) == state_bytes_per_sequence(bf16, BF16) == 67_240_448
    fp32_run = build_workload(dtype="fp32", seq_len=4096, batch_size=1)
    assert state_bytes_per_sequence(fp32, fp32_run) == 2 * 67_240_448
