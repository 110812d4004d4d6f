"""ZAYA (transformers models/zaya/modeling_zaya.py, ZayaForCausalLM).

Compressed Convolutional Attention (arXiv:2510.04476, ZayaCCAProjection): q_proj and k_proj, values
half from the current token (``v_proj_current``) and half from the previous one (``v_proj_delayed``),
q and k mixed by a depthwise causal convolution of ``cca_time0`` taps and then a grouped one (a group
per head, ``cca_time1`` taps), both with biases; a learned key temperature per KV head (ZayaQKNorm);
o_proj. q/k/v/o carry biases per ``attention_bias``. Every layer is an MoE of ``num_experts`` SwiGLU
experts chosen by an MLP router (``down_proj`` to ``router_hidden_size``, an RMSNorm, two square GELU
layers with biases, scores for the experts plus a skip class; from layer 1 on a scale of the previous
layer's router state), no shared expert. Each layer has two RMSNorms and two residual scalings (scale
and bias for the branch and for the residual); the model scales and shifts its input embeddings.

Cache: K and V per token (``hybrid_sliding`` layers within ``sliding_window``), and per sequence the
convolution window over q and k ((cca_time0 - 1) + (cca_time1 - 1) positions of every q/k channel) and
the last token's delayed value projection, both in the activations' dtype.
"""

from __future__ import annotations

from vram.architectures import layers as L
from vram.architectures.generic import Family
from vram.architectures.reader import Basics, Reading
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, StateCache

_KINDS = {"hybrid": "full", "hybrid_sliding": "sliding"}


def _kinds(r: Reading, n: int) -> tuple[list[str], list[str] | None]:
    """layer_types (hybrid, hybrid_sliding), all hybrid without it (ZayaConfig.__post_init__); every layer MoE."""
    types = (r.str_list("layer_types") or []) if isinstance(r.raw("layer_types"), list) else ["hybrid"] * n
    bad = sorted({t for t in types if t not in _KINDS})
    if bad or len(types) < n:
        raise ConfigError(f"config field 'layer_types' must name hybrid or hybrid_sliding for each of {n} layers, "
                          f"got {bad[0] if bad else len(types)!r}")
    return [_KINDS[t] for t in types[:n]], ["moe"] * n


def _attention(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    h, heads, kv, hd = b.hidden, b.heads, b.kv_heads, b.head_dim
    bias = r.bool("attention_bias", False)
    t0, t1 = r.int("cca_time0"), r.int("cca_time1")
    channels = (heads + kv) * hd
    lins = (Linear(name="q_proj", in_features=h, out_features=heads * hd, bias=bias),
            Linear(name="k_proj", in_features=h, out_features=kv * hd, bias=bias),
            Linear(name="v_proj_current", in_features=h, out_features=kv * hd // 2, bias=bias),
            Linear(name="v_proj_delayed", in_features=h, out_features=kv * hd // 2, bias=bias),
            Linear(name="o_proj", in_features=heads * hd, out_features=h, bias=bias))
    # conv_qk_depthwise (channels x t0 + bias), conv_qk_grouped (channels x head_dim x t1 + bias), temp.
    other = channels * t0 + channels + channels * hd * t1 + channels + kv
    window = r.int("sliding_window") if kind == "sliding" else None
    att = Attention(kind="sliding" if window else "full", num_heads=heads, num_kv_heads=kv, head_dim=hd,
                    v_head_dim=hd, window=window)
    state = StateCache(kind="conv", conv_elements=channels * ((t0 - 1) + (t1 - 1)), recurrent_elements=kv * hd // 2,
                       recurrent_fp32=False, projected=channels + kv * hd, channels=channels, inner=heads * hd)
    return L.Part(linears=lins, other=other, attention=att, state=state)


def _router(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """ZayaRouter: down_proj, the previous router state's scale (layers after the first), ZayaRouterMLP."""
    h, width, classes = b.hidden, r.int("router_hidden_size"), r.int("num_experts") + 1
    lins = (Linear(name="router.down_proj", in_features=h, out_features=width, bias=True),
            Linear(name="router.fc1", in_features=width, out_features=width, bias=True),
            Linear(name="router.fc2", in_features=width, out_features=width, bias=True),
            Linear(name="router.out_proj", in_features=width, out_features=classes))
    return L.Part(linears=lins, other=width + (width if i > 0 else 0))


def _other(r: Reading, b: Basics, kind: str, moe: bool) -> int:
    """Two ZayaResidualScaling modules (four vectors each)."""
    return 8 * b.hidden


def _input_scale(r: Reading, b: Basics) -> tuple[Component, ...]:
    return (Component(name="input_scale", kind="other", blocks=(
        Block(name="input_hidden_states_scale", other_params=2 * b.hidden),)),)


FAMILIES: dict[str, Family] = {"zaya": Family(
    modeling="transformers models/zaya/modeling_zaya.py", kinds=_kinds, attention=_attention, layer_parts=_router,
    layer_other=_other, extra=_input_scale, head_bias="lm_head_bias", tied_default=True, always_moe=True,
    own_router=True,
    defaults={"head_dim": 128, "moe_intermediate_size": 2048, "num_experts_per_tok": 1, "num_experts": 16,
              "router_hidden_size": 256, "cca_time0": 2, "cca_time1": 2},
)}
