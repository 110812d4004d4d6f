"""vLLM's and SGLang's pools for models with linear-attention, Mamba and short-convolution layers, and for
KV-sharing layers, checked by hand against the engines' own arithmetic (docs/engines.md "Hybrid models").

Shapes are real configs (tests/data/golden_sweep.json, whose parameter counts are held to transformers);
Qwen3-Next-80B-A3B is the sweep's qwen3_next with the released model's 262,144 positions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vram import presets
from vram.architectures import layers as L
from vram.architectures import spec_from_config
from vram.cli import app
from vram.engines import EngineInput, get
from vram.engines._pool import LayerKv, stage_layers
from vram.engines._state import conv_channels_per_rank, sglang_layout, vllm_layout
from vram.engines.vllm_pool import Pool, unified_block
from vram.model import ModelSpec
from vram.options import build_workload, gguf_types
from vram.schema import EstimateDocument

SWEEP: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "golden_sweep.json").read_text())
H100 = 85_017_493_504
runner = CliRunner()


def config(key: str, **changes: object) -> dict[str, Any]:
    return {**SWEEP["entries"][key]["config"], **changes}


def spec(key: str, **changes: object) -> ModelSpec:
    return spec_from_config(config(key, **changes), model_id=key)


QWEN3_NEXT = {"max_position_embeddings": 262144}


def run(engine: str, s: ModelSpec, tp: int = 1, dtype: str = "bf16", **settings: object) -> dict[str, Any]:
    inp = EngineInput(spec=s, workload=build_workload(dtype=dtype, gpus=tp), settings=settings,
                      gguf_types=gguf_types(), total_bytes=H100, usable_bytes=H100, gpu_name="h100-sxm",
                      engine_constants=presets.engines())
    return get(engine).allocate(inp).details_dict()


def available(d: dict[str, Any]) -> int:
    return int(d["budget_bytes"] - d["weights_bytes"] - d["activation_peak_bytes"] - d["non_torch_bytes"])


# ---- state per sequence, as each engine lays it out -------------------------------------------------

def test_gated_deltanet_state_of_qwen3_next_in_vllm_and_sglang() -> None:
    # 16 key heads x 128 twice + 32 value heads x 128: 8192 convolved channels, kernel 4 (3 kept);
    # recurrent 32 x 128 x 128. vLLM: both in bf16; SGLang: conv bf16, recurrent float32.
    s = next(b.state for b in spec("qwen3_next").decoder_blocks() if b.state)
    assert s is not None
    assert vllm_layout(s, 1, 2, None, (), "qwen3_next").bytes == 3 * 8192 * 2 + 32 * 128 * 128 * 2 == 1_097_728
    assert vllm_layout(s, 4, 2, None, (), "qwen3_next").bytes == 3 * 2048 * 2 + 8 * 128 * 128 * 2 == 274_432
    assert sglang_layout(s, 4, 4).bytes == 3 * 2048 * 2 + 8 * 128 * 128 * 4 == 536_576


def test_mamba2_groups_are_replicated_to_the_ranks() -> None:
    # Granite-4 hybrid: 1 group, state 256, inner 8192. At TP 2 the group is replicated (1 + 1 groups):
    # channels (8192 + 2 x 2 x 256) / 2 = 4608, not (8192 + 2 x 256) / 2 = 4352.
    part = L.mamba2(4096, inner=8192, heads=128, head_dim=64, groups=1, state=256, kernel=4, conv_bias=True,
                    bias=False)
    assert part.state is not None
    assert conv_channels_per_rank(part.state, 1) == 8192 + 512
    assert conv_channels_per_rank(part.state, 2) == 4608
    # 8 groups split evenly over 2 ranks: nothing added
    part8 = L.mamba2(4096, inner=8192, heads=128, head_dim=64, groups=8, state=128, kernel=4, conv_bias=True,
                     bias=False)
    assert part8.state is not None and conv_channels_per_rank(part8.state, 2) == (8192 + 2 * 8 * 128) // 2


def test_ssm_state_dtype_rules() -> None:
    nem = next(b.state for b in spec("nemotron_h").decoder_blocks() if b.state)
    assert nem is not None and nem.ssm_cache_dtype == "float32"  # the config says so
    conv = 3 * (8192 + 2 * 8 * 128) * 2
    rec = 128 * 64 * 128
    types = presets.engines().vllm.ssm_dtype_from_config
    assert vllm_layout(nem, 1, 2, None, types, "nemotron_h").bytes == conv + rec * 4
    assert vllm_layout(nem, 1, 2, "bfloat16", types, "nemotron_h").bytes == conv + rec * 2
    unsaid = next(b.state for b in spec("nemotron_h", mamba_ssm_cache_dtype=None).decoder_blocks() if b.state)
    assert unsaid is not None and vllm_layout(unsaid, 1, 2, None, types, "nemotron_h").bytes == conv + rec * 2  # fp16
    # other Mamba-2 models: auto is the model dtype
    assert vllm_layout(nem, 1, 2, None, (), "granitemoehybrid").bytes == conv + rec * 2
    # Kimi Delta Attention keeps its recurrent state in float32 in vLLM; short convolutions only a window
    kda = next(b.state for b in spec("kimi_linear").decoder_blocks() if b.state)
    assert kda is not None and kda.mixer == "kda"
    width = 32 * 128
    assert vllm_layout(kda, 1, 2, None, (), "kimi_linear").bytes == 3 * 3 * width * 2 + 32 * 128 * 128 * 4
    lfm = next(b.state for b in spec("lfm2@idxs").decoder_blocks() if b.state)
    assert lfm is not None and vllm_layout(lfm, 1, 2, None, (), "lfm2").bytes == (3 - 1) * 256 * 2


# ---- vLLM ----------------------------------------------------------------------------------------------

def test_vllm_unifies_attention_and_state_pages() -> None:
    # Qwen3-Next at TP 1: attention 2 KV heads x (256 + 256) x 2 = 2048 bytes per token, a state page of
    # 1,097,728 bytes: 16 x cdiv(1,097,728, 16 x 2048) = 544 tokens; the state page is padded to 544 x 2048.
    layers = [LayerKv("full", 2048)] * 12 + [LayerKv("state", 0, state_bytes=1_097_728)] * 36
    assert unified_block(layers, None, 16, 16) == (544, 544 * 2048)
    assert unified_block(layers, 16, 16, 16) == (544, 544 * 2048)  # a smaller --block-size is raised
    assert unified_block(layers, 1024, 16, 16) == (1024, 1024 * 2048)  # a larger one is kept, the state padded
    assert unified_block(layers[:12], None, 16, 16) == (16, 0)  # no state: the block as given
    pool = Pool(tuple(layers), 544, 8192, 544 * 2048, 262144)
    assert pool.group_size == 12 and sum(n for _, n in pool.groups) == 4  # 1 attention + 3 state groups
    assert pool.block_bytes == 544 * 2048 * 12
    assert pool.tokens(1000) == 250 * 544  # blocks per group x the attention block
    # one 262,144-token request: 482 attention blocks + one state block in each of 3 state groups
    assert pool.concurrency(4850, 262144) == 4850 / (482 + 3)
    # the start check counts every layer: 12 x 482 attention pages + 36 state pages
    assert pool.needed(262144) == (12 * 482 + 36) * 544 * 2048


def test_vllm_qwen3_next_on_four_h100s_by_hand() -> None:
    d = run("vllm", spec("qwen3_next", **QWEN3_NEXT), tp=4)
    # per rank: 1 KV head x 512 x 2 = 1024 bytes per token; state 274,432 -> 16 x cdiv(274,432, 16,384) = 272
    assert d["block_size"] == 272 and d["settings"]["block_size"] == 272
    assert d["state_bytes_per_sequence"] == 36 * 274_432
    page = 272 * 1024
    blocks = available(d) // (page * 12)
    assert d["kv_pool_bytes"] == blocks * page * 12
    assert d["kv_tokens"] == blocks // 4 * 272
    assert d["max_concurrency"] == round(blocks / (-(-262144 // 272) + 3), 2)
    assert d["starts"] is True and d["kv_bytes_per_token"] == 12 * 1024


def test_vllm_start_needs_the_states_of_one_sequence() -> None:
    base = run("vllm", spec("qwen3_next", **QWEN3_NEXT), tp=4, max_model_len=4096)
    avail = available(base)
    page = 272 * 1024
    attention_only = 12 * -(-4096 // 272) * page
    # a utilization whose pool holds the attention pages of one sequence but not its 36 state pages
    target = attention_only + 18 * page
    util = (base["budget_bytes"] - avail + target) / H100
    d = run("vllm", spec("qwen3_next", **QWEN3_NEXT), tp=4, max_model_len=4096, gpu_memory_utilization=util)
    assert attention_only < available(d) < attention_only + 36 * page
    assert d["starts"] is False and d["in_budget"]["kv_one_sequence"] == attention_only + 36 * page


def test_vllm_attention_free_mamba2_pool() -> None:
    # Mamba-2 (64 layers, 128 heads x 64, 8 groups, state 128, kernel 4), bf16: one page per layer per
    # sequence, 3 x 10,240 x 2 + 128 x 64 x 128 x 2 bytes; no attention, no unification.
    d = run("vllm", spec("mamba2"))
    page = 3 * 10240 * 2 + 128 * 64 * 128 * 2
    blocks = available(d) // (page * 64)
    assert d["state_bytes_per_sequence"] == 64 * page and d["block_size"] == 16
    assert d["kv_pool_bytes"] == blocks * page * 64
    assert d["max_concurrency"] == round(blocks, 2)  # one block per sequence
    assert d["kv_tokens"] == blocks * d["max_model_len"]  # as vLLM logs it: blocks x mamba_block_size


def test_vllm_falcon_h1_layers_hold_attention_and_state_both() -> None:
    # 32 layers, each 8 KV heads x 128 (4096 bytes per token) beside Mamba-2 (d_ssm 1024, 1 group,
    # state 256, 128 heads x 8): state 3 x 1536 x 2 + 128 x 8 x 256 x 2 = 533,504 -> block 16 x 9 = 144.
    d = run("vllm", spec("falcon_h1"))
    assert d["block_size"] == 144 and d["state_bytes_per_sequence"] == 32 * 533_504
    blocks = available(d) // (144 * 4096 * 32)  # two groups of 32 layers
    assert d["kv_tokens"] == blocks // 2 * 144


def test_kv_sharing_layers_hold_no_pages() -> None:
    # Gemma 3n: the last 15 of 35 layers read earlier layers' K/V (kv_sharing_target_layer_name)
    s = spec("gemma3n_text")
    layers, _ = stage_layers(s, build_workload(dtype="bf16"), 2)
    assert len(layers) == 20
    d = run("vllm", s)
    assert d["kv_bytes_per_token"] == 20 * 2 * 512 * 2


def test_pipeline_stages_hold_each_kind_in_proportion() -> None:
    s = spec("qwen3_next", **QWEN3_NEXT)
    layers, _ = stage_layers(s, build_workload(dtype="bf16", gpus=2, pp=2), 2, lambda st: 1)
    assert sum(x.kind == "state" for x in layers) == 18 and sum(x.kind == "full" for x in layers) == 6


# ---- SGLang --------------------------------------------------------------------------------------------

def test_sglang_splits_the_rest_between_states_and_tokens() -> None:
    d = run("sglang", spec("qwen3_next", **QWEN3_NEXT), tp=4)
    per = 36 * 536_576
    rest = d["budget_bytes"] - d["weights_bytes"]
    slots = int(rest * 0.9 / 1.9) // per
    cell = 12 * 1024
    tokens = (rest - slots * per) // cell
    assert d["state_slots"] == slots and d["state_bytes_per_sequence"] == per
    assert d["kv_tokens"] == tokens and d["kv_bytes_per_token"] == cell
    assert d["in_budget"]["state_pool"] == slots * per
    assert d["max_num_seqs"] == min(min(max(tokens * 512 // 262144, 2048), 4096), slots // 3)
    assert d["outside_budget"]["state_padding_slot"] == per  # MambaPool allocates one slot more


def test_sglang_without_radix_cache_holds_one_state_per_running_request() -> None:
    d = run("sglang", spec("qwen3_next", **QWEN3_NEXT), tp=4, disable_radix_cache=True, max_running_requests=64)
    assert d["state_slots"] == 64 and d["max_num_seqs"] == 64
    rest = d["budget_bytes"] - d["weights_bytes"]
    assert d["kv_tokens"] == (rest - 64 * 36 * 536_576) // (12 * 1024)
    # Kimi Linear runs without the radix cache: 512 slots unless --max-running-requests says otherwise
    k = run("sglang", spec("kimi_linear"))
    assert k["state_slots"] == 512 and k["max_num_seqs"] <= 512
    assert k["settings"]["disable_radix_cache"] is True


def test_sglang_refuses_attention_free_models(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(config("mamba2")))
    res = runner.invoke(app, ["estimate", str(tmp_path), "--engine", "sglang", "--gpu", "h100"])
    assert res.exit_code == 2 and "no attention layers" in res.stderr
    assert runner.invoke(app, ["estimate", str(tmp_path), "--engine", "vllm", "--gpu", "h100"]).exit_code == 0


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_cli_reports_state_and_notes(engine: str, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(config("qwen3_next", **QWEN3_NEXT)))
    res = runner.invoke(app, ["estimate", str(tmp_path), "--engine", engine, "--gpu", "h100", "-tp", "4",
                              "-f", "json"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    EstimateDocument.model_validate(doc)
    assert doc["engine"]["state_bytes_per_sequence"] > 0
    assert any("state" in n for n in doc["notes"])
    flag = "--mamba-ssm-cache-dtype" if engine == "vllm" else "--mamba-ssm-dtype"
    res = runner.invoke(app, ["estimate", str(tmp_path), "--engine", engine, "--gpu", "h100", "-tp", "4",
                              flag, "int4"])
    assert res.exit_code == 2 and flag in res.stderr


@pytest.mark.parametrize(("engine", "flag", "value"), [
    ("sglang", "--max-mamba-cache-size", "10"), ("sglang", "--mamba-ssm-dtype", "float32"),
    ("sglang", "--mamba-full-memory-ratio", "0.5"), ("vllm", "--mamba-ssm-cache-dtype", "float32")])
def test_state_flags_mean_nothing_without_state_layers(engine: str, flag: str, value: str) -> None:
    # refused (exit 2) as --swa-full-tokens-ratio is for a model without SGLang's sliding-window pool
    res = runner.invoke(app, ["estimate", "meta-llama/Llama-3.1-8B-Instruct", "--engine", engine, "--gpu", "h100",
                              flag, value])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{flag} means nothing" in lines[0] and "no Mamba" in lines[0]


def test_sglang_refusal_with_an_empty_state_pool_is_a_verdict_not_a_crash() -> None:
    # Nemotron 3 Ultra in bf16 on 8 H200: the static region leaves no state slot; the workload's batch was 0
    args = ["nvidia/NVIDIA-Nemotron-3-Ultra-550B-A55B-BF16", "--engine", "sglang", "--gpu", "h200", "-tp", "8"]
    res = CliRunner().invoke(app, ["estimate", *args, "--format", "json"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    EstimateDocument.model_validate(doc)
    assert doc["engine"]["starts"] is False and doc["engine"]["state_slots"] == 0
    assert CliRunner().invoke(app, ["check", *args]).exit_code == 1


def test_vllm_profiles_a_native_resolution_vlm_without_pixel_bounds() -> None:
    res = CliRunner().invoke(app, ["check", "Qwen/Qwen3-VL-32B-Instruct", "--engine", "vllm", "--gpu", "h100",
                                   "--format", "json"])
    assert res.exit_code in (0, 1), res.stderr
    assert json.loads(res.stdout)["engine"]["name"] == "vllm"


@pytest.mark.parametrize("engine", ["llama.cpp", "ollama"])
def test_llamacpp_refuses_a_model_type_it_cannot_convert(engine: str, tmp_path: Path) -> None:
    # transformers' RWKV (v4): convert_hf_to_gguf.py converts RWKV-6 and RWKV-7 only (presets/llamacpp.json)
    (tmp_path / "config.json").write_text(json.dumps(SWEEP["entries"]["rwkv"]["config"]))
    res = runner.invoke(app, ["estimate", str(tmp_path), "--engine", engine, "--gpu", "h100"])
    assert res.exit_code == 3 and res.stdout == ""
    assert "no converter" in res.stderr and "RWKV-4" in res.stderr
    # a state model it converts (Mamba-2) is served
    (tmp_path / "config.json").write_text(json.dumps(config("mamba2")))
    assert runner.invoke(app, ["estimate", str(tmp_path), "--engine", engine, "--gpu", "h100"]).exit_code == 0
