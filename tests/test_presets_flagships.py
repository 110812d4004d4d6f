"""The 2025-26 flagship presets answer as published: cache per token and per sequence computed by hand
from each config.json, and the stored format by default (their counts are held to transformers in
test_architectures.py through tests/data/golden_params.json)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import DATA
from vram import presets
from vram.architectures import spec_from_config
from vram.cli import app
from vram.estimate import estimate, kv_cache_bytes_per_token
from vram.options import build_workload
from vram.quantization import StoredScheme
from vram.terms.kv import state_bytes_per_sequence

runner = CliRunner()


def doc_of(*args: str) -> dict[str, Any]:
    res = runner.invoke(app, ["estimate", *args, "--format", "json"])
    assert res.exit_code == 0, res.stderr
    out: dict[str, Any] = json.loads(res.stdout)
    return out


# Per token, bf16 (2 bytes a value), per layer:
#   GQA: 2 (K and V) x kv_heads x head_dim x 2.
#   MLA: (kv_lora_rank + qk_rope_head_dim) x 2; DSA adds the indexer key, index_head_dim x 2.
# Per sequence, Gated DeltaNet (transformers' Qwen3-Next / Qwen3.5 cache): the conv state holds
# conv_kernel x (2 x key_heads x key_dim + value_heads x value_dim) bf16 values and the recurrent state
# value_heads x key_dim x value_dim fp32 values.
GDN_16x32 = 4 * (2 * 16 * 128 + 32 * 128) * 2 + 32 * 128 * 128 * 4  # 2,162,688
GDN_16x48 = 4 * (2 * 16 * 128 + 48 * 128) * 2 + 48 * 128 * 128 * 4  # 3,227,648
GDN_16x64 = 4 * (2 * 16 * 128 + 64 * 128) * 2 + 64 * 128 * 128 * 4  # 4,292,608
CASES = {
    # id: (bytes per token, state bytes per sequence)
    "Qwen/Qwen3-Next-80B-A3B-Thinking": (12 * 2 * 2 * 256 * 2, 36 * GDN_16x32),  # 48 layers, every 4th full
    "Qwen/Qwen3.5-397B-A17B": (15 * 2 * 2 * 256 * 2, 45 * GDN_16x64),  # 60 layers
    "Qwen/Qwen3.5-122B-A10B": (12 * 2 * 2 * 256 * 2, 36 * GDN_16x64),  # 48 layers
    "Qwen/Qwen3.5-35B-A3B": (10 * 2 * 2 * 256 * 2, 30 * GDN_16x32),  # 40 layers
    "Qwen/Qwen3.6-35B-A3B": (10 * 2 * 2 * 256 * 2, 30 * GDN_16x32),
    "Qwen/Qwen3.5-27B": (16 * 2 * 4 * 256 * 2, 48 * GDN_16x48),  # 64 layers, 4 KV heads
    "Qwen/Qwen3-VL-32B-Instruct": (64 * 2 * 8 * 128 * 2, 0),
    "Qwen/Qwen3-235B-A22B": (94 * 2 * 4 * 128 * 2, 0),
    "Qwen/Qwen3-Coder-480B-A35B-Instruct": (62 * 2 * 8 * 128 * 2, 0),
    "deepseek-ai/DeepSeek-V3": (61 * (512 + 64) * 2, 0),
    "deepseek-ai/DeepSeek-V3.1": (61 * (512 + 64) * 2, 0),
    "deepseek-ai/DeepSeek-V3.2": (61 * (512 + 64 + 128) * 2, 0),
    "moonshotai/Kimi-K2-Instruct": (61 * (512 + 64) * 2, 0),
    "moonshotai/Kimi-K2.5": (61 * (512 + 64) * 2, 0),
    "zai-org/GLM-5": (78 * (512 + 64 + 128) * 2, 0),
    "zai-org/GLM-5.1": (78 * (512 + 64 + 128) * 2, 0),
    # GLM-5.2: indexer_types FFF then SSSF...: 21 layers run (and cache) the indexer, 57 reuse its top-k.
    "zai-org/GLM-5.2": (78 * (512 + 64) * 2 + 21 * 128 * 2, 0),
    "nvidia/Kimi-K2.6-NVFP4": (61 * (512 + 64) * 2, 0),
    # MiMo-V2-Flash: keys 192 wide, values 128; full layers 4 KV heads, sliding layers 8 (window 128 + 1).
    "XiaomiMiMo/MiMo-V2-Flash": (9 * 4 * (192 + 128) * 2 + 39 * 8 * (192 + 128) * 2, 0),
    # gpt-oss-120b: 36 layers alternating sliding (128) and full, 8 KV heads x 64.
    "openai/gpt-oss-120b": (36 * 2 * 8 * 64 * 2, 0),
}


@pytest.mark.parametrize(("model_id", "expected"), sorted(CASES.items()))
def test_cache_per_token_and_per_sequence(model_id: str, expected: tuple[int, int]) -> None:
    kv = doc_of(model_id)["kv_cache"]
    assert (kv["bytes_per_token"], kv["state_bytes_per_sequence"]) == expected


# Configs kept as test fixtures only (their copies leave out fields of the published file, so they are not
# presets); their counts are held to transformers like the others.
FIXTURES = {
    # Llama 4: 48 layers, every 4th global (NoPE), the rest chunked at 8192; 8 KV heads x 128.
    "meta-llama__Llama-4-Scout-17B-16E-Instruct": (48 * 2 * 8 * 128 * 2, 0),
    "meta-llama__Llama-4-Maverick-17B-128E-Instruct": (48 * 2 * 8 * 128 * 2, 0),
    "MiniMaxAI__MiniMax-M2.5": (62 * 2 * 8 * 128 * 2, 0),
    "Qwen__Qwen3-VL-235B-A22B-Instruct": (94 * 2 * 4 * 128 * 2, 0),
    "Qwen__Qwen3-VL-30B-A3B-Instruct": (48 * 2 * 4 * 128 * 2, 0),
    "Qwen__Qwen3-VL-8B-Instruct": (36 * 2 * 8 * 128 * 2, 0),
    # GLM-4.7 (glm4_moe): 92 layers, 8 KV heads x 128; GLM-4.7-Flash (glm4_moe_lite) is MLA, 47 layers.
    "zai-org__GLM-4.7-FP8": (92 * 2 * 8 * 128 * 2, 0),
    "zai-org__GLM-4.7-Flash": (47 * (512 + 64) * 2, 0),
    "moonshotai__Kimi-K2-Thinking": (61 * (512 + 64) * 2, 0),
    # layer_types "deepseek_sparse_attention", the legacy name of transformers' indexed_attention.
    "nvidia__GLM-5.2-NVFP4": (78 * (512 + 64) * 2 + 21 * 128 * 2, 0),
    "nvidia__Qwen3.5-397B-A17B-NVFP4": (15 * 2 * 2 * 256 * 2, 45 * GDN_16x64),
}


@pytest.mark.parametrize(("stem", "expected"), sorted(FIXTURES.items()))
def test_fixture_cache_per_token_and_per_sequence(stem: str, expected: tuple[int, int]) -> None:
    spec = spec_from_config(json.loads((DATA / "configs" / f"{stem}.json").read_text()), model_id=stem)
    w = build_workload(dtype="bf16")
    assert (kv_cache_bytes_per_token(spec, w), state_bytes_per_sequence(spec, w)) == expected


def test_window_and_chunk_bound_what_is_kept() -> None:
    config = json.loads((DATA / "configs" / "meta-llama__Llama-4-Scout-17B-16E-Instruct.json").read_text())
    spec = spec_from_config(config, model_id="meta-llama/Llama-4-Scout-17B-16E-Instruct")
    # 16,384 tokens: the 36 chunked layers keep 8,192, the 12 global layers all of them.
    w = build_workload(dtype="bf16", seq_len=16384)
    assert estimate(spec, w).breakdown.kv_cache_bytes == (36 * 8192 + 12 * 16384) * 2 * 8 * 128 * 2
    mimo = {layer["kind"]: layer for layer in doc_of("XiaomiMiMo/MiMo-V2-Flash")["kv_cache"]["layers"]}
    assert (mimo["full"]["layers"], mimo["sliding"]["layers"], mimo["sliding"]["window"]) == (9, 39, 129)


@pytest.mark.parametrize(("model_id", "stored"), [
    ("deepseek-ai/DeepSeek-V3", "FP8"), ("deepseek-ai/DeepSeek-V3.1", "FP8"), ("deepseek-ai/DeepSeek-V3.2", "FP8"),
    ("moonshotai/Kimi-K2-Instruct", "FP8"), ("zai-org/GLM-5-FP8", "FP8"),
    ("XiaomiMiMo/MiMo-V2-Flash", "FP8"), ("Qwen/Qwen3-235B-A22B-FP8", "FP8"),
    ("moonshotai/Kimi-K2.5", "INT4 group g32"), ("openai/gpt-oss-120b", "MXFP4"),
    ("nvidia/Kimi-K2.6-NVFP4", "NVFP4"),
])
def test_published_quantized_checkpoints_are_estimated_as_stored(model_id: str, stored: str) -> None:
    doc = doc_of(model_id)
    assert doc["workload"]["dtype"] == "stored"
    assert doc["workload"]["stored_format"].startswith(stored)
    assert doc["breakdown"]["weights_bytes"] < 1.2 * doc["model"]["parameters"]


def test_gpt_oss_120b_experts_in_mxfp4() -> None:
    doc = doc_of("openai/gpt-oss-120b")
    # 36 layers x 128 experts x (2880 x 5760 + 2880 x 2880) values at 4 bits + one E8M0 byte per 32;
    # everything else (attention, router, biases, embeddings) in bf16.
    experts = 36 * 128 * (2880 * 5760 + 2880 * 2880)
    other = doc["model"]["parameters"] - experts
    assert doc["breakdown"]["weights_bytes"] == experts // 2 + experts // 32 + 2 * other


def test_kimi_k2_is_counted_as_the_class_its_architectures_name() -> None:
    doc = doc_of("moonshotai/Kimi-K2-Instruct")
    assert doc["model"]["parameters"] == 1_026_408_209_408
    assert any("kimi_k2" in note and "deepseek_v3" in note for note in doc["notes"])


def test_unquantized_releases_stay_in_their_dtype() -> None:
    doc = doc_of("zai-org/GLM-5")
    assert doc["workload"]["stored_format"] is None
    assert doc["breakdown"]["weights_bytes"] == 2 * doc["model"]["parameters"]


def test_shared_dsa_layers_have_no_indexer() -> None:
    """transformers 5.23 modeling_glm_moe_dsa: a layer whose indexer_types entry is "shared" reuses the
    previous full layer's top-k and builds no indexer (wq_b, wk, k_norm, weights_proj)."""
    config = json.loads((DATA / "configs" / "zai-org__GLM-5.2.json").read_text())
    shared = sum(t == "shared" for t in config["indexer_types"])
    every_layer_full = dict(config, indexer_types=["full"] * config["num_hidden_layers"])
    # GLM-5.2: q_lora_rank 2048, 32 indexer heads x 128, hidden 6144.
    indexer = 2048 * 32 * 128 + 6144 * 128 + 6144 * 32 + 2 * 128
    full = spec_from_config(every_layer_full, model_id="x").parameters
    assert (shared, full - spec_from_config(config, model_id="x").parameters) == (57, 57 * indexer)
    pattern = dict(config, indexer_types=None, index_topk_pattern="FFF" + "SSSF" * 18 + "SSS")
    assert spec_from_config(pattern, model_id="x").parameters == spec_from_config(config, model_id="x").parameters


