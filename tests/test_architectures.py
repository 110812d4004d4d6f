"""Parameter counts from config.json equal what transformers builds (tests/data/golden_params.json)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import CONFIGS, DATA, load_config, spec_of
from vram import presets
from vram.architectures import spec_from_config, supported_model_types
from vram.errors import ConfigError, ModelResolutionError, UnsupportedModelError, VramError

GOLDEN: dict[str, int] = json.loads((DATA / "golden_params.json").read_text())["counts"]
# llava_qwen's code is not in transformers; its count is the documented mapping (params.tsv).
# nemotron-nas has no transformers class either: its counts are those of the repository's
# modeling_decilm.py, checked by tests/test_nemotron_nas.py's own counter.
GOLDEN_EXTRA = {"lmms-lab__LLaVA-Video-72B-Qwen2": 73_180_522_016,
                "nvidia__Llama-3_3-Nemotron-Super-49B-v1": 49_867_145_216,
                "nvidia__Llama-3_1-Nemotron-Ultra-253B-v1": 253_401_268_224,
                # Hunyuan-A13B's first config (model_type "hunyuan", remote code): transformers 5.23
                # builds it as hunyuan_v1_moe once head_dim (128, its attention_head_dim) is given.
                "tencent__Hunyuan-A13B-Instruct": 80_393_183_232}


@pytest.mark.parametrize("stem", sorted({**GOLDEN, **GOLDEN_EXTRA}))
def test_count_equals_transformers(stem: str) -> None:
    expected = {**GOLDEN, **GOLDEN_EXTRA}[stem]
    assert spec_of(stem).parameters == expected


def test_every_config_has_a_golden_count() -> None:
    stems = {p.stem for p in CONFIGS.glob("*.json")}
    assert stems == set(GOLDEN) | set(GOLDEN_EXTRA)


# Per-component known answers from ../shared/reference/params.tsv, checked by hand in docs/math.md.
@pytest.mark.parametrize(
    ("stem", "component", "expected"),
    [
        ("lmms-lab__LLaVA-Video-72B-Qwen2", "vision_tower", 397_747_744),
        ("lmms-lab__LLaVA-Video-72B-Qwen2", "projector", 76_562_432 + 8_192),
        ("lmms-lab__LLaVA-Video-72B-Qwen2", "embeddings", 1_245_708_288),
        ("lmms-lab__LLaVA-Video-72B-Qwen2", "lm_head", 1_245_708_288),
        ("Qwen__Qwen2.5-VL-7B-Instruct", "vision_tower", 676_550_144),
        ("meta-llama__Llama-3.2-11B-Vision", "vision_tower", 863_567_379),
        ("meta-llama__Llama-3.2-11B-Vision", "embeddings", 525_369_344),
        ("meta-llama__Llama-3.2-11B-Vision", "projector", 31_461_376),
        ("deepseek-ai__DeepSeek-R1", "embeddings", 926_679_040),
    ],
)
def test_component_counts(stem: str, component: str, expected: int) -> None:
    assert spec_of(stem).params_by_component()[component] == expected


@pytest.mark.parametrize(
    ("stem", "per_layer"),
    [("Qwen__Qwen2.5-72B-Instruct", 877_684_736), ("meta-llama__Meta-Llama-3-8B-Instruct", 218_112_000),
     ("mistralai__Mixtral-8x7B-v0.1", 1_451_270_144), ("Qwen__Qwen3-30B-A3B", 623_120_640),
     ("google__gemma-2-9b", 198_195_200), ("meta-llama__Llama-2-13b-hf", 317_204_480)],
)
def test_decoder_layer_counts(stem: str, per_layer: int) -> None:
    layers = [b for b in spec_of(stem).decoder_blocks() if b.name == "decoder_layer"]
    assert layers
    assert {b.params_per_layer for b in layers} == {per_layer}


def test_deepseek_dense_and_moe_layers() -> None:
    layers = [b for b in spec_of("deepseek-ai__DeepSeek-R1").decoder_blocks() if b.attention is not None]
    assert sorted((b.count, b.params_per_layer) for b in layers) == [(3, 583_483_392), (58, 11_507_286_016)]


def test_deepseek_mtp_layer_is_stored_not_built() -> None:
    spec = spec_of("deepseek-ai__DeepSeek-R1")
    assert spec.parameters == 671_026_404_352
    assert spec.stored_parameters == 684_489_830_400


@pytest.mark.parametrize(
    ("stem", "active"),
    [("mistralai__Mixtral-8x7B-v0.1", 12_879_925_248), ("Qwen__Qwen3-30B-A3B", 3_353_032_704)],
)
def test_moe_active_parameters(stem: str, active: int) -> None:
    spec = spec_of(stem)
    assert spec.active_parameters == active < spec.parameters


def test_tied_embeddings_counted_once() -> None:
    spec = spec_of("Qwen__Qwen2.5-0.5B")
    assert "lm_head" not in spec.params_by_component()
    assert spec.parameters == 494_032_768


def test_gemma2_alternates_sliding_and_full_layers() -> None:
    kinds = sorted((b.attention.kind, b.count) for b in spec_of("google__gemma-2-9b").decoder_blocks()
                   if b.attention)
    assert kinds == [("full", 21), ("sliding", 21)]


def test_gemma3_has_five_local_layers_per_global() -> None:
    kinds = {b.attention.kind: b.count for b in spec_of("google__gemma-3-1b-pt").decoder_blocks() if b.attention}
    assert kinds == {"sliding": 22, "full": 4}


def test_mla_caches_latent() -> None:
    att = next(b.attention for b in spec_of("deepseek-ai__DeepSeek-R1").decoder_blocks() if b.attention)
    assert att.kind == "mla" and att.latent_dim == 576


def test_mllama_cross_attention_caches_image_tokens() -> None:
    att = [b.attention for b in spec_of("meta-llama__Llama-3.2-11B-Vision").decoder_blocks()
           if b.attention and b.attention.kind == "cross"]
    assert att and att[0].cross_tokens == 4 * 1601


def test_config_without_its_sizes_is_refused_naming_them() -> None:
    # save_pretrained writes a top-level config in full: one without its sizes is incomplete (exit 3).
    with pytest.raises(UnsupportedModelError, match="'hidden_size', 'num_hidden_layers', 'vocab_size'"):
        spec_from_config({"model_type": "llama"}, model_id="x")
    cfg = _llama()
    del cfg["intermediate_size"]
    with pytest.raises(UnsupportedModelError, match="intermediate_size"):
        spec_from_config(cfg, model_id="x")


def test_nested_config_takes_its_class_defaults() -> None:
    # A text_config is written as a diff against its own class: Gemma3TextConfig's 262208 vocabulary.
    spec = spec_from_config(load_config("google__gemma-3-4b-it"), model_id="x")
    assert spec.text is not None and spec.text.vocab_size == 262_208


def test_other_missing_fields_take_the_class_default_with_a_note() -> None:
    cfg = _llama()
    del cfg["tie_word_embeddings"]
    spec = spec_from_config({**cfg, "model_type": "gemma"}, model_id="x")
    assert spec.tied_embeddings and any("class default" in n or "tied" in n for n in spec.notes)


def test_llava_tower_resolved_through_callback() -> None:
    cfg = load_config("lmms-lab__LLaVA-Video-72B-Qwen2")
    with pytest.raises(ModelResolutionError, match="mm_vision_tower"):
        spec_from_config(cfg, model_id="x")
    assert spec_from_config(cfg, model_id="x", towers=presets.find_tower).parameters == 73_180_522_016


# ---- bad configs: one clear error naming the field -------------------------------------------

def _llama(**over: Any) -> dict[str, Any]:
    cfg = load_config("meta-llama__Meta-Llama-3-8B-Instruct")
    cfg.update(over)
    return cfg


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"hidden_size": "4096"}, "hidden_size"),
        ({"num_hidden_layers": 0}, "num_hidden_layers"),
        ({"intermediate_size": -1}, "intermediate_size"),
        ({"num_key_value_heads": 7}, "num_key_value_heads"),
        ({"num_attention_heads": 33, "num_key_value_heads": 33}, "num_attention_heads"),
        ({"tie_word_embeddings": "yes"}, "tie_word_embeddings"),
        ({"vocab_size": 1.5}, "vocab_size"),
    ],
)
def test_bad_field_is_named(over: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        spec_from_config(_llama(**over), model_id="x")


def test_missing_model_type() -> None:
    with pytest.raises(ConfigError, match="model_type"):
        spec_from_config({"hidden_size": 8}, model_id="x")


def test_unknown_model_type_without_sizes_is_refused() -> None:
    with pytest.raises(UnsupportedModelError, match="'brand_new'.*'hidden_size'.*safetensors"):
        spec_from_config({"model_type": "brand_new"}, model_id="x")


def test_unknown_model_type_is_read_generically_with_a_note() -> None:
    cfg = {**_llama(), "model_type": "brand_new", "architectures": ["BrandNewForCausalLM"]}
    spec = spec_from_config(cfg, model_id="x")
    assert spec.parameters == spec_from_config(_llama(), model_id="x").parameters
    assert any("family unverified" in n and "hidden_size" in n for n in spec.notes)


def test_architectures_key_names_the_family() -> None:
    # Kimi-K2: model_type kimi_k2 has no class of its own; DeepseekV3ForCausalLM builds it.
    cfg = {**load_config("deepseek-ai__DeepSeek-R1"), "model_type": "kimi_k2"}
    spec = spec_from_config(cfg, model_id="x")
    assert spec.parameters == spec_of("deepseek-ai__DeepSeek-R1").parameters
    assert spec.model_type == "kimi_k2" and any("'deepseek_v3'" in n for n in spec.notes)


def test_supported_types_cover_the_issue_families() -> None:
    wanted = {"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2",
              "gemma3", "gemma3_text", "phi3", "gpt2", "gpt_bigcode", "falcon", "deepseek_v2", "deepseek_v3",
              "gpt_oss", "llava", "llava_next", "llava_onevision", "llava_qwen", "qwen2_vl", "qwen2_5_vl", "mllama"}
    assert wanted <= set(supported_model_types())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**6) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
KEYS = ["hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size",
        "vocab_size", "head_dim", "tie_word_embeddings", "layer_types", "sliding_window", "num_experts",
        "num_local_experts", "num_experts_per_tok", "moe_intermediate_size", "kv_lora_rank", "q_lora_rank",
        "text_config", "vision_config", "n_embd", "n_layer", "n_head", "mm_vision_tower", "cross_attention_layers",
        "first_k_dense_replace", "mlp_only_layers", "use_sliding_window", "max_window_layers"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model_type=st.sampled_from(supported_model_types() + ["bogus"]),
       fields=st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6))
def test_fuzzed_configs_never_crash(model_type: str, fields: dict[str, Any]) -> None:
    cfg = {"model_type": model_type, **fields}
    try:
        spec = spec_from_config(cfg, model_id="fuzz", towers=presets.find_tower)
    except VramError:
        return
    assert spec.parameters > 0
