"""Decoder-only language models: config.json -> layers of weight matrices.

One builder covers the llama-like families (llama, mistral, qwen2/3, gemma 1-3, phi3, the MoE
variants, DeepSeek's MLA and gpt-oss); gpt2, gpt_bigcode and falcon have their own small builders.
Shapes follow the module definitions of the Hugging Face transformers implementations, which is
what "exact" is measured against (tests/data/golden_params.json, scripts/golden_counts.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from vram.architectures._config import Cfg
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, ModelSpec, TextDims

MAX_LAYERS = 10_000


@dataclass(frozen=True)
class Traits:
    """What distinguishes one llama-like family from another (with its class defaults)."""

    defaults: Mapping[str, object] = field(default_factory=dict)
    qkv_bias: bool = False
    norms_per_layer: int = 2
    qk_norm: bool = False
    fused_qkv: bool = False
    fused_gate_up: bool = False
    tied_default: bool = False
    gated_mlp: bool = True
    layer_pattern: str = "none"  # none | mistral | qwen2 | alternate | gemma3
    moe: str = "none"  # none | mixtral | qwen2_moe | qwen3_moe | deepseek | gpt_oss


class _Defaults(Cfg):
    """A Cfg that falls back on the family's class defaults for absent keys."""

    def __init__(self, cfg: Cfg, defaults: Mapping[str, object]) -> None:
        merged = dict(defaults)
        merged.update(cfg._data)  # an explicit null in the config wins over the class default
        super().__init__(merged, where=cfg._where, used=cfg.used)


LLAMA = {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
         "num_attention_heads": 32, "max_position_embeddings": 2048}