def test_modelopt_quantization_beside_the_config_is_read(tmp_path: Path) -> None:
    """NVIDIA's DeepSeek-V3.2-NVFP4 keeps its quantization in hf_quant_config.json, not in config.json
    (copies of both from ai-dynamo/aiconfigurator, tests/data/modelopt/); vLLM reads that file."""
    src = DATA / "modelopt"
    plain = tmp_path / "plain"
    plain.mkdir()
    shutil.copy(src / "nvidia__DeepSeek-V3.2-NVFP4.config.json", plain / "config.json")
    beside = tmp_path / "beside"
    shutil.copytree(plain, beside)
    shutil.copy(src / "nvidia__DeepSeek-V3.2-NVFP4.hf_quant_config.json", beside / "hf_quant_config.json")
    inline = tmp_path / "inline"
    inline.mkdir()
    config = json.loads((plain / "config.json").read_text())
    sidecar = json.loads((beside / "hf_quant_config.json").read_text())
    config["quantization_config"] = {"quant_method": "modelopt", **sidecar["quantization"]}
    (inline / "config.json").write_text(json.dumps(config))

    without, read, written = doc_of(str(plain)), doc_of(str(beside)), doc_of(str(inline))
    assert without["workload"]["stored_format"] is None
    assert without["breakdown"]["weights_bytes"] == 2 * without["model"]["parameters"]
    assert read["workload"]["stored_format"].startswith("NVFP4")
    assert any("hf_quant_config.json" in note for note in read["notes"])
    assert read["breakdown"]["weights_bytes"] == written["breakdown"]["weights_bytes"]
    assert read["breakdown"]["weights_bytes"] < 0.3 * without["breakdown"]["weights_bytes"]


