"""More decoder families whose layers differ only in which biases, norms and MLPs they use:
gpt_neox (Pythia), bloom, opt, phi (Phi-1/2), starcoder2, olmo2, cohere (Command R), stablelm.

Shapes follow the transformers module definitions; tests hold each family to the count transformers
builds for a real config (tests/data/golden_params.json).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vram.architectures._config import Cfg
from vram.architectures.decoders import _Defaults, _dtype, _positive_float, layers_and_heads
from vram.architectures.layers import lm_head
from vram.architectures.reader import Reading, layer_kinds
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, ModelSpec, TextDims

Norm = Literal["rms", "ln", "ln_nobias"]


@dataclass(frozen=True)
class Family:
    defaults: dict[str, object] = field(default_factory=dict)
    fused_qkv: bool = False
    qkv_bias: bool | str = False  # a bool, or the config key that says
    o_bias: bool | str = False
    gated: bool = True
    mlp_bias: bool | str = False
    inter_key: str = "intermediate_size"
    norms_per_layer: int = 2
    norms_per_layer_key: str | None = None  # a bool key: parallel residual -> 1 norm
    norm: Norm = "ln"
    final_norm: bool = True
    tied_default: bool = False
    learned_positions: int | None = None  # offset added to max_position_embeddings
    embedding_norm: bool = False
    head_bias: bool = False
    qk_norm: Literal["none", "per_head", "full"] = "none"
    qk_norm_key: str | None = None
    layer_pattern: str = "none"
    names: tuple[str, str, str, str] = ("q_proj", "o_proj", "up_proj", "down_proj")


FAMILIES: dict[str, Family] = {
    "gpt_neox": Family(defaults={"vocab_size": 50432, "hidden_size": 6144, "num_hidden_layers": 44,
                                 "num_attention_heads": 64, "intermediate_size": 24576,
                                 "max_position_embeddings": 2048, "attention_bias": True},
                       fused_qkv=True, qkv_bias="attention_bias", o_bias="attention_bias", gated=False,
                       mlp_bias=True, names=("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h")),
    "bloom": Family(defaults={"vocab_size": 250880, "hidden_size": 64, "n_layer": 2, "n_head": 8},
                    fused_qkv=True, qkv_bias=True, o_bias=True, gated=False, mlp_bias=True, inter_key="",
                    tied_default=True, embedding_norm=True,
                    names=("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h")),
    "opt": Family(defaults={"vocab_size": 50272, "hidden_size": 768, "num_hidden_layers": 12,
                            "num_attention_heads": 12, "ffn_dim": 3072, "max_position_embeddings": 2048,
                            "enable_bias": True},
                  qkv_bias="enable_bias", o_bias="enable_bias", gated=False, mlp_bias="enable_bias",
                  inter_key="ffn_dim", tied_default=True, learned_positions=2,
                  names=("q_proj", "out_proj", "fc1", "fc2")),
    "phi": Family(defaults={"vocab_size": 51200, "hidden_size": 2048, "num_hidden_layers": 24,
                            "num_attention_heads": 32, "intermediate_size": 8192, "max_position_embeddings": 2048},
                  qkv_bias=True, o_bias=True, gated=False, mlp_bias=True, norms_per_layer=1, head_bias=True,
                  qk_norm="per_head", qk_norm_key="qk_layernorm", names=("q_proj", "dense", "fc1", "fc2")),
    "starcoder2": Family(defaults={"vocab_size": 49152, "hidden_size": 3072, "num_hidden_layers": 30,
                                   "num_attention_heads": 24, "num_key_value_heads": 2, "intermediate_size": 12288,
                                   "max_position_embeddings": 4096, "use_bias": True},
                         qkv_bias="use_bias", o_bias="use_bias", gated=False, mlp_bias="use_bias", tied_default=True,
                         layer_pattern="mistral", names=("q_proj", "o_proj", "c_fc", "c_proj")),
    "olmo2": Family(defaults={"vocab_size": 50304, "hidden_size": 4096, "num_hidden_layers": 32,
                              "num_attention_heads": 32, "intermediate_size": 11008, "max_position_embeddings": 2048},
                    qkv_bias="attention_bias", o_bias="attention_bias", norm="rms", qk_norm="full"),
    "cohere": Family(defaults={"vocab_size": 256000, "hidden_size": 8192, "num_hidden_layers": 40,
                               "num_attention_heads": 64, "intermediate_size": 22528, "max_position_embeddings": 8192},
                     qkv_bias="attention_bias", o_bias="attention_bias", norms_per_layer=1, norm="ln_nobias",
                     tied_default=True, qk_norm="per_head", qk_norm_key="use_qk_norm"),
    "stablelm": Family(defaults={"vocab_size": 50304, "hidden_size": 2560, "num_hidden_layers": 32,
                                 "num_attention_heads": 32, "intermediate_size": 6912, "max_position_embeddings": 4096},
                       qkv_bias="use_qkv_bias", norms_per_layer_key="use_parallel_residual",
                       qk_norm="per_head", qk_norm_key="qk_layernorm"),
}
_KEYS = {"hidden_size": ("hidden_size", "n_embed", "d_model"), "num_hidden_layers": ("num_hidden_layers", "n_layer"),
         "num_attention_heads": ("num_attention_heads", "n_head")}


def _flag(c: Cfg, value: bool | str) -> bool:
    return value if isinstance(value, bool) else c.bool(value, False)


def build_classic(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    f = FAMILIES[model_type]
    c = _Defaults(cfg, f.defaults)
    h = c.first_int(_KEYS["hidden_size"])
    n_layers, heads, kv, hd = layers_and_heads(c, h, _KEYS["num_hidden_layers"], _KEYS["num_attention_heads"])
    vocab = c.int("vocab_size")
    inter = c.int(f.inter_key) if f.inter_key else 4 * h
    norm = {"rms": h, "ln": 2 * h, "ln_nobias": h}[f.norm]
    qkv_b, o_b, mlp_b = _flag(c, f.qkv_bias), _flag(c, f.o_bias), _flag(c, f.mlp_bias)
    q_name, o_name, up_name, down_name = f.names
    if f.fused_qkv:
        attn: tuple[Linear, ...] = (Linear(name=q_name, in_features=h, out_features=(heads + 2 * kv) * hd, bias=qkv_b),)
    else:
        attn = (Linear(name=q_name, in_features=h, out_features=heads * hd, bias=qkv_b),
                Linear(name="k_proj", in_features=h, out_features=kv * hd, bias=qkv_b),
                Linear(name="v_proj", in_features=h, out_features=kv * hd, bias=qkv_b))
    attn += (Linear(name=o_name, in_features=heads * hd, out_features=h, bias=o_b),)
    if f.gated:
        mlp: tuple[Linear, ...] = (Linear(name="gate_proj", in_features=h, out_features=inter, bias=mlp_b),
                                   Linear(name=up_name, in_features=h, out_features=inter, bias=mlp_b))
    else:
        mlp = (Linear(name=up_name, in_features=h, out_features=inter, bias=mlp_b),)
    mlp += (Linear(name=down_name, in_features=inter, out_features=h, bias=mlp_b),)
    norms = f.norms_per_layer
    if f.norms_per_layer_key and c.bool(f.norms_per_layer_key, False):
        norms = 1
    other = norms * norm
    if f.qk_norm == "full":
        other += (heads + kv) * hd
    elif f.qk_norm == "per_head" and f.qk_norm_key and c.bool(f.qk_norm_key, False):
        # a LayerNorm per head: Cohere without bias, Phi and StableLM with (phi: one shared of head_dim)
        per = hd if f.norm == "ln_nobias" else 2 * hd
        other += (heads + kv) * per if model_type != "phi" else 2 * per
    kinds, _ = layer_kinds(Reading(c, {}), n_layers, pattern="window" if f.layer_pattern == "mistral" else "none")
    window = c.opt_int("sliding_window")
    windows = [window if kind == "sliding" else None for kind in kinds]
    blocks: list[Block] = []
    for window in sorted(set(windows), key=lambda x: -1 if x is None else x):
        count = windows.count(window)
        blocks.append(Block(name="decoder_layer", count=count, linears=attn + mlp, other_params=other,
                            attention=Attention(kind="sliding" if window else "full", num_heads=heads,
                                                num_kv_heads=kv, head_dim=hd, v_head_dim=hd, window=window),
                            mlp_width=inter, gated_mlp=f.gated))
    positions = c.opt_int("max_position_embeddings")
    embed = vocab * h
    emb_other = norm if f.embedding_norm else 0
    project: tuple[Linear, ...] = ()
    if f.learned_positions is not None:
        if positions is None:
            raise ConfigError("config field 'max_position_embeddings' is missing and is needed for this model")
        proj = c.int("word_embed_proj_dim", h)
        embed = vocab * proj + (positions + f.learned_positions) * h
        if proj != h:
            project = (Linear(name="project_in", in_features=proj, out_features=h),
                       Linear(name="project_out", in_features=h, out_features=proj))
    final = norm if f.final_norm and (model_type != "opt" or c.bool("do_layer_norm_before", True)) else 0
    tied = c.bool("tie_word_embeddings", f.tied_default)
    components = [Component(name="embeddings", kind="embedding",
                            blocks=(Block(name="embed_tokens", embedding_params=embed, other_params=emb_other,
                                          linears=project),)),
                  Component(name="decoder", kind="decoder", blocks=(*blocks, Block(name="final_norm",
                                                                                    other_params=final)))]
    notes = []
    if tied:
        notes.append("lm_head is tied to the input embeddings: counted once")
    else:
        out_width = c.int("word_embed_proj_dim", h) if model_type == "opt" else h
        components.append(lm_head(out_width, vocab, bias=f.head_bias))
    text = TextDims(hidden_size=h, num_layers=n_layers, num_heads=heads, vocab_size=vocab,
                    max_position_embeddings=positions,
                    attention_dropout=_positive_float(c, "attention_dropout", "attn_pdrop"),
                    hidden_dropout=_positive_float(c, "hidden_dropout", "resid_pdrop", "dropout"))
    return ModelSpec(id=model_id, model_type=model_type, components=tuple(components), text=text,
                     tied_embeddings=tied, checkpoint_dtype=_dtype(cfg), notes=tuple(notes),
                     config_keys=tuple(sorted(c.used)))


BUILDERS = {t: build_classic for t in FAMILIES}