FAMILIES: dict[str, Traits] = {
    "llama": Traits(defaults=LLAMA),
    "mistral": Traits(defaults={**LLAMA, "intermediate_size": 14336, "num_key_value_heads": 8,
                                "max_position_embeddings": 131072}, layer_pattern="mistral"),
    "qwen2": Traits(defaults={**LLAMA, "vocab_size": 151936, "intermediate_size": 22016,
                              "max_position_embeddings": 32768}, qkv_bias=True, layer_pattern="qwen2"),
    "qwen3": Traits(defaults={**LLAMA, "vocab_size": 151936, "intermediate_size": 22016, "head_dim": 128,
                              "max_position_embeddings": 32768}, qk_norm=True, layer_pattern="qwen2"),
    "gemma": Traits(defaults={"vocab_size": 256000, "hidden_size": 3072, "intermediate_size": 24576,
                              "num_hidden_layers": 28, "num_attention_heads": 16, "head_dim": 256,
                              "max_position_embeddings": 8192}, tied_default=True),
    "gemma2": Traits(defaults={"vocab_size": 256000, "hidden_size": 2304, "intermediate_size": 9216,
                               "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
                               "head_dim": 256, "sliding_window": 4096, "max_position_embeddings": 8192},
                     norms_per_layer=4, tied_default=True, layer_pattern="alternate"),
    "gemma3_text": Traits(defaults={"vocab_size": 262208, "hidden_size": 2304, "intermediate_size": 9216,
                                    "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
                                    "head_dim": 256, "sliding_window": 4096, "sliding_window_pattern": 6,
                                    "max_position_embeddings": 131072},
                          norms_per_layer=4, qk_norm=True, tied_default=True, layer_pattern="gemma3"),
    "phi3": Traits(defaults={"vocab_size": 32064, "hidden_size": 3072, "intermediate_size": 8192,
                             "num_hidden_layers": 32, "num_attention_heads": 32, "max_position_embeddings": 4096},
                   fused_qkv=True, fused_gate_up=True, layer_pattern="mistral"),
    "mixtral": Traits(defaults={**LLAMA, "intermediate_size": 14336, "num_key_value_heads": 8,
                                "num_local_experts": 8, "num_experts_per_tok": 2,
                                "max_position_embeddings": 131072}, moe="mixtral", layer_pattern="mistral"),
    "qwen2_moe": Traits(defaults={"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 5632,
                                  "num_hidden_layers": 24, "num_attention_heads": 16,
                                  "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632,
                                  "num_experts": 60, "num_experts_per_tok": 4, "decoder_sparse_step": 1,
                                  "max_position_embeddings": 32768},
                        qkv_bias=True, moe="qwen2_moe", layer_pattern="qwen2"),
    "qwen3_moe": Traits(defaults={"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 6144,
                                  "num_hidden_layers": 24, "num_attention_heads": 32, "num_key_value_heads": 4,
                                  "moe_intermediate_size": 768, "num_experts": 128, "num_experts_per_tok": 8,
                                  "decoder_sparse_step": 1, "max_position_embeddings": 32768},
                        qk_norm=True, moe="qwen3_moe", layer_pattern="qwen2"),
    "deepseek_v2": Traits(defaults={"vocab_size": 102400, "hidden_size": 4096, "intermediate_size": 11008,
                                    "num_hidden_layers": 32, "num_attention_heads": 32, "kv_lora_rank": 512,
                                    "q_lora_rank": 1536, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128,
                                    "v_head_dim": 128, "moe_intermediate_size": 1407, "n_routed_experts": 64,
                                    "n_shared_experts": 2, "first_k_dense_replace": 0, "moe_layer_freq": 1,
                                    "max_position_embeddings": 2048},
                          moe="deepseek"),
    "deepseek_v3": Traits(defaults={"vocab_size": 129280, "hidden_size": 7168, "intermediate_size": 18432,
                                    "num_hidden_layers": 61, "num_attention_heads": 128, "kv_lora_rank": 512,
                                    "q_lora_rank": 1536, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128,
                                    "v_head_dim": 128, "moe_intermediate_size": 2048, "n_routed_experts": 256,
                                    "n_shared_experts": 1, "first_k_dense_replace": 3, "moe_layer_freq": 1,
                                    "num_experts_per_tok": 8, "num_nextn_predict_layers": 1,
                                    "max_position_embeddings": 4096},
                          moe="deepseek"),
    "gpt_oss": Traits(defaults={"vocab_size": 201088, "hidden_size": 2880, "intermediate_size": 2880,
                                "num_hidden_layers": 36, "num_attention_heads": 64, "num_key_value_heads": 8,
                                "head_dim": 64, "sliding_window": 128, "num_local_experts": 128,
                                "num_experts_per_tok": 4, "attention_bias": True,
                                "max_position_embeddings": 131072},
                      moe="gpt_oss", layer_pattern="alternate"),
}
# Aliases of model_type that share a builder.
FAMILIES["mllama_text_model"] = FAMILIES["llama"]
FAMILIES["granite"] = FAMILIES["llama"]
FAMILIES["qwen2_5_vl_text"] = FAMILIES["qwen2"]
FAMILIES["qwen2_vl_text"] = FAMILIES["qwen2"]


def layers_and_heads(c: Cfg, h: int, layer_keys: tuple[str, ...], head_keys: tuple[str, ...]
                     ) -> tuple[int, int, int, int]:
    """Layer count, attention heads, KV heads and head size, checked against each other."""
    n_layers = c.first_int(layer_keys)
    if n_layers > MAX_LAYERS:
        raise ConfigError(f"config field '{layer_keys[0]}' ({n_layers}) is implausibly large")
    heads = c.first_int(head_keys)
    kv = c.int("num_key_value_heads", heads)
    if heads % kv:
        raise ConfigError(f"config field '{head_keys[0]}' ({heads}) is not divisible by "
                          f"'num_key_value_heads' ({kv})")
    hd = c.int("head_dim") if c.has("head_dim") else c.divides("hidden_size", h, head_keys[0], heads)
    return n_layers, heads, kv, hd