# Kimi-K2.5 / K2.6: 60 MoE layers x 384 routed experts, each a fused gate_up_proj (7168 -> 2 x 2048) and a
# down_proj (2048 -> 7168), as transformers 5.23 builds them; everything else (MLA attention, the dense
# first layer, shared experts, routers, embeddings, lm_head, vision tower) stays bf16 by the ignore lists.
KIMI_EXPERT_VALUES = 60 * 384 * 3 * 7168 * 2048
KIMI_EXPERT_TENSORS = 60 * 384 * 2


@pytest.mark.parametrize(("model_id", "per_tensor"), [
    # NVFP4: 4 bits + an FP8 scale per 16 values, + fp32 weight_scale_2 and input_scale per tensor.
    ("nvidia/Kimi-K2.6-NVFP4", 8),
    # compressed-tensors INT4 g32: 4 bits + a bf16 scale per 32 values, + weight_shape (2 x int64) per tensor.
    ("moonshotai/Kimi-K2.5", 16),
])
def test_kimi_ignore_lists_in_the_checkpoints_names(model_id: str, per_tensor: int) -> None:
    """Their ignore lists name modules as the checkpoint does (language_model.model.layers.N.self_attn,
    mlp.shared_experts): only the routed experts are 4-bit."""
    doc = doc_of(model_id)
    experts = KIMI_EXPERT_VALUES // 2 + KIMI_EXPERT_VALUES // 16 + KIMI_EXPERT_TENSORS * per_tensor
    assert doc["breakdown"]["weights_bytes"] == experts + 2 * (doc["model"]["parameters"] - KIMI_EXPERT_VALUES)


