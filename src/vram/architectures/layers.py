"""The weight matrices of one decoder layer's parts, as transformers builds them.

Token mixers: grouped-query attention (modeling_llama), multi-head latent attention with the DSA
indexer (modeling_deepseek_v3, modeling_deepseek_v32), Gated DeltaNet (modeling_qwen3_next),
Kimi Delta Attention (modeling_kimi_linear), MiniMax lightning attention (modeling_minimax),
Mamba (modeling_mamba), Mamba-2 (modeling_mamba2) and LFM2's short convolution (modeling_lfm2).
Channel mixers: the dense MLP (gated or not) and the routed experts with shared experts
(modeling_mixtral, modeling_qwen2_moe, modeling_deepseek_v3). Each returns its linears, the
parameters outside them (norms, gates, convolution kernels) and what the layer caches.
"""

from __future__ import annotations

from dataclasses import dataclass

from vram.model import Attention, Block, Component, Linear, StateCache

DELTA_CHUNK = 64
"""Chunk length of transformers' torch_chunk_gated_delta_rule (modeling_qwen3_next)."""


@dataclass(frozen=True)
class Part:
    """One part of a layer: its matrices, its other parameters, and its cache."""

    linears: tuple[Linear, ...] = ()
    other: int = 0
    attention: Attention | None = None
    state: StateCache | None = None
    experts_per_token: int = 0
    """Routed experts beside the layer's MLP (Gemma 4's MoE block): how many a token visits, and their width."""
    expert_width: int = 0


def mlp(h: int, width: int, *, gated: bool = True, fused: bool = False, bias: bool = False, prefix: str = "",
        copies: int = 1, active: int | None = None, out: int | None = None) -> tuple[Linear, ...]:
    """A dense MLP (or ``copies`` stacked experts): gate/up (fused or not) and down."""
    out = h if out is None else out
    if gated and fused:
        ups: tuple[Linear, ...] = (Linear(name=f"{prefix}gate_up_proj", in_features=h, out_features=2 * width,
                                          bias=bias, copies=copies, active_copies=active),)
    else:
        names = ("gate_proj", "up_proj") if gated else ("up_proj",)
        ups = tuple(Linear(name=f"{prefix}{n}", in_features=h, out_features=width, bias=bias, copies=copies,
                           active_copies=active) for n in names)
    return ups + (Linear(name=f"{prefix}down_proj", in_features=width, out_features=out, bias=bias,
                         copies=copies, active_copies=active),)


def attention(h: int, heads: int, kv: int, hd: int, *, kind: str = "full", window: int | None = None,
              qkv_bias: bool = False, o_bias: bool = False, fused: bool = False, q_gate: bool = False,
              qk_norm: str = "none", norm_size: int = 1, sinks: bool = False, v_dim: int | None = None
              ) -> Part:
    """Grouped-query attention. ``q_gate``: q_proj also yields an output gate (Qwen3-Next);
    ``qk_norm``: none, head (one norm of head_dim for q and one for k) or full (over all heads);
    ``norm_size``: parameters per normalised value (1 for RMSNorm, 2 for LayerNorm with bias)."""
    vd = hd if v_dim is None else v_dim
    q_out = heads * hd * (2 if q_gate else 1)
    if fused:
        lins: tuple[Linear, ...] = (Linear(name="qkv_proj", in_features=h, out_features=q_out + kv * (hd + vd),
                                           bias=qkv_bias),)
    else:
        lins = (Linear(name="q_proj", in_features=h, out_features=q_out, bias=qkv_bias),
                Linear(name="k_proj", in_features=h, out_features=kv * hd, bias=qkv_bias),
                Linear(name="v_proj", in_features=h, out_features=kv * vd, bias=qkv_bias))
    lins += (Linear(name="o_proj", in_features=heads * vd, out_features=h, bias=o_bias),)
    other = {"none": 0, "head": 2 * hd, "full": (heads + kv) * hd}[qk_norm] * norm_size
    if sinks:
        other += heads  # one learned sink logit per head (gpt-oss, MiMo-V2)
    att = Attention(kind=kind if window else "full", num_heads=heads, num_kv_heads=kv, head_dim=hd,  # type: ignore[arg-type]
                    v_head_dim=vd, window=window)
    return Part(linears=lins, other=other, attention=att)