def _layer_windows(c: Cfg, t: Traits, n_layers: int) -> list[int | None]:
    """The sliding window of each layer (None = full attention)."""
    types = c.str_list("layer_types")
    window = c.opt_int("sliding_window")
    if types is not None:
        if len(types) != n_layers:
            raise ConfigError(f"config field 'layer_types' has {len(types)} entries for {n_layers} layers")
        if any(ty == "sliding_attention" for ty in types) and window is None:
            raise ConfigError("config field 'sliding_window' is missing and is needed for sliding layers")
        return [window if ty == "sliding_attention" else None for ty in types]
    if window is None or t.layer_pattern == "none":
        return [None] * n_layers
    if t.layer_pattern == "mistral":
        return [window] * n_layers
    if t.layer_pattern == "qwen2":
        if not c.bool("use_sliding_window", False):
            return [None] * n_layers
        first = c.int("max_window_layers", n_layers, minimum=0)
        return [window if i >= first else None for i in range(n_layers)]
    if t.layer_pattern == "alternate":
        return [window if (i + 1) % 2 else None for i in range(n_layers)]
    # gemma3: every sliding_window_pattern-th layer is global.
    pattern = c.int("sliding_window_pattern", 6)
    return [window if (i + 1) % pattern else None for i in range(n_layers)]


def _mlp(h: int, width: int, *, gated: bool, fused: bool = False, bias: bool = False,
         prefix: str = "", copies: int = 1, active: int | None = None) -> tuple[Linear, ...]:
    if gated and fused:
        return (Linear(name=f"{prefix}gate_up_proj", in_features=h, out_features=2 * width, bias=bias,
                       copies=copies, active_copies=active),
                Linear(name=f"{prefix}down_proj", in_features=width, out_features=h, bias=bias,
                       copies=copies, active_copies=active))
    names = ("gate_proj", "up_proj", "down_proj") if gated else ("up_proj", "down_proj")
    ups = tuple(Linear(name=f"{prefix}{n}", in_features=h, out_features=width, bias=bias, copies=copies,
                       active_copies=active) for n in names[:-1])
    return ups + (Linear(name=f"{prefix}down_proj", in_features=width, out_features=h, bias=bias,
                         copies=copies, active_copies=active),)