def test_module_spellings_of_wrapped_text_decoders() -> None:
    scheme = StoredScheme(method="modelopt", fmt=presets.formats().formats[0], unquantized=presets.formats().formats[0],
                          ignore=("language_model.model.layers.1.self_attn*", "*.mlp.shared_experts*",
                                  "model.language_model.layers.0.linear_attn*"))
    assert not scheme.quantizes("model.layers.1.self_attn.q_a_proj", expert=False, router=False)
    assert scheme.quantizes("model.layers.2.self_attn.q_a_proj", expert=False, router=False)
    assert not scheme.quantizes("model.layers.2.mlp.shared_expert.up_proj", expert=False, router=False)
    assert not scheme.quantizes("model.layers.0.linear_attn.in_proj_qkvz", expert=False, router=False)
    assert scheme.quantizes("model.layers.4.linear_attn.in_proj_qkvz", expert=False, router=False)


def test_ignore_lists_follow_the_layer_index_in_hybrid_stacks(tmp_path: Path) -> None:
    """Qwen3.5-397B-A17B-NVFP4 (NVIDIA ModelOpt) leaves every layer's linear_attn / self_attn and shared
    expert in bf16, naming each layer (model.language_model.layers.3.self_attn*, ...): the full-attention
    layers are 3, 7, ..., 59, not the last 15, so only the routed experts are NVFP4 (60 layers x 512
    experts, a fused gate_up_proj and a down_proj of 4096 x 1024 each)."""
    (tmp_path / "config.json").write_text((DATA / "configs" / "nvidia__Qwen3.5-397B-A17B-NVFP4.json").read_text())
    doc = doc_of(str(tmp_path))
    experts, tensors = 60 * 512 * 3 * 4096 * 1024, 60 * 512 * 2
    assert doc["breakdown"]["weights_bytes"] == (experts // 2 + experts // 16 + 8 * tensors
                                                 + 2 * (doc["model"]["parameters"] - experts))


def test_grouped_layers_keep_their_indices() -> None:
    config = json.loads((DATA / "configs" / "Qwen__Qwen3-Next-80B-A3B-Thinking.json").read_text())
    blocks = [b for c in spec_from_config(config, model_id="x").components if c.kind == "decoder"
              for b in c.blocks if b.count > 1]
    assert [(b.count, b.indices[:3]) for b in blocks] == [(36, (0, 1, 2)), (12, (3, 7, 11))]


def test_modelopt_mixed_precision_per_module(tmp_path: Path) -> None:
    """NVIDIA's Qwen3.6-27B-NVFP4 (ModelOpt MIXED_PRECISION) lists a format per module: attention and Gated
    DeltaNet projections FP8 per tensor, the MLPs and lm_head NVFP4; in_proj_b / in_proj_a, embeddings,
    norms and the vision tower stay bf16."""
    (tmp_path / "config.json").write_text((DATA / "configs" / "nvidia__Qwen3.6-27B-NVFP4.json").read_text())
    doc = doc_of(str(tmp_path))
    h = 5120
    # 16 full-attention layers: q_proj (24 heads x 256, doubled by the output gate), k/v (4 x 256), o_proj;
    # 48 Gated DeltaNet layers: in_proj_qkv (2 x 16 x 128 + 48 x 128), in_proj_z (48 x 128), out_proj.
    fp8 = [16 * h * 12288, 16 * h * 1024, 16 * h * 1024, 16 * 6144 * h, 48 * h * 10240, 48 * h * 6144, 48 * 6144 * h]
    nvfp4 = [64 * h * 17408] * 3 + [248320 * h]  # 64 MLPs (gate, up, down) and lm_head
    f, n = sum(fp8), sum(nvfp4)
    tensors_fp8, tensors_nvfp4 = 16 * 4 + 48 * 3, 64 * 3 + 1
    expected = f + 8 * tensors_fp8 + n // 2 + n // 16 + 8 * tensors_nvfp4 + 2 * (doc["model"]["parameters"] - f - n)
    assert doc["workload"]["stored_format"].startswith("mixed")
    assert doc["breakdown"]["weights_bytes"] == expected == 21_072_029_288
