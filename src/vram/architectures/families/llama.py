"""Dense llama-like decoders: RMSNorm, rotary attention, a gated MLP; what each adds or drops.

Files followed (transformers 5.23): models/llama/modeling_llama.py and, for each family below, its
own models/<model_type>/modeling_<model_type>.py. Class defaults from configuration_<model_type>.py.
"""

from __future__ import annotations

from collections.abc import Callable

from vram.architectures.generic import Family
from vram.architectures.layers import Part
from vram.architectures.reader import Basics, Reading, kinds_or
from vram.errors import UnsupportedModelError
from vram.model import Block, Component, Linear

LLAMA = {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
         "num_attention_heads": 32, "max_position_embeddings": 2048}
QWEN2 = {**LLAMA, "vocab_size": 151936, "intermediate_size": 22016, "max_position_embeddings": 32768}
GEMMA2 = {"vocab_size": 256000, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26,
          "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "max_position_embeddings": 8192}


def _m(name: str) -> str:
    return f"transformers models/{name}/modeling_{name}.py"


FAMILIES: dict[str, Family] = {
    "llama": Family(modeling=_m("llama"), defaults=LLAMA),
    "mistral": Family(modeling=_m("mistral"), defaults={**LLAMA, "intermediate_size": 14336, "num_key_value_heads": 8,
                                                        "max_position_embeddings": 131072}, pattern="window",
                      qkv_bias=False, o_bias=False),
    "qwen2": Family(modeling=_m("qwen2"), qkv_bias=True, o_bias=False, pattern="qwen2", defaults=QWEN2),
    "qwen3": Family(modeling=_m("qwen3"), qk_norm="head", pattern="qwen2", defaults={**QWEN2, "head_dim": 128}),
    "gemma": Family(modeling=_m("gemma"), tied_default=True, defaults={
        "vocab_size": 256000, "hidden_size": 3072, "intermediate_size": 24576, "num_hidden_layers": 28,
        "num_attention_heads": 16, "head_dim": 256, "max_position_embeddings": 8192}),
    "gemma2": Family(modeling=_m("gemma2"), norms_per_layer=4, tied_default=True, pattern="alternate",
                     defaults={**GEMMA2, "sliding_window": 4096}),
    "gemma3_text": Family(modeling=_m("gemma3"), norms_per_layer=4, qk_norm="head", tied_default=True,
                          pattern="every", defaults={**GEMMA2, "vocab_size": 262208, "sliding_window": 4096,
                                                     "sliding_window_pattern": 6, "max_position_embeddings": 131072}),
    "phi3": Family(modeling=_m("phi3"), fused_qkv=True, fused_gate_up=True, pattern="window",
                   qkv_bias=False, o_bias=False),
    "granite": Family(modeling=_m("granite")),
    # Cosmos 3 Edge's text model (models/cosmos3_edge/modeling_cosmos3_edge.py): llama's layer with a
    # non-gated fc1 / fc2 MLP (biases by mlp_bias).
    "cosmos3_edge_text": Family(modeling=_m("cosmos3_edge"), gated=False, defaults={
        "vocab_size": 131072, "hidden_size": 2048, "intermediate_size": 9216, "num_hidden_layers": 28,
        "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128}),
    # Muse Glimmer's text model (models/muse_glimmer/modeling_muse_glimmer.py): Gemma 2's four norms per layer,
    # a sigmoid output gate (gate_proj) as wide as the queries, q/k norms and embedding norm without weights.
    "muse_glimmer_text": Family(modeling=_m("muse_glimmer"), norms_per_layer=4, q_gate=True, defaults={
        "vocab_size": 202048, "hidden_size": 6656, "intermediate_size": 19968, "num_hidden_layers": 52,
        "num_attention_heads": 32, "num_key_value_heads": 2, "head_dim": 128, "sliding_window": 2048}),
    # Granite-Docling's text model (models/granite_docling/modeling_granite_docling.py): Granite's layer.
    "granite_docling_text": Family(modeling=_m("granite_docling"), defaults={
        "vocab_size": 133800, "hidden_size": 1024, "intermediate_size": 2048, "num_hidden_layers": 28,
        "num_attention_heads": 16, "num_key_value_heads": 4}),
    "glm4": Family(modeling=_m("glm4"), fused_gate_up=True, norms_per_layer=4, qkv_bias="attention_bias",
                   o_bias=False, defaults={"attention_bias": True, "head_dim": 128}),
    "smollm3": Family(modeling=_m("smollm3"), tied_default=True),
    "seed_oss": Family(modeling=_m("seed_oss"), o_bias="attention_out_bias",
                       defaults={"attention_bias": True, "attention_out_bias": False}),
    "exaone4": Family(modeling=_m("exaone4"), qk_norm="head", pattern="every", norms_per_layer=2,
                      defaults={"sliding_window": 4096, "sliding_window_pattern": 4}),
    "cohere2": Family(modeling=_m("cohere2"), norm_size=1, norms_per_layer=1, tied_default=True, pattern="every",
                      defaults={"sliding_window": 4096, "sliding_window_pattern": 4}),
    # Cohere Compass's text model: Cohere 2's parallel block (one bias-free LayerNorm per layer), per-layer-type
    # rope (which changes no weights), all layers full attention unless layer_types says otherwise.
    "cohere_compass_text": Family(modeling=_m("cohere_compass"), norm_size=1, norms_per_layer=1, tied_default=True),
    "nemotron": Family(modeling=_m("nemotron"), gated=False, norm_size=2),
    "ernie4_5": Family(modeling=_m("ernie4_5"), qkv_bias="use_bias", o_bias="use_bias", mlp_bias="use_bias",
                       tied_default=True),
    "hunyuan_v1_dense": Family(modeling=_m("hunyuan_v1_dense"), qk_norm="head"),
    # A bidirectional encoder of llama layers; its masked-LM head's bias follows mlp_bias.
    "eurobert": Family(modeling=_m("eurobert"), encoder=True, head_bias="mlp_bias"),
    # The text models of vision-language families (vram.architectures.vlm).
    "ministral3": Family(modeling=_m("ministral3"), pattern="window", qkv_bias=False, o_bias=False, defaults={
        **LLAMA, "vocab_size": 131072, "intermediate_size": 14336, "num_hidden_layers": 34, "num_key_value_heads": 8,
        "head_dim": 128, "max_position_embeddings": 262144}),
    "qwen3_vl_text": Family(modeling=_m("qwen3_vl"), qk_norm="head", defaults={
        **QWEN2, "head_dim": 128, "max_position_embeddings": 128000}),
}
FAMILIES["mllama_text_model"] = FAMILIES["llama"]
FAMILIES["qwen2_5_vl_text"] = FAMILIES["qwen2"]
# The text model of Voxtral Realtime (vram.architectures.vlm_audio): Mistral's layers, each with an
# ada_rms_norm (hidden -> 32 -> hidden, bias-free) that conditions the MLP input on the delay.
FAMILIES["voxtral_realtime_text"] = Family(
    modeling=_m("voxtral_realtime"), pattern="window", layer_other=lambda r, b, kind, moe: 2 * 32 * b.hidden,
    defaults={"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
              "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 131072,
              "sliding_window": 4096})
# The thinker's text model of Qwen2.5-Omni (vram.architectures.vlm_audio): qwen2's layers, its own defaults.
FAMILIES["qwen2_5_omni_text"] = Family(modeling=_m("qwen2_5_omni"), qkv_bias=True, o_bias=False, pattern="qwen2",
                                       defaults={**QWEN2, "vocab_size": 152064, "hidden_size": 3584,
                                                 "intermediate_size": 18944, "num_hidden_layers": 28,
                                                 "num_attention_heads": 28, "num_key_value_heads": 4})
FAMILIES["qwen2_vl_text"] = FAMILIES["qwen2"]


def _every(n_full: int, offset: int = 0) -> Callable[[Reading, int, int], str]:
    """Full attention on every n_full-th layer (from ``offset``), sliding on the others."""
    return lambda r, i, n: "full" if i % n_full == offset else "sliding"


def _bitnet_norms(r: Reading, b: Basics, kind: str, moe: bool) -> int:
    """attn_sub_norm (hidden) before o_proj and ffn_sub_norm (intermediate) before down_proj."""
    return b.hidden + r.int("intermediate_size")


def _peri_norms(r: Reading, b: Basics, kind: str, moe: bool) -> int:
    """HyperCLOVA X's post_norm1 / post_norm2 after each sub-layer, built when use_post_norm."""
    return 2 * b.hidden if r.bool("use_post_norm", True) else 0


def _diff_lambdas(r: Reading, b: Basics, kind: str, moe: bool) -> int:
    """lambda_q1, lambda_k1, lambda_q2, lambda_k2: one head_dim vector each (modeling_diffllama)."""
    return 4 * b.head_dim


FAMILIES.update({
    "glm": Family(modeling=_m("glm"), fused_gate_up=True, qkv_bias="attention_bias", o_bias=False,
                  defaults={"attention_bias": True, "head_dim": 128}),
    # OlmoLayerNorm has no weight and no bias: the layers' and the final norm hold no parameters.
    "olmo": Family(modeling=_m("olmo"), norms_per_layer=0, final_norm=False),
    # OLMo 2's layout (no input norm; post-attention and post-feedforward norms; q/k norms over all heads).
    "olmo3": Family(modeling=_m("olmo3"), qk_norm="full", kinds=kinds_or(_every(4, 3)),
                    defaults={"sliding_window": 4096}),
    "bitnet": Family(modeling=_m("bitnet"), layer_other=_bitnet_norms),
    "diffllama": Family(modeling=_m("diffllama"), layer_other=_diff_lambdas),
    # post_norm1 / post_norm2 after attention and MLP (Peri-LN).
    "hyperclovax": Family(modeling=_m("hyperclovax"), layer_other=_peri_norms, defaults={"use_post_norm": True}),
    # A learned sink logit per head in every layer; every fourth layer (from the first) full.
    "granite_swa": Family(modeling=_m("granite_swa"), sinks=True, tied_default=True, kinds=kinds_or(_every(4)),
                          defaults={"sliding_window": 128}),
})


def _xielu(r: Reading, b: Basics, kind: str, moe: bool) -> int:
    """The xIELU activation's two learned scalars (alpha_p, alpha_n) in every MLP (modeling_apertus)."""
    return 2


FAMILIES.update({
    # An ungated MLP (up_proj, ReLU^2, down_proj).
    "arcee": Family(modeling=_m("arcee"), gated=False),
    "apertus": Family(modeling=_m("apertus"), gated=False, qk_norm="head", layer_other=_xielu),
})
FAMILIES.update({
    # LayerNorm with bias, an ungated ReLU^2 MLP, biases on attention and MLP (Jais 2).
    "jais2": Family(modeling=_m("jais2"), norm_size=2, gated=False,
                    defaults={"attention_bias": True, "mlp_bias": True, "head_dim": 128}),
    # Weightless RMSNorms (layers, q/k and final), an ungated ReLU^2 MLP (fc1, fc2).
    "nanochat": Family(modeling=_m("nanochat"), gated=False, norms_per_layer=0, final_norm=False),
})


def _doge_kinds(r: Reading, n: int) -> tuple[list[str], list[str] | None]:
    """Every layer full attention with a dense MLP; Doge's CDMoE (is_moe) is not described here."""
    if r.bool("is_moe", False):
        raise UnsupportedModelError("doge with is_moe (cross-domain mixture of experts) is not described by vram; "
                                    "give a local folder with safetensors files, or a size such as 7B")
    return ["full"] * n, ["dense"] * n


def _doge_parts(r: Reading, b: Basics, kind: str, i: int) -> Part:
    """Dynamic mask attention's dt_proj and A (one value per head), two residual scales of the width."""
    return Part(linears=(Linear(name="dt_proj", in_features=b.hidden, out_features=b.heads),),
                other=b.heads + 2 * b.hidden)


FAMILIES["doge"] = Family(modeling=_m("doge"), qk_norm="head", kinds=_doge_kinds, layer_parts=_doge_parts)


# ---- Moshi (models/moshi/modeling_moshi.py): MoshiForCausalLM is the temporal transformer alone ----

def _moshi_pad_row(r: Reading, b: Basics) -> tuple[Component, ...]:
    """MoshiModel's embedding has vocab_size + 1 rows (the last one the padding / initial token)."""
    return (Component(name="embed_pad_row", kind="embedding", blocks=(
        Block(name="embed_tokens.pad_row", embedding_params=b.hidden),)),)


# MoshiGatingMLP: fc1 to ffn_dim (gate and up, fused) and fc2 from ffn_dim / 2; bias-free attention with
# as many KV heads as heads unless the config says; lm_head is never tied (the embedding has one row more,
# so transformers keeps both whatever tie_word_embeddings says). Its DynamicCache keeps
# a window of sliding_window tokens on every layer (cache_utils: a config with sliding_window and no
# layer_types).
FAMILIES["moshi"] = Family(modeling=_m("moshi"), fused_gate_up=True, pattern="window", extra=_moshi_pad_row,
                           never_tied=True,
                           dense_width=lambda r, i: r.int("ffn_dim") // 2, qkv_bias=False, o_bias=False,
                           defaults={"ffn_dim": 22528, "sliding_window": 3000})