def build_llama_like(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """Build any family of FAMILIES from its (text) config."""
    t = FAMILIES[model_type]
    c = _Defaults(cfg, t.defaults)
    h = c.int("hidden_size")
    n_layers, heads, kv, hd = layers_and_heads(c, h, ("num_hidden_layers",), ("num_attention_heads",))
    vocab = c.int("vocab_size")
    inter = c.int("intermediate_size")
    tied = c.bool("tie_word_embeddings", t.tied_default)
    attn_bias = c.bool("attention_bias", False)
    mlp_bias = c.bool("mlp_bias", False)
    windows = _layer_windows(c, t, n_layers)
    notes: list[str] = []

    def attention_linears(window: int | None) -> tuple[tuple[Linear, ...], Attention, int]:
        if t.moe == "deepseek":
            return _mla(c, h, heads)
        other = 0
        if t.fused_qkv:
            lins: tuple[Linear, ...] = (Linear(name="qkv_proj", in_features=h, out_features=(heads + 2 * kv) * hd,
                                               bias=attn_bias),)
        else:
            qb = t.qkv_bias or attn_bias
            lins = (Linear(name="q_proj", in_features=h, out_features=heads * hd, bias=qb),
                    Linear(name="k_proj", in_features=h, out_features=kv * hd, bias=qb),
                    Linear(name="v_proj", in_features=h, out_features=kv * hd, bias=qb))
        lins += (Linear(name="o_proj", in_features=heads * hd, out_features=h, bias=attn_bias),)
        if t.qk_norm:
            other += 2 * hd
        if t.moe == "gpt_oss":
            other += heads  # attention sinks: one learned logit per head
        att = Attention(kind="sliding" if window else "full", num_heads=heads, num_kv_heads=kv, head_dim=hd,
                        v_head_dim=hd, window=window)
        return lins, att, other

    def mlp_for_layer(i: int) -> tuple[tuple[Linear, ...], int, int, int, int]:
        """(linears, other params, dense MLP width, experts per token, expert width)."""
        if t.moe == "none":
            return _mlp(h, inter, gated=t.gated_mlp, fused=t.fused_gate_up, bias=mlp_bias), 0, inter, 0, 0
        if t.moe == "mixtral":
            e, k = c.int("num_local_experts"), c.int("num_experts_per_tok")
            return (_mlp(h, inter, gated=True, prefix="experts.", copies=e, active=k)
                    + (Linear(name="gate", in_features=h, out_features=e),)), 0, 0, k, inter
        if t.moe in ("qwen2_moe", "qwen3_moe"):
            e = c.first_int(("num_experts", "num_local_experts"))
            k = c.int("num_experts_per_tok")
            step = c.int("decoder_sparse_step")
            dense = set(c.int_list("mlp_only_layers", []))
            if i in dense or (i + 1) % step:
                return _mlp(h, inter, gated=True), 0, inter, 0, 0
            mi = c.int("moe_intermediate_size")
            lins = _mlp(h, mi, gated=True, prefix="experts.", copies=e, active=k)
            lins += (Linear(name="gate", in_features=h, out_features=e),)
            shared_width = 0
            if t.moe == "qwen2_moe":
                si = c.int("shared_expert_intermediate_size", minimum=0)
                if si:
                    lins += _mlp(h, si, gated=True, prefix="shared_expert.")
                    lins += (Linear(name="shared_expert_gate", in_features=h, out_features=1),)
                    shared_width = si
            return lins, 0, shared_width, k, mi
        if t.moe == "deepseek":
            routed = c.opt_int("n_routed_experts")
            first = c.int("first_k_dense_replace", minimum=0)
            freq = c.int("moe_layer_freq")
            if routed is None or i < first or i % freq:
                return _mlp(h, inter, gated=True), 0, inter, 0, 0
            k = c.int("num_experts_per_tok")
            mi = c.int("moe_intermediate_size")
            shared = c.int("n_shared_experts", 0, minimum=0)
            lins = _mlp(h, mi, gated=True, prefix="experts.", copies=routed, active=k)
            lins += (Linear(name="gate", in_features=h, out_features=routed),)
            if shared:
                lins += _mlp(h, mi * shared, gated=True, prefix="shared_experts.")
            return lins, 0, shared * mi, k, mi
        # gpt_oss: experts with biases, router with bias.
        e, k = c.int("num_local_experts"), c.int("num_experts_per_tok")
        lins = (Linear(name="experts.gate_up_proj", in_features=h, out_features=2 * inter, bias=True,
                       copies=e, active_copies=k),
                Linear(name="experts.down_proj", in_features=inter, out_features=h, bias=True,
                       copies=e, active_copies=k),
                Linear(name="router", in_features=h, out_features=e, bias=True))
        return lins, 0, 0, k, inter

    layers: list[Block] = []
    for i in range(n_layers):
        a_lins, att, a_other = attention_linears(windows[i])
        m_lins, m_other, width, k_active, e_width = mlp_for_layer(i)
        layers.append(Block(name="decoder_layer", linears=a_lins + m_lins,
                            other_params=a_other + m_other + t.norms_per_layer * h,
                            attention=att, mlp_width=width, gated_mlp=t.gated_mlp,
                            experts_per_token=k_active, expert_width=e_width))
    components = [
        Component(name="embeddings", kind="embedding",
                  blocks=(Block(name="embed_tokens", embedding_params=vocab * h),)),
        Component(name="decoder", kind="decoder",
                  blocks=_merge(layers) + (Block(name="final_norm", other_params=h),)),
    ]
    if tied:
        notes.append("lm_head is tied to the input embeddings: counted once")
    else:
        components.append(Component(name="lm_head", kind="head",
                                    blocks=(Block(name="lm_head", linears=(
                                        Linear(name="lm_head", in_features=h, out_features=vocab),)),)))
    if t.moe == "deepseek" and c.int("num_nextn_predict_layers", 0, minimum=0):
        n_mtp = c.int("num_nextn_predict_layers", minimum=0)
        mtp_layer = layers[-1]
        components.append(Component(name="mtp", kind="mtp", loaded=False, blocks=(
            Block(name="mtp_layer", count=n_mtp, linears=mtp_layer.linears + (
                Linear(name="eh_proj", in_features=2 * h, out_features=h),
                Linear(name="shared_head.head", in_features=h, out_features=vocab)),
                embedding_params=vocab * h, other_params=mtp_layer.other_params + 3 * h,
                attention=mtp_layer.attention, mlp_width=mtp_layer.mlp_width,
                experts_per_token=mtp_layer.experts_per_token, expert_width=mtp_layer.expert_width),)))
        notes.append(f"{n_mtp} multi-token-prediction layer(s) stored in the checkpoint are not built by "
                     "transformers: not counted in parameters or weights")
    text = TextDims(hidden_size=h, num_layers=n_layers, num_heads=heads, vocab_size=vocab,
                    max_position_embeddings=c.opt_int("max_position_embeddings"),
                    attention_dropout=_positive_float(c, "attention_dropout"))
    return ModelSpec(id=model_id, model_type=model_type, components=tuple(components), text=text,
                     tied_embeddings=tied, checkpoint_dtype=_dtype(cfg), notes=tuple(notes),
                     config_keys=tuple(sorted(c.used)))


def _positive_float(c: Cfg, *keys: str) -> bool:
    """Whether any of the (dropout) fields is a number above zero."""
    for key in keys:
        value = c.raw(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return True
    return False


def _mla(c: Cfg, h: int, heads: int) -> tuple[tuple[Linear, ...], Attention, int]:
    """DeepSeek multi-head latent attention (DeepSeek-V2 paper, arXiv:2405.04434, section 2.1)."""
    kv_rank = c.int("kv_lora_rank")
    q_rank = c.opt_int("q_lora_rank")
    rope = c.int("qk_rope_head_dim")
    nope = c.int("qk_nope_head_dim")
    vd = c.int("v_head_dim")
    qd = nope + rope
    other = kv_rank  # kv_a_layernorm
    if q_rank:
        lins: tuple[Linear, ...] = (Linear(name="q_a_proj", in_features=h, out_features=q_rank),
                                    Linear(name="q_b_proj", in_features=q_rank, out_features=heads * qd))
        other += q_rank  # q_a_layernorm
    else:
        lins = (Linear(name="q_proj", in_features=h, out_features=heads * qd),)
    lins += (Linear(name="kv_a_proj_with_mqa", in_features=h, out_features=kv_rank + rope),
             Linear(name="kv_b_proj", in_features=kv_rank, out_features=heads * (nope + vd)),
             Linear(name="o_proj", in_features=heads * vd, out_features=h))
    att = Attention(kind="mla", num_heads=heads, num_kv_heads=1, head_dim=qd, v_head_dim=vd,
                    latent_dim=kv_rank + rope)
    return lins, att, other


def _merge(layers: list[Block]) -> tuple[Block, ...]:
    """Group identical layers into one Block with a count, in order of first appearance."""
    out: list[Block] = []
    counts: list[int] = []
    for layer in layers:
        for j, seen in enumerate(out):
            if seen == layer:
                counts[j] += 1
                break
        else:
            out.append(layer)
            counts.append(1)
    return tuple(replace(b, count=n) for b, n in zip(out, counts, strict=True))


def _dtype(cfg: Cfg) -> str | None:
    value = cfg.raw("torch_dtype") or cfg.raw("dtype")
    return value if isinstance(value, str) else None


def build_gpt2(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """GPT-2 and GPT-BigCode: learned positions, LayerNorm with bias, fused c_attn, 4h GeLU MLP."""
    c = _Defaults(cfg, {"vocab_size": 50257, "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024})
    h = c.first_int(("n_embd", "hidden_size"))
    n_layers = c.first_int(("n_layer", "num_hidden_layers"))
    heads = c.first_int(("n_head", "num_attention_heads"))
    hd = c.divides("n_embd", h, "n_head", heads)
    vocab = c.int("vocab_size")
    positions = c.first_int(("n_positions", "max_position_embeddings"))
    inner = c.opt_int("n_inner") or 4 * h
    mqa = model_type == "gpt_bigcode" and c.bool("multi_query", True)
    kv = 1 if mqa else heads
    qkv_out = h + 2 * kv * hd
    layer = Block(name="decoder_layer", count=n_layers, linears=(
        Linear(name="c_attn", in_features=h, out_features=qkv_out, bias=True),
        Linear(name="attn.c_proj", in_features=h, out_features=h, bias=True),
        Linear(name="c_fc", in_features=h, out_features=inner, bias=True),
        Linear(name="mlp.c_proj", in_features=inner, out_features=h, bias=True)),
        other_params=4 * h, attention=Attention(kind="full", num_heads=heads, num_kv_heads=kv, head_dim=hd,
                                                v_head_dim=hd), mlp_width=inner, gated_mlp=False)
    text = TextDims(hidden_size=h, num_layers=n_layers, num_heads=heads, vocab_size=vocab,
                    max_position_embeddings=positions, attention_dropout=_positive_float(c, "attn_pdrop"),
                    hidden_dropout=_positive_float(c, "resid_pdrop"))
    return _layer_norm_lm(cfg, c, model_type, model_id=model_id, text=text, layer=layer,
                          embedding=Block(name="wte_wpe", embedding_params=vocab * h + positions * h))


def _layer_norm_lm(cfg: Cfg, c: Cfg, model_type: str, *, model_id: str, text: TextDims, layer: Block,
                   embedding: Block) -> ModelSpec:
    """Embeddings, the layers and a final LayerNorm, and an lm_head unless tied (the default)."""
    h, vocab = text.hidden_size, text.vocab_size
    tied = c.bool("tie_word_embeddings", True)
    components = [
        Component(name="embeddings", kind="embedding", blocks=(embedding,)),
        Component(name="decoder", kind="decoder", blocks=(layer, Block(name="ln_f", other_params=2 * h))),
    ]
    if not tied:
        components.append(Component(name="lm_head", kind="head", blocks=(Block(name="lm_head", linears=(
            Linear(name="lm_head", in_features=h, out_features=vocab),)),)))
    return ModelSpec(id=model_id, model_type=model_type, components=tuple(components), text=text,
                     tied_embeddings=tied, checkpoint_dtype=_dtype(cfg),
                     notes=("lm_head is tied to the input embeddings: counted once",) if tied else (),
                     config_keys=tuple(sorted(c.used)))


def build_bert(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """BERT-style encoders for sequence classification (BertForSequenceClassification): word,
    position and token-type embeddings, post-norm layers with biases, a pooler and a classifier."""
    c = _Defaults(cfg, {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                        "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2})
    h = c.int("hidden_size")
    n_layers = c.int("num_hidden_layers")
    heads = c.int("num_attention_heads")
    hd = c.divides("hidden_size", h, "num_attention_heads", heads)
    inter = c.int("intermediate_size")
    vocab = c.int("vocab_size")
    positions = c.int("max_position_embeddings")
    types = c.int("type_vocab_size", minimum=0)
    labels = len(c.raw("id2label") or {}) or c.int("num_labels", 2)
    layer = Block(name="encoder_layer", count=n_layers, linears=(
        Linear(name="query", in_features=h, out_features=h, bias=True),
        Linear(name="key", in_features=h, out_features=h, bias=True),
        Linear(name="value", in_features=h, out_features=h, bias=True),
        Linear(name="attention.output.dense", in_features=h, out_features=h, bias=True),
        Linear(name="intermediate.dense", in_features=h, out_features=inter, bias=True),
        Linear(name="output.dense", in_features=inter, out_features=h, bias=True)),
        other_params=4 * h, attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=hd,
                                                v_head_dim=hd), mlp_width=inter, gated_mlp=False)
    components = (
        Component(name="embeddings", kind="embedding", blocks=(
            Block(name="embeddings", embedding_params=(vocab + positions + types) * h, other_params=2 * h),)),
        Component(name="decoder", kind="decoder", blocks=(layer,)),
        Component(name="lm_head", kind="head", blocks=(Block(name="pooler_classifier", linears=(
            Linear(name="pooler", in_features=h, out_features=h, bias=True),
            Linear(name="classifier", in_features=h, out_features=labels, bias=True))),)),
    )
    text = TextDims(hidden_size=h, num_layers=n_layers, num_heads=heads, vocab_size=vocab,
                    max_position_embeddings=positions, causal=False, logits_width=labels,
                    attention_dropout=_positive_float(c, "attention_probs_dropout_prob"),
                    hidden_dropout=_positive_float(c, "hidden_dropout_prob"))
    return ModelSpec(id=model_id, model_type=model_type, components=components, text=text,
                     checkpoint_dtype=_dtype(cfg), config_keys=tuple(sorted(c.used)),
                     notes=(f"encoder with a {labels}-way classification head: no KV cache",))


def build_falcon(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """Falcon: fused query_key_value, MQA or grouped KV (new_decoder_architecture), parallel attention."""
    c = _Defaults(cfg, {"vocab_size": 65024, "hidden_size": 4544, "num_hidden_layers": 32,
                        "num_attention_heads": 71, "max_position_embeddings": 2048})
    h = c.first_int(("hidden_size", "n_embed"))
    n_layers = c.first_int(("num_hidden_layers", "n_layer"))
    heads = c.first_int(("num_attention_heads", "n_head"))
    hd = c.divides("hidden_size", h, "num_attention_heads", heads)
    vocab = c.int("vocab_size")
    new_arch = c.bool("new_decoder_architecture", False)
    multi_query = c.bool("multi_query", True)
    bias = c.bool("bias", False)
    parallel = c.bool("parallel_attn", True)
    if new_arch:
        kv = c.int("num_kv_heads", heads)
        qkv_out = (heads + 2 * kv) * hd
    else:
        kv = 1 if multi_query else heads
        qkv_out = h + 2 * kv * hd
    ffn = c.opt_int("ffn_hidden_size") or 4 * h
    if new_arch:
        n_ln = c.int("num_ln_in_parallel_attn", 2)
    else:
        n_ln = 1 if parallel else 2
    layer = Block(name="decoder_layer", count=n_layers, linears=(
        Linear(name="query_key_value", in_features=h, out_features=qkv_out, bias=bias),
        Linear(name="dense", in_features=h, out_features=h, bias=bias),
        Linear(name="dense_h_to_4h", in_features=h, out_features=ffn, bias=bias),
        Linear(name="dense_4h_to_h", in_features=ffn, out_features=h, bias=bias)),
        other_params=n_ln * 2 * h, attention=Attention(kind="full", num_heads=heads, num_kv_heads=kv,
                                                       head_dim=hd, v_head_dim=hd),
        mlp_width=ffn, gated_mlp=False)
    text = TextDims(hidden_size=h, num_layers=n_layers, num_heads=heads, vocab_size=vocab,
                    max_position_embeddings=c.opt_int("max_position_embeddings"),
                    attention_dropout=_positive_float(c, "attention_dropout"),
                    hidden_dropout=_positive_float(c, "hidden_dropout"))
    return _layer_norm_lm(cfg, c, model_type, model_id=model_id, text=text, layer=layer,
                          embedding=Block(name="word_embeddings", embedding_params=vocab * h))
