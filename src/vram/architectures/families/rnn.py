"""Recurrent decoders: RWKV (v4) and xLSTM (no attention at all), RecurrentGemma (RG-LRU blocks beside
local attention).

File followed (transformers 5.23): models/rwkv/modeling_rwkv.py (RwkvBlock: a LayerNorm before each
of the time mix and the channel mix, pre_ln on the first block; RwkvSelfAttention's key, value,
receptance and output projections of attention_hidden_size with time_decay, time_first and three
token-shift mixes; RwkvFeedForward's key / value of intermediate_size with a squared ReLU and a
hidden x hidden receptance gate) and configuration_rwkv.py (attention_hidden_size defaults to
hidden_size, intermediate_size to 4 x hidden_size; max_position_embeddings is context_length);
models/recurrent_gemma/modeling_recurrent_gemma.py (RecurrentGemmaRecurrentBlock: linear_x / linear_y /
linear_out with biases, a depthwise conv_1d with bias, RecurrentGemmaRglru's recurrent_param and
block-diagonal input and recurrent gates, one block per head; RecurrentGemmaSdpaAttention: q/k/v
without bias, o_proj with bias, a window of attention_window_size; an MLP of intermediate_size // 2
with biases) and configuration_recurrent_gemma.py (block_types cycled over the layers, lru_width
defaults to hidden_size, head_dim is always hidden_size // num_attention_heads);
models/xlstm/modeling_xlstm.py (xLSTMBlock: RMSNorms before the mLSTM layer and the feed-forward;
xLSTMLayer in weight_mode single or fused: q / k of int(hidden x qk_dim_factor), v and the output gate
of int(hidden x v_dim_factor), input and forget gates per head with biases, a multi-head norm,
out_proj; xLSTMFeedForward: a gated MLP of hidden x ffn_proj_factor rounded up to
ffn_round_up_to_multiple_of) and configuration_xlstm.py.
"""

from __future__ import annotations

from vram.architectures import layers as L
from vram.architectures.generic import Family
from vram.architectures.reader import Basics, Reading
from vram.errors import ConfigError
from vram.model import Linear, StateCache


def _rwkv_att(r: Reading) -> int:
    return r.int("attention_hidden_size") if r.has("attention_hidden_size") else r.int("hidden_size")


def _rwkv_kinds(r: Reading, n: int) -> tuple[list[str], list[str] | None]:
    return ["linear"] * n, ["dense"] * n


