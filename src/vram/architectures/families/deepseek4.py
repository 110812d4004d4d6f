"""DeepSeek-V4: compressed attention over one shared K=V head, hyper-connections, hash-routed experts.

File followed (transformers 5.23): models/deepseek_v4/modeling_deepseek_v4.py (configuration_deepseek_v4
for the defaults and the layer_types rule). Every layer's attention has a low-rank query (q_a_proj,
q_a_norm, q_b_proj), one KV head that is key and value at once (kv_proj, kv_norm), a grouped low-rank
output (o_a_proj: o_groups blocks of heads x head_dim / o_groups -> o_lora_rank; o_b_proj) and a sink
per head. Beside its sliding window a layer may compress the sequence:

- ``heavily_compressed_attention`` (HCA): a compressor (kv_proj, gate_proj to head_dim, a position
  bias per slot of its window, kv_norm) emits one entry per ``compress_rates`` (128) tokens;
- ``compressed_sparse_attention`` (CSA): a compressor of two overlapping series (2 x head_dim) at
  rate 4 and a lightning indexer with its own compressor at index_head_dim, a query projection from
  the q latent and a scorer (weights_proj); the indexer's compressed keys are cached too;
- ``sliding_attention``: the window alone.

Every layer is routed experts (top-k or hash routed: both keep a router weight) plus one shared MLP of
moe_intermediate_size, and two hyper-connections (attn_hc, ffn_hc: fn, base and three scales over
hc_mult residual streams); hc_head collapses the streams before the final norm. The MTP layer of the
checkpoint (num_nextn_predict_layers) is not built by transformers and not counted.
"""

from __future__ import annotations

from collections.abc import Mapping

from vram.architectures import layers as L
from vram.architectures.generic import Family
from vram.architectures.reader import Basics, Reading
from vram.errors import ConfigError
from vram.model import Attention, Linear

_KINDS = {"sliding_attention": "sliding", "compressed_sparse_attention": "csa", "heavily_compressed_attention": "hca"}
_RATIO_KINDS = {0: "sliding", 4: "csa", 128: "hca"}  # the legacy per-layer compress_ratios
_RATE_KEYS = {"csa": "compressed_sparse_attention", "hca": "heavily_compressed_attention"}
_DEFAULT_RATES = {"compressed_sparse_attention": 4, "heavily_compressed_attention": 128}


def _kinds(r: Reading, n: int) -> tuple[list[str], list[str]]:
    """layer_types, else the legacy compress_ratios, else the class's rule (two HCA layers, then CSA and
    HCA alternating); every layer's MLP is routed experts (hash_moe or moe)."""
    if r.has("layer_types"):
        types = r.str_list("layer_types") or []
        bad = sorted({t for t in types if t not in _KINDS})
        if bad:
            raise ConfigError(f"config field 'layer_types' holds an unknown DeepSeek-V4 layer type {bad[0]!r}")
        kinds = [_KINDS[t] for t in types]
    elif r.has("compress_ratios"):
        ratios = r.int_list("compress_ratios", minimum=0) or []
        bad_ratio = sorted({x for x in ratios if x not in _RATIO_KINDS})
        if bad_ratio:
            raise ConfigError(f"config field 'compress_ratios' holds {bad_ratio[0]}, not one of 0, 4 and 128")
        kinds = [_RATIO_KINDS[x] for x in ratios]
    else:
        kinds = ["hca"] * min(n, 2) + ["csa" if i % 2 else "hca" for i in range(max(n - 2, 0))]
    if len(kinds) < n:
        raise ConfigError(f"config field 'layer_types' has {len(kinds)} entries for {n} layers")
    return kinds[:n], ["moe"] * n


def _rate(r: Reading, kind: str) -> int:
    """The compression rate of a CSA / HCA layer: compress_rates, or the legacy compress_rate_csa / _hca."""
    legacy = f"compress_rate_{kind}"
    if r.has(legacy):
        return r.int(legacy)
    rates = r.raw("compress_rates")
    key = _RATE_KEYS[kind]
    if isinstance(rates, Mapping) and key in rates:
        value = rates[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"config field 'compress_rates.{key}' must be a positive integer")
        return value
    return _DEFAULT_RATES[key]


