"""Checkpoints as they are stored: quantization_config -> which matrices in which format, checked
against published checkpoint sizes and hand-computed layouts."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import load_config
from tests.test_hub import _expected_gptq_bytes, _gptq_repo
from vram import presets
from vram.cli import app
from vram.options import build_workload
from vram.quantization import QuantizationConfigError, matches, stored_scheme
from vram.sources import resolve
from vram.terms.weights import weights_by_component

runner = CliRunner()
FORMATS = presets.formats()


def doc_of(*args: str) -> dict[str, Any]:
    res = runner.invoke(app, [*args, "--format", "json"])
    assert res.exit_code == 0, res.stderr
    out: dict[str, Any] = json.loads(res.stdout)
    return out


def test_deepseek_r1_preset_is_fp8_as_published() -> None:
    """Issue 10.2 / 11: the published weights are FP8 with 128x128 fp32 block scales."""
    doc = doc_of("estimate", "deepseek-ai/DeepSeek-R1")
    assert doc["workload"]["dtype"] == "stored"
    assert "FP8" in doc["workload"]["stored_format"]
    weights = doc["breakdown"]["weights_bytes"]
    assert 626 * 2**30 < weights < 628 * 2**30  # about 627 GiB without the MTP layer
    # With the MTP layer, the checkpoint's tensors against the published payload of its 163 shards,
    # 688,586,727,753 bytes, of which their JSON headers (~91k tensor entries) are the rest.
    spec = resolve("deepseek-ai/DeepSeek-R1").spec
    whole = replace(spec, components=tuple(replace(c, loaded=True) for c in spec.components))
    stored = sum(weights_by_component(whole, build_workload(dtype="auto"), {}).values())
    assert 0 < 688_586_727_753 - stored < 16 * 2**20


def test_deepseek_r1_in_bf16_when_asked() -> None:
    doc = doc_of("estimate", "deepseek-ai/DeepSeek-R1", "--dtype", "bf16")
    assert doc["workload"]["dtype"] == "bf16" and doc["workload"]["stored_format"] is None
    assert doc["breakdown"]["weights_bytes"] == 2 * doc["model"]["parameters"]


def test_gpt_oss_preset_has_mxfp4_experts() -> None:
    doc = doc_of("estimate", "openai/gpt-oss-20b")
    assert doc["workload"]["stored_format"].startswith("MXFP4")
    # Experts: 24 layers x 32 experts x (2880 x 5760 + 2880 x 2880) values at 4 bits + one byte per 32;
    # their biases (5760 + 2880 per expert) and everything else in bf16.
    experts = 24 * 32 * (2880 * 5760 + 2880 * 2880)
    expert_bytes = experts // 2 + experts // 32
    other = doc["model"]["parameters"] - experts
    assert doc["breakdown"]["weights_bytes"] == expert_bytes + 2 * other
    # The published checkpoint's three safetensors files total 13.76 GB.
    assert abs(doc["breakdown"]["weights_bytes"] - 13.76e9) < 0.01e9



def test_gemma4_nvfp4_quantizes_the_experts_beside_the_dense_mlp() -> None:
    """Gemma 4's routed experts are the layer's own child (layers.N.experts), beside its dense MLP
    (layers.N.mlp): ModelOpt's ignore list names every layer's mlp*, which must not reach the experts."""
    doc = doc_of("estimate", "nvidia/Gemma-4-26B-A4B-NVFP4")
    experts = 30 * 128 * 3 * 704 * 2816  # layers x experts x (gate, up, down) x moe width x hidden
    other = doc["model"]["parameters"] - experts
    by_hand = experts // 2 + experts // 16 + 2 * other  # E2M1 values, an FP8 scale per 16, the rest bf16
    assert 0 <= doc["breakdown"]["weights_bytes"] - by_hand < 2**20  # per-tensor fp32 global scales
    assert doc["weights"]["bits_per_parameter"] < 6

def test_preset_local_config_and_hub_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fakehub import FakeHub

    cfg = presets.find_model("deepseek-ai/DeepSeek-R1")
    assert cfg is not None
    (tmp_path / "config.json").write_text(json.dumps(cfg.config))
    preset = doc_of("estimate", "deepseek-ai/DeepSeek-R1")["breakdown"]["weights_bytes"]
    local = doc_of("estimate", str(tmp_path))["breakdown"]["weights_bytes"]
    with FakeHub() as hub:
        hub.add("acme/r1", files={"config.json": json.dumps(cfg.config).encode()})
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("VRAM_HUB_TIMEOUT", "3")
        from_hub = doc_of("estimate", "acme/r1")["breakdown"]["weights_bytes"]
    assert preset == local == from_hub


def test_gptq_config_alone_matches_its_headers(tmp_path: Path) -> None:
    """The GPTQ layout read from quantization_config gives the bytes the safetensors headers hold."""
    (tmp_path / "config.json").write_bytes(_gptq_repo()["config.json"])
    doc = doc_of("estimate", str(tmp_path))
    assert doc["workload"]["dtype"] == "stored"
    assert doc["breakdown"]["weights_bytes"] == _expected_gptq_bytes()


@pytest.mark.parametrize(("dtype", "bits"), [("mxfp4", 4.25), ("nvfp4", 4.5), ("fp8-block", 8.0)])
def test_new_dtypes(dtype: str, bits: float) -> None:
    fmt = FORMATS.find(dtype)
    assert fmt is not None
    assert abs(fmt.nominal_bits - bits) < 0.01
    doc = doc_of("estimate", "meta-llama/Llama-2-7b-hf", "--dtype", dtype)
    assert doc["workload"]["dtype"] == dtype


def test_block_scales_are_per_128x128_tile() -> None:
    fmt = FORMATS.find("fp8-block")
    assert fmt is not None
    # 7168 x 2048: 56 x 16 tiles, 4 bytes each.
    assert fmt.matrix_bytes(7168, 2048) == 7168 * 2048 + 56 * 16 * 4
    assert fmt.matrix_bytes(129, 1) == 129 + 2 * 1 * 4


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [("lm_head", "lm_head", True), ("self_attn", "model.layers.3.self_attn.q_proj", True),
     ("model.layers.*.self_attn", "model.layers.3.self_attn.q_proj", True),
     ("model.layers.*.mlp.router", "model.layers.3.mlp.experts.gate_up_proj", False),
     ("mlp.gate", "model.layers.0.mlp.gate_up_proj", False), ("re:.*mlp.gate$", "model.layers.0.mlp.gate", True),
     ("re:.*mlp.gate$", "model.layers.0.mlp.gate_proj", False),
     ("model.layers.0.mlp.down_proj", "model.layers.0.mlp.down_proj", True),
     ("model.layers.0.mlp.down_proj", "model.layers.10.mlp.down_proj", False)],
)
def test_module_patterns(pattern: str, path: str, expected: bool) -> None:
    assert matches(pattern, path) is expected


def test_compressed_tensors_w4a16_layout() -> None:
    q = {"quant_method": "compressed-tensors", "format": "pack-quantized", "ignore": ["lm_head"],
         "config_groups": {"group_0": {"targets": ["Linear"], "input_activations": None,
                                       "weights": {"num_bits": 4, "type": "int", "symmetric": True,
                                                   "strategy": "group", "group_size": 128}}}}
    s = stored_scheme(q, FORMATS, "bfloat16")
    # weight_packed: 4 bits per value; weight_scale: bf16 per (row, group of 128); weight_shape: 2 x int64.
    assert s.fmt.matrix_bytes(4096, 1024) == 4096 * 1024 // 2 + 1024 * 32 * 2 + 16
    assert not s.quantizes("lm_head", expert=False, router=False)
    assert s.quantizes("model.layers.0.mlp.down_proj", expert=False, router=False)


def test_compressed_tensors_fp8_dynamic_and_ignore() -> None:
    q = {"quant_method": "compressed-tensors", "format": "float-quantized",
         "ignore": ["lm_head", "re:.*mlp.gate$"],
         "config_groups": {"group_0": {"targets": ["Linear"],
                                       "input_activations": {"dynamic": True, "num_bits": 8, "type": "float"},
                                       "weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}}}
    s = stored_scheme(q, FORMATS, "bfloat16")
    assert s.fmt.matrix_bytes(4096, 1024) == 4096 * 1024 + 1024 * 2  # a bf16 scale per output channel
    assert not s.quantizes("model.layers.0.mlp.gate", expert=False, router=False)


def test_bitsandbytes_awq_hqq_nvfp4_layouts() -> None:
    nf4 = stored_scheme({"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
                         "bnb_4bit_use_double_quant": True, "llm_int8_skip_modules": ["lm_head"]}, FORMATS)
    assert nf4.fmt.name == "nf4-dq" and "lm_head" in nf4.ignore
    int8 = stored_scheme({"quant_method": "bitsandbytes", "load_in_8bit": True}, FORMATS)
    assert int8.fmt.matrix_bytes(4096, 1024) == 4096 * 1024 + 1024 * 4  # int8 + fp32 SCB per row
    awq = stored_scheme({"quant_method": "awq", "bits": 4, "group_size": 64, "zero_point": True}, FORMATS)
    assert awq.fmt.matrix_bytes(4096, 1024) == 4096 * 1024 // 2 + 64 * 1024 * (16 + 4) // 8
    hqq = stored_scheme({"quant_method": "hqq", "quant_config": {"weight_quant_params": {"nbits": 4,
                                                                                        "group_size": 64}},
                         "skip_modules": ["lm_head"]}, FORMATS)
    assert hqq.fmt.matrix_bytes(4096, 1024) == 4096 * 1024 // 2 + 64 * 1024 * 4  # fp16 scale + zero per group
    nv = stored_scheme({"quant_method": "modelopt", "quant_algo": "NVFP4", "group_size": 16,
                        "exclude_modules": ["lm_head"]}, FORMATS)
    assert nv.fmt.matrix_bytes(4096, 1024) == 4096 * 1024 // 2 + 4096 * 1024 // 16 + 8


def test_mxfp4_scopes_experts_only() -> None:
    s = stored_scheme({"quant_method": "mxfp4", "modules_to_not_convert": ["lm_head"]}, FORMATS)
    assert s.quantizes("model.layers.0.mlp.experts.down_proj", expert=True, router=False)
    assert not s.quantizes("model.layers.0.self_attn.q_proj", expert=False, router=False)


def test_unknown_method_is_a_note_not_a_guess(tmp_path: Path) -> None:
    cfg = load_config("meta-llama__Llama-3.2-1B")
    cfg["quantization_config"] = {"quant_method": "exotic"}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    doc = doc_of("estimate", str(tmp_path))
    assert doc["workload"]["dtype"] == "bf16"
    assert any("pre-quantized (exotic)" in n and "follow --dtype" in n for n in doc["notes"])
    with pytest.raises(QuantizationConfigError):
        stored_scheme({"quant_method": "exotic"}, FORMATS)


def test_deepseek_v4_fp4_experts_beside_fp8_block_weights(tmp_path: Path) -> None:
    # deepseek_v4@small: 6 layers of 8 experts, hidden 256, expert width 512 (the stored config's
    # intermediate_size, which DeepseekV4Config maps to moe_intermediate_size). expert_dtype "fp4" (beside
    # quantization_config, as DeepSeek-V4 writes it) with scale_fmt ue8m0: two E2M1 values per byte and a
    # UE8M0 scale per row per 32 inputs: gate_up (1024 x 256) 1024 x (128 + 8), down (256 x 512) 256 x
    # (256 + 16). As FP8 with 128x128 blocks: 1024 x 256 + 8 x 2 fp32 scales, 256 x 512 + 2 x 4 scales.
    sweep = json.loads((Path(__file__).parent / "data" / "golden_sweep.json").read_text())["entries"]
    cfg = dict(sweep["deepseek_v4@small"]["config"])
    cfg["quantization_config"] = {"quant_method": "fp8", "fmt": "e4m3", "scale_fmt": "ue8m0",
                                  "activation_scheme": "dynamic", "weight_block_size": [128, 128]}
    weights = {}
    for expert_dtype in ("fp8", "fp4"):
        (tmp_path / "config.json").write_text(json.dumps({**cfg, "expert_dtype": expert_dtype}))
        doc = doc_of("estimate", str(tmp_path))
        weights[expert_dtype] = doc["weights"]["by_component"]["decoder"]
    fp4 = 1024 * (128 + 8) + 256 * (256 + 16)
    fp8 = 1024 * 256 + 8 * 2 * 4 + 256 * 512 + 2 * 4 * 4
    assert weights["fp8"] - weights["fp4"] == 6 * 8 * (fp8 - fp4)
    assert any("routed experts in MXFP4" in n for n in doc["notes"])
    with pytest.raises(QuantizationConfigError):
        stored_scheme({"quant_method": "fp8", "weight_block_size": [128, 128], "expert_dtype": "int3"}, FORMATS)