def mla(h: int, heads: int, *, kv_rank: int, q_rank: int | None, rope: int, nope: int, v_dim: int,
        index_heads: int = 0, index_dim: int = 0, o_bias: bool = False, a_bias: bool = False) -> Part:
    """DeepSeek multi-head latent attention (arXiv:2405.04434, section 2.1); with ``index_heads`` the
    DSA lightning indexer of DeepSeek-V3.2 (modeling_deepseek_v32 Indexer: wq_b, wk, k_norm with bias,
    weights_proj), whose keys are cached per token beside the latent. ``a_bias``: q_a_proj and
    kv_a_proj_with_mqa carry biases (modeling_kimi_linear, with attention_bias)."""
    qd = nope + rope
    other = kv_rank  # kv_a_layernorm
    if q_rank:
        lins: tuple[Linear, ...] = (Linear(name="q_a_proj", in_features=h, out_features=q_rank, bias=a_bias),
                                    Linear(name="q_b_proj", in_features=q_rank, out_features=heads * qd))
        other += q_rank  # q_a_layernorm
    else:
        lins = (Linear(name="q_proj", in_features=h, out_features=heads * qd),)
    lins += (Linear(name="kv_a_proj_with_mqa", in_features=h, out_features=kv_rank + rope, bias=a_bias),
             Linear(name="kv_b_proj", in_features=kv_rank, out_features=heads * (nope + v_dim)),
             Linear(name="o_proj", in_features=heads * v_dim, out_features=h, bias=o_bias))
    if index_heads:
        lins += (Linear(name="indexer.wq_b", in_features=q_rank or h, out_features=index_heads * index_dim),
                 Linear(name="indexer.wk", in_features=h, out_features=index_dim),
                 Linear(name="indexer.weights_proj", in_features=h, out_features=index_heads))
        other += 2 * index_dim  # indexer.k_norm: LayerNorm with bias
    att = Attention(kind="mla", num_heads=heads, num_kv_heads=1, head_dim=qd, v_head_dim=v_dim,
                    latent_dim=kv_rank + rope, index_dim=index_dim if index_heads else None)
    return Part(linears=lins, other=other, attention=att)


def gated_deltanet(h: int, *, k_heads: int, v_heads: int, k_dim: int, v_dim: int, kernel: int,
                   split: bool = False) -> Part:
    """Gated DeltaNet (modeling_qwen3_next Qwen3NextGatedDeltaNet): in_proj_qkvz and in_proj_ba, a
    depthwise convolution over q, k and v, dt_bias and A_log per value head, a gated RMSNorm of v_dim.
    ``split``: the same weights as modeling_qwen3_5 names them, in_proj_qkv, in_proj_z, in_proj_b and
    in_proj_a (quantized checkpoints list them one by one)."""
    key, value = k_heads * k_dim, v_heads * v_dim
    conv = 2 * key + value
    lins: tuple[Linear, ...]
    if split:
        lins = (Linear(name="in_proj_qkv", in_features=h, out_features=2 * key + value),
                Linear(name="in_proj_z", in_features=h, out_features=value),
                Linear(name="in_proj_b", in_features=h, out_features=v_heads),
                Linear(name="in_proj_a", in_features=h, out_features=v_heads))
    else:
        lins = (Linear(name="in_proj_qkvz", in_features=h, out_features=2 * key + 2 * value),
                Linear(name="in_proj_ba", in_features=h, out_features=2 * v_heads))
    lins += (Linear(name="out_proj", in_features=value, out_features=h),)
    other = conv * kernel + 2 * v_heads + v_dim
    # torch_chunk_gated_delta_rule (chunk 64) holds in float32, per token: q, k, k_beta and decayed_k_beta
    # (keys repeated to the value heads), v, v_beta and the output, and per value head a chunk-long row
    # of pairwise_decay, ut_system and intra_chunk_attn.
    work = 4 * v_heads * k_dim + 3 * value + 3 * DELTA_CHUNK * v_heads
    state = StateCache(kind="linear", conv_elements=conv * kernel, recurrent_elements=v_heads * k_dim * v_dim,
                       projected=2 * key + 2 * value + 2 * v_heads, channels=conv, inner=value, work_fp32=work,
                       mixer="gated_deltanet")
    return Part(linears=lins, other=other, state=state)