def _attention(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    h, heads, hd = b.hidden, b.heads, b.head_dim
    q_rank, groups, o_rank = r.int("q_lora_rank"), r.int("o_groups"), r.int("o_lora_rank")
    if (heads * hd) % groups:
        raise ConfigError(f"num_attention_heads x head_dim ({heads * hd}) is not divisible by 'o_groups' ({groups})")
    lins: tuple[Linear, ...] = (
        Linear(name="q_a_proj", in_features=h, out_features=q_rank),
        Linear(name="q_b_proj", in_features=q_rank, out_features=heads * hd),
        Linear(name="kv_proj", in_features=h, out_features=b.kv_heads * hd),
        # DeepseekV4GroupedLinear: one weight of (groups x o_rank) x (heads x hd / groups), applied per group
        Linear(name="o_a_proj", in_features=heads * hd // groups, out_features=groups * o_rank),
        Linear(name="o_b_proj", in_features=groups * o_rank, out_features=h))
    other = q_rank + hd + heads  # q_a_norm, kv_norm, sinks (q_b_norm has no weight)
    rate, compressed, pending = None, 0, 0
    if kind in ("csa", "hca"):
        rate = _rate(r, kind)
        series = 2 if kind == "csa" else 1  # CSA's two overlapping series (Ca, Cb) per token
        lins += (Linear(name="compressor.kv_proj", in_features=h, out_features=series * hd),
                 Linear(name="compressor.gate_proj", in_features=h, out_features=series * hd))
        other += rate * series * hd + hd  # position_bias, kv_norm
        compressed = hd
        # Per sequence: at most rate - 1 projected tokens wait for their window (kv and gate), and CSA
        # keeps the last window's Ca slice (kv and gate) for the next window's overlap.
        pending = 2 * (rate - 1) * series * hd + (2 * hd if kind == "csa" else 0)
        if kind == "csa":
            ih, idim = r.int("index_n_heads"), r.int("index_head_dim")
            lins += (Linear(name="compressor.indexer.kv_proj", in_features=h, out_features=2 * idim),
                     Linear(name="compressor.indexer.gate_proj", in_features=h, out_features=2 * idim),
                     Linear(name="compressor.indexer.q_b_proj", in_features=q_rank, out_features=ih * idim),
                     Linear(name="compressor.indexer.scorer.weights_proj", in_features=h, out_features=ih))
            other += rate * 2 * idim + idim  # the indexer's position_bias and kv_norm
            compressed += idim
            pending += 2 * (rate - 1) * 2 * idim + 2 * idim
    att = Attention(kind="sliding", num_heads=heads, num_kv_heads=b.kv_heads, head_dim=hd, v_head_dim=hd,
                    window=r.int("sliding_window"), same_kv=True, compress_rate=rate, compressed_dim=compressed,
                    state_elements=pending)
    return L.Part(linears=lins, other=other, attention=att)


def _hyper(r: Reading, b: Basics) -> int:
    """One DeepseekV4HyperConnection: fn ((2 + n) n x n h), base ((2 + n) n) and three scales."""
    n = r.int("hc_mult")
    return (2 + n) * n * n * b.hidden + (2 + n) * n + 3


def _hc_head(r: Reading, b: Basics) -> int:
    """DeepseekV4HyperHead: hc_fn (n x n h), hc_base (n) and one scale."""
    n = r.int("hc_mult")
    return n * n * b.hidden + n + 1


FAMILIES: dict[str, Family] = {
    "deepseek_v4": Family(
        modeling="transformers models/deepseek_v4/modeling_deepseek_v4.py", kinds=_kinds, attention=_attention,
        shared_width_key="moe_intermediate_size", layer_other=lambda r, b, kind, moe: 2 * _hyper(r, b),
        final_other=_hc_head, aliases={"n_routed_experts": "num_local_experts"},
        defaults={"vocab_size": 129280, "hidden_size": 4096, "moe_intermediate_size": 2048, "num_hidden_layers": 43,
                  "num_attention_heads": 64, "num_key_value_heads": 1, "head_dim": 512, "q_lora_rank": 1024,
                  "num_experts_per_tok": 6, "n_routed_experts": 256, "n_shared_experts": 1, "sliding_window": 128,
                  "o_groups": 8, "o_lora_rank": 1024, "index_n_heads": 64, "index_head_dim": 128, "hc_mult": 4,
                  "max_position_embeddings": 1048576}),
}