def _rwkv_time_mix(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """RwkvSelfAttention. Its state per sequence (RwkvModel.forward): five hidden_size vectors per layer,
    the time mix's and the channel mix's previous token in the activations' dtype, and the WKV
    numerator, denominator and running maximum in float32."""
    h, a = b.hidden, _rwkv_att(r)
    lins = tuple(Linear(name=name, in_features=h, out_features=a) for name in ("key", "value", "receptance"))
    lins += (Linear(name="output", in_features=a, out_features=h),)
    # Activations of the torch path (rwkv_linear_attention_cpu): the shifted input and its three mixes,
    # key / value / receptance and the sigmoid of receptance per token, and key, value and the output
    # held in float32 for the whole sequence.
    state = StateCache(kind="linear", conv_elements=2 * h, recurrent_elements=3 * h, projected=4 * h + 4 * a,
                       channels=0, inner=a, work_fp32=3 * a, mixer="rwkv")
    return L.Part(linears=lins, other=2 * a + 3 * h, state=state)  # time_decay, time_first; the mixes


def _rwkv_width(r: Reading, i: int) -> int:
    return r.int("intermediate_size") if r.has("intermediate_size") else 4 * r.int("hidden_size")


def _rwkv_parts(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """RwkvFeedForward's receptance gate and its two token-shift mixes; pre_ln (a LayerNorm) on block 0."""
    h = b.hidden
    gate = Linear(name="feed_forward.receptance", in_features=h, out_features=h)
    return L.Part(linears=(gate,), other=2 * h + (2 * h if i == 0 else 0))


# ---- RecurrentGemma (Griffin) ----------------------------------------------------------------

def _rg_kinds(r: Reading, n: int) -> tuple[list[str], list[str] | None]:
    """RecurrentGemmaConfig.layers_block_type: block_types repeated over the layers."""
    value = r.raw("block_types", ["recurrent", "recurrent", "attention"])
    if not isinstance(value, list) or not value or any(t not in ("recurrent", "attention") for t in value):
        raise ConfigError("config field 'block_types' must list 'recurrent' and 'attention' blocks")
    return ["linear" if value[i % len(value)] == "recurrent" else "sliding" for i in range(n)], ["dense"] * n


def _lru(r: Reading, b: Basics) -> int:
    return r.int("lru_width") if r.has("lru_width") else b.hidden


def _rg_lru(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """RecurrentGemmaRecurrentBlock. Its state per sequence (_setup_cache and the prefill): the last
    conv1d_width - 1 inputs of the convolution in the activations' dtype, and the RG-LRU state, lru_width
    values in float32."""
    h, lru, heads, kernel = b.hidden, _lru(r, b), b.heads, r.int("conv1d_width")
    lins = (Linear(name="linear_y", in_features=h, out_features=lru, bias=True),
            Linear(name="linear_x", in_features=h, out_features=lru, bias=True),
            Linear(name="linear_out", in_features=lru, out_features=h, bias=True))
    block = lru // heads
    gates = 2 * (heads * block * block + heads * block)  # input and recurrent gates: weights and biases
    other = lru * kernel + lru + lru + gates  # conv_1d with bias, recurrent_param
    # Activations: linear_x and linear_y, and the RG-LRU's gate intermediates (two gates, the log and the
    # exponent of the recurrent gate, its square, the multiplier and the normalised input), per token.
    state = StateCache(kind="linear", conv_elements=lru * (kernel - 1), recurrent_elements=lru,
                       projected=2 * lru + 7 * lru, channels=lru, inner=lru, mixer="rg_lru")
    return L.Part(linears=lins, other=other, state=state)


def _rg_attention(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    h = b.hidden
    bias = r.bool("attention_bias", False)
    return L.attention(h, b.heads, b.kv_heads, h // b.heads, kind="sliding", window=r.int("attention_window_size"),
                       qkv_bias=bias, o_bias=True)


def _rg_width(r: Reading, i: int) -> int:
    return r.int("intermediate_size") // 2  # RecurrentGemmaMlp: intermediate_size // 2 per projection


# ---- xLSTM ------------------------------------------------------------------------------------

def _xlstm_kinds(r: Reading, n: int) -> tuple[list[str], list[str] | None]:
    return ["linear"] * n, ["dense"] * n


def _xlstm_dims(r: Reading, h: int) -> tuple[int, int]:
    """(qk width, v width) as xLSTMLayer builds them: int(), not rounded (the config's qk_dim property
    rounds up to 64, and sizes the cache)."""
    return int(h * _float(r, "qk_dim_factor")), int(h * _float(r, "v_dim_factor"))


def _float(r: Reading, key: str) -> float:
    value = r.raw(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"config field '{key}' must be a positive number, got {value!r}")
    return float(value)


def _round_up(x: float, multiple: int) -> int:
    return int(((x + multiple - 1) // multiple) * multiple)


def _mlstm(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """xLSTMLayer. Its state per sequence (xLSTMCache, then the kernel's returned states): per head the
    matrix memory C (qk_head_dim x v_head_dim), the normaliser n (qk_head_dim) and the stabiliser m,
    computed in inference_state_dtype (float32 by default) but kept in the cache dtype; head dims from the
    config's qk_dim / v_dim (rounded up to 64)."""
    h, heads, bias = b.hidden, r.int("num_heads"), r.bool("use_bias", False)
    qk, v = _xlstm_dims(r, h)
    if r.raw("weight_mode", "single") == "fused":
        lins: tuple[Linear, ...] = (Linear(name="qkv_opreact", in_features=h, out_features=2 * qk + 2 * v, bias=bias),
                                    Linear(name="ifgate_preact", in_features=h, out_features=2 * heads, bias=True))
    elif r.raw("weight_mode", "single") == "single":
        lins = (Linear(name="q", in_features=h, out_features=qk, bias=bias),
                Linear(name="k", in_features=h, out_features=qk, bias=bias),
                Linear(name="v", in_features=h, out_features=v, bias=bias),
                Linear(name="ogate_preact", in_features=h, out_features=v, bias=bias),
                Linear(name="igate_preact", in_features=h, out_features=heads, bias=True),
                Linear(name="fgate_preact", in_features=h, out_features=heads, bias=True))
    else:
        raise ConfigError(f"config field 'weight_mode' must be 'single' or 'fused', got {r.raw('weight_mode')!r}")
    lins += (Linear(name="out_proj", in_features=v, out_features=h, bias=bias),)
    qk_hd = _round_up(h * _float(r, "qk_dim_factor"), 64) // heads
    v_hd = _round_up(h * _float(r, "v_dim_factor"), 64) // heads
    # The state is computed in inference_state_dtype (float32 by default) but kept in xLSTMCache, which
    # xLSTMModel.forward allocates in the embeddings' dtype (modeling_xlstm.py, transformers 5.23:
    # xLSTMCache(..., dtype=inputs_embeds.dtype), each step copy_'d into it): the cache dtype, not float32.
    # Activations: q, k, v, the output gate and the two gates per token; the chunkwise native kernel's
    # float32 work (chunk_size 64) is counted as the per-chunk decay rows per head.
    state = StateCache(kind="linear", conv_elements=0, recurrent_elements=heads * (qk_hd * v_hd + qk_hd + 1),
                       recurrent_fp32=False, projected=2 * qk + 2 * v + 2 * heads, channels=0, inner=v,
                       work_fp32=r.int("chunk_size", 64) * heads, mixer="mlstm")
    return L.Part(linears=lins, other=v * (2 if bias else 1), state=state)  # multihead_norm


def _xlstm_width(r: Reading, i: int) -> int:
    return _round_up(r.int("hidden_size") * _float(r, "ffn_proj_factor"), r.int("ffn_round_up_to_multiple_of"))


FAMILIES: dict[str, Family] = {
    "xlstm": Family(modeling="transformers models/xlstm/modeling_xlstm.py", kinds=_xlstm_kinds, mixer=_mlstm,
                    dense_width=_xlstm_width, mlp_bias="use_bias", attention_free=True,
                    layer_other=lambda r, b, kind, moe: 2 * b.hidden if r.bool("use_bias", False) else 0,
                    aliases={"num_hidden_layers": "num_blocks"},
                    defaults={"vocab_size": 50304, "hidden_size": 4096, "num_hidden_layers": 32, "num_heads": 8,
                              "qk_dim_factor": 0.5, "v_dim_factor": 1.0, "ffn_proj_factor": 2.667,
                              "ffn_round_up_to_multiple_of": 64, "chunk_size": 64}),
    "recurrent_gemma": Family(modeling="transformers models/recurrent_gemma/modeling_recurrent_gemma.py",
                              kinds=_rg_kinds, mixer=_rg_lru, attention=_rg_attention, dense_width=_rg_width,
                              mlp_bias=True, tied_default=True,
                              aliases={"sliding_window": "attention_window_size"},
                              defaults={"num_hidden_layers": 26, "vocab_size": 256_000, "hidden_size": 2560,
                                        "intermediate_size": 7680, "num_attention_heads": 10,
                                        "attention_window_size": 2048, "conv1d_width": 4}),
    "rwkv": Family(modeling="transformers models/rwkv/modeling_rwkv.py", kinds=_rwkv_kinds, mixer=_rwkv_time_mix,
                   dense_width=_rwkv_width, layer_parts=_rwkv_parts, gated=False, mlp_bias=False,
                   attention_free=True, norm_size=2,
                   aliases={"max_position_embeddings": "context_length"},
                   defaults={"vocab_size": 50277, "hidden_size": 4096, "num_hidden_layers": 32}),
}