def mamba1(h: int, *, inner: int, state: int, dt_rank: int, kernel: int, conv_bias: bool, bias: bool,
           dt_norms: bool = False) -> Part:
    """Mamba (modeling_mamba MambaMixer; Jamba adds RMSNorms on dt, B and C): in_proj to x and z, a
    depthwise convolution, x_proj to dt, B, C, dt_proj with bias, A_log and D per channel."""
    lins = (Linear(name="in_proj", in_features=h, out_features=2 * inner, bias=bias),
            Linear(name="x_proj", in_features=inner, out_features=dt_rank + 2 * state),
            Linear(name="dt_proj", in_features=dt_rank, out_features=inner, bias=True),
            Linear(name="out_proj", in_features=inner, out_features=h, bias=bias))
    other = inner * kernel + (inner if conv_bias else 0) + inner * state + inner
    if dt_norms:
        other += dt_rank + 2 * state
    # slow_forward (no mamba_ssm kernels) discretises the whole sequence before its scan: discrete_A,
    # discrete_B and deltaB_u, each inner x state float32 values per token.
    cache = StateCache(kind="mamba", conv_elements=inner * kernel, recurrent_elements=inner * state,
                       projected=2 * inner + dt_rank + 2 * state + inner, channels=inner, inner=inner,
                       work_fp32=3 * inner * state, mixer="mamba1")
    return Part(linears=lins, other=other, state=cache)


def mamba2(h: int, *, inner: int, heads: int, head_dim: int, groups: int, state: int, kernel: int,
           conv_bias: bool, bias: bool, norm: bool = True, chunk: int = 256, out_bias: bool | None = None,
           ssm_cache_dtype: str | None = None) -> Part:
    """Mamba-2 (modeling_mamba2 Mamba2Mixer): in_proj to z, x, B, C and dt; a depthwise convolution
    over x, B and C; dt_bias, A_log and D per head; a gated RMSNorm of the inner width (optional in
    Falcon-H1, whose out_proj bias has its own switch). ``chunk`` (the config's chunk_size,
    Mamba2Config's 256 when absent) only sizes the activations."""
    conv = inner + 2 * groups * state
    lins = (Linear(name="in_proj", in_features=h, out_features=inner + conv + heads, bias=bias),
            Linear(name="out_proj", in_features=inner, out_features=h, bias=bias if out_bias is None else out_bias))
    other = conv * kernel + (conv if conv_bias else 0) + 3 * heads + (inner if norm else 0)
    # torch_forward's chunked scan (ssd_naive) holds in float32, per token: B and C repeated to the heads
    # and B_decay (heads x state each); G, L and M (a chunk-long row per head each); x, x * dt, the D
    # residual and Y_diag (heads x head_dim each).
    work = 3 * heads * state + 3 * chunk * heads + 4 * heads * head_dim
    cache = StateCache(kind="mamba", conv_elements=conv * kernel, recurrent_elements=heads * head_dim * state,
                       projected=inner + conv + heads, channels=conv, inner=inner, work_fp32=work, mixer="mamba2",
                       ssm_cache_dtype=ssm_cache_dtype)
    return Part(linears=lins, other=other, state=cache)


def kimi_delta(h: int, *, heads: int, head_dim: int, kernel: int, low_rank: bool = True) -> Part:
    """Kimi Delta Attention (modeling_kimi_linear KimiLinearDeltaAttention): q, k, v projections and a
    depthwise convolution over all three, a low-rank forget gate (f_a, f_b, dt_bias per channel,
    A_log per head), beta (b_proj), a low-rank output gate (g_a, g_b), a gated RMSNorm of head_dim.
    Its state per sequence: the convolution window and a head_dim x head_dim matrix per head."""
    width = heads * head_dim
    if low_rank:
        gates: tuple[Linear, ...] = (Linear(name="f_a_proj", in_features=h, out_features=head_dim),
                                     Linear(name="f_b_proj", in_features=head_dim, out_features=width),
                                     Linear(name="g_a_proj", in_features=h, out_features=head_dim),
                                     Linear(name="g_b_proj", in_features=head_dim, out_features=width))
    else:  # Ling's BailingHybrid: full-rank forget gate (f_proj) and output gate (g_proj)
        gates = (Linear(name="f_proj", in_features=h, out_features=width),
                 Linear(name="g_proj", in_features=h, out_features=width))
    lins = (Linear(name="q_proj", in_features=h, out_features=width),
            Linear(name="k_proj", in_features=h, out_features=width),
            Linear(name="v_proj", in_features=h, out_features=width),
            Linear(name="b_proj", in_features=h, out_features=heads),
            *gates,
            Linear(name="o_proj", in_features=width, out_features=h))
    other = 3 * width * kernel + width + heads + head_dim  # conv1d, dt_bias, A_log, o_norm
    # The torch path runs the same chunked delta rule as Gated DeltaNet (chunk 64) with a decay per
    # channel rather than per head: its float32 work per token is counted as Gated DeltaNet's plus the
    # cumulative per-channel gate (heads x head_dim).
    work = 4 * width + 3 * width + 3 * DELTA_CHUNK * heads + width
    state = StateCache(kind="linear", conv_elements=3 * width * kernel, recurrent_elements=heads * head_dim * head_dim,
                       projected=5 * width + (2 * head_dim if low_rank else 0) + heads, channels=3 * width,
                       inner=width, work_fp32=work, mixer="kda")
    return Part(linears=lins, other=other, state=state)


def short_conv(h: int, *, kernel: int, bias: bool) -> Part:
    """LFM2's gated short convolution (modeling_lfm2 Lfm2ShortConv): in_proj to B, C and x, a depthwise
    convolution of the width, out_proj. Its state per sequence is the convolution window alone."""
    lins = (Linear(name="in_proj", in_features=h, out_features=3 * h, bias=bias),
            Linear(name="out_proj", in_features=h, out_features=h, bias=bias))
    other = h * kernel + (h if bias else 0)
    return Part(linears=lins, other=other, state=StateCache(kind="conv", conv_elements=h * kernel,
                                                            recurrent_elements=0, projected=3 * h, channels=h,
                                                            inner=h, mixer="short_conv"))


def lightning(h: int, *, heads: int, head_dim: int, block: int) -> Part:
    """MiniMax lightning attention (modeling_minimax MiniMaxLightningAttention): a fused qkv_proj, an
    RMSNorm of the heads' width, output_gate and out_proj. No convolution; its state per sequence is
    K^T V, a head_dim x head_dim matrix per head, kept in the values' dtype (not float32). Its forward
    materialises per token the activated q, k, v and the output gate, and per block a block x block
    score matrix per head (``block`` = block_size), counted with the projections."""
    width = heads * head_dim
    lins = (Linear(name="qkv_proj", in_features=h, out_features=3 * width),
            Linear(name="output_gate", in_features=h, out_features=width),
            Linear(name="out_proj", in_features=width, out_features=h))
    state = StateCache(kind="linear", conv_elements=0, recurrent_elements=heads * head_dim * head_dim,
                       recurrent_fp32=False, projected=4 * width + heads * block, channels=0, inner=width)
    return Part(linears=lins, other=width, state=state)


def lm_head(in_features: int, vocab: int, *, bias: bool = False) -> Component:
    """An untied language-model head: one ``lm_head`` Linear from the final hidden width to the vocabulary."""
    return Component(name="lm_head", kind="head", blocks=(Block(name="lm_head", linears=(
        Linear(name="lm_head", in_features=in_features, out_features=vocab, bias=bias),)),))
