"""KV cache: what attention keeps per token (and per image or per encoded input for cross-attention).

2 x layers x kv_heads x head_dim x tokens x bytes; MLA caches its latent once (DeepSeek-V2,
arXiv:2405.04434), and DSA models (DeepSeek-V3.2, GLM-5) the lightning indexer's key beside it
(transformers 5.23 cache_utils.DynamicIndexedLayer); sliding layers keep at most the window and
chunked layers (Llama 4) at most the chunk; a layer that reads an earlier layer's K/V (Gemma 3n's
KV-sharing layers) caches nothing; a streaming encoder (Voxtral Realtime) keeps the K/V of its last
window of positions per sequence (ModelSpec.encoder_cache). DeepSeek-V4's compressed layers (CSA / HCA,
transformers 5.23 modeling_deepseek_v4 DeepseekV4CSACache / DeepseekV4HCACache) keep a window of one
shared K=V head, one compressed entry per compress_rate tokens of the whole sequence (the compressor's
key, and in CSA the indexer's), and per sequence the compressor's pending window. Linear-attention and
state-space layers (Gated
DeltaNet, Mamba) keep a fixed state per sequence instead: its convolution window in the cache
dtype and its recurrent state in float32 (model.StateCache).
"""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

from vram.breakdown import KvLayers, Term
from vram.model import Attention, Block, Component, ModelSpec
from vram.workload import Workload


def visual_tokens(spec: ModelSpec, w: Workload) -> int:
    if spec.vision is None:
        return 0
    return spec.vision.sequence_tokens(w.images, w.frames, w.image_size)


def kv_cache_bytes_per_token(spec: ModelSpec, w: Workload) -> int:
    """Bytes one full-attention token adds across layers (sliding layers counted as if not yet full)."""
    elements = 0
    compressed = Fraction(0)
    if spec.text is not None and not spec.text.causal:
        return 0
    for b in spec.decoder_blocks():
        a = b.attention
        if a is None or a.kind == "cross":
            continue
        if a.kv_shared:
            elements += b.count * (a.index_dim or 0)  # its own indexer keys, if any (Mistral Large 4)
            continue
        if a.kind == "mla":
            elements += b.count * ((a.latent_dim or 0) + (a.index_dim or 0))
        else:
            kv = max(1, a.num_kv_heads // w.tensor_parallel)
            elements += b.count * (kv * a.kv_dims + (a.index_dim or 0))
        if a.compress_rate:
            compressed += Fraction(w.kv_format.flat_bytes(b.count * a.compressed_dim), a.compress_rate)
    # A compressed entry every compress_rate tokens: its bytes spread over those tokens, rounded up.
    return w.kv_format.flat_bytes(elements) + math.ceil(compressed)


FP32_BYTES = 4


def state_bytes_per_sequence(spec: ModelSpec, w: Workload) -> int:
    """Bytes of fixed state one sequence keeps across linear-attention / state-space layers."""
    total = 0
    for b in spec.decoder_blocks():
        a = b.attention
        if a is not None and a.state_elements and not a.kv_shared:
            total += b.count * w.kv_format.flat_bytes(a.state_elements)
        s = b.state
        if s is None:
            continue
        recurrent = s.recurrent_elements * FP32_BYTES if s.recurrent_fp32 else w.kv_format.flat_bytes(
            s.recurrent_elements)
        total += b.count * (w.kv_format.flat_bytes(s.conv_elements) + recurrent)
    return total


def kv_layers(spec: ModelSpec, w: Workload) -> tuple[KvLayers, ...]:
    """Which layers hold what: per kind, the layers and one layer's bytes per token or state per sequence.

    Layers of one kind with the same bytes are one entry, in the order they first appear. Per-token
    bytes are per GPU (KV heads split by tensor parallelism), in the KV cache format.
    """
    if spec.text is not None and not spec.text.causal:
        return ()
    out: dict[tuple[str, int, int, int | None, int | None, int], int] = {}
    for b in spec.cache_blocks():
        if b.state is not None:
            per_seq = state_bytes_per_sequence(_only(spec, replace(b, count=1)), w)
            key: tuple[str, int, int, int | None, int | None, int] = (b.state.kind, 0, per_seq, None, None, 0)
            out[key] = out.get(key, 0) + b.count
        a = b.attention
        if a is None:
            continue
        if a.kv_shared:
            # reads an earlier layer's K/V: holds nothing of its own but its indexer keys, if any
            key = ("shared", w.kv_format.flat_bytes(a.index_dim or 0), 0, None, None, 0)
            out[key] = out.get(key, 0) + b.count
            continue
        if a.kind == "mla":
            elements = (a.latent_dim or 0) + (a.index_dim or 0)
        else:
            elements = max(1, a.num_kv_heads // w.tensor_parallel) * a.kv_dims + (a.index_dim or 0)
        kind = "encoder" if a.kind == "cross" and a.cross_source == "encoder" else a.kind
        window = a.window if a.kind in ("sliding", "chunked", "mla") else None
        if a.compress_rate:
            key = ("compressed", w.kv_format.flat_bytes(elements), w.kv_format.flat_bytes(a.state_elements), window,
                   a.compress_rate, w.kv_format.flat_bytes(a.compressed_dim))
        else:
            key = (kind, w.kv_format.flat_bytes(elements), 0, window, None, 0)
        out[key] = out.get(key, 0) + b.count
    return tuple(KvLayers(kind=k, layers=n, bytes_per_token=t, state_bytes_per_sequence=s, window=win,
                          compress_rate=rate, compressed_bytes=cb)
                 for (k, t, s, win, rate, cb), n in out.items())


def kv_cache(spec: ModelSpec, w: Workload) -> tuple[int, list[Term]]:
    tokens = w.seq_len + visual_tokens(spec, w)
    terms: list[Term] = []
    total = 0
    if spec.text is not None and not spec.text.causal:
        return 0, []
    for b in spec.cache_blocks():
        if b.state is not None:
            per_seq = state_bytes_per_sequence(_only(spec, b), w)
            n = per_seq * w.batch_size
            total += n
            terms.append(Term(component="kv_cache", name=f"{b.name} ({b.state.kind} state)", bytes=n,
                              formula="layers x (conv_state x kv bytes + recurrent_state x 4) x batch", values={
                                  "layers": b.count, "conv_state": b.state.conv_elements,
                                  "recurrent_state": b.state.recurrent_elements, "batch": w.batch_size,
                                  "kv_dtype": w.kv_format.name, "bytes_per_sequence": per_seq},
                              source="transformers 5.23 cache_utils.LinearAttentionLayer; fixed per sequence"))
        a = b.attention
        if a is None or (a.kv_shared and not a.index_dim):
            continue
        kv = max(1, a.num_kv_heads // w.tensor_parallel)
        if a.kv_shared:
            # A layer that reads an earlier layer's latent but runs its own DSA indexer (Mistral Large 4's
            # reuse_but_indexer layers, transformers 5.23 configuration_mistral_large4 kv_sharing_modes).
            n = w.kv_format.flat_bytes(b.count * (a.index_dim or 0) * tokens * w.batch_size)
            total += n
            terms.append(Term(component="kv_cache", name=f"{b.name} (indexer keys only)", bytes=n,
                              formula="layers x index_head_dim x tokens x batch x bytes",
                              values={"layers": b.count, "index_dim": a.index_dim or 0, "cached_tokens": tokens,
                                      "batch": w.batch_size, "kv_dtype": w.kv_format.name},
                              source="transformers 5.23 modeling_mistral_large4 (KV sharing with an indexer)"))
            continue
        if a.compress_rate:
            n, term = _compressed(b, a, tokens, w)
            total += n
            terms.append(term)
            continue
        if a.kind == "cross" and a.cross_source == "encoder":
            # Encoder-decoder: the encoder's output is projected to K/V once per sequence (Whisper: its
            # fixed 1,500 frames; T5: the input, taken as seq_len tokens). A streaming encoder's own
            # window (Voxtral Realtime, ModelSpec.encoder_cache) is the same shape: fixed positions.
            cached = a.cross_tokens if a.cross_tokens is not None else w.seq_len
            per_token = kv * a.kv_dims
            formula = "layers x kv_heads x (k_dim + v_dim) x encoder_tokens x batch x bytes"
        elif a.kind == "cross":
            cached = a.cross_tokens * w.images if a.cross_tokens else 0
            per_token = kv * a.kv_dims
            formula = "layers x kv_heads x (k_dim + v_dim) x images x tokens_per_image x batch x bytes"
        elif a.kind == "mla":
            cached = min(tokens, a.window) if a.window else tokens  # a sliding MLA layer keeps a window (dots3)
            per_token = (a.latent_dim or 0) + (a.index_dim or 0)
            formula = ("layers x (kv_lora_rank + qk_rope_head_dim + index_head_dim) x tokens x batch x bytes"
                       if a.index_dim else "layers x (kv_lora_rank + qk_rope_head_dim) x tokens x batch x bytes")
            if a.window:
                formula = formula.replace("x tokens", "x min(tokens, window)")
        else:
            cached = min(tokens, a.window) if a.window else tokens
            # A sparse layer's indexer key (MiniMax-M3's minimax_m3_sparse layers: one head, not split by
            # tensor parallelism) is cached per token beside K and V.
            per_token = kv * a.kv_dims + (a.index_dim or 0)
            bound = "chunk" if a.kind == "chunked" else "window"
            formula = (f"layers x kv_heads x (k_dim + v_dim) x min(tokens, {bound}) x batch x bytes" if a.window
                       else "layers x (kv_heads x (k_dim + v_dim) + index_head_dim) x tokens x batch x bytes"
                       if a.index_dim else "2 x layers x kv_heads x head_dim x tokens x batch x bytes")
        n = w.kv_format.flat_bytes(b.count * per_token * cached * w.batch_size)
        total += n
        terms.append(Term(component="kv_cache", name=f"{b.name} ({a.kind})", bytes=n, formula=formula, values={
            "layers": b.count, "kv_heads": kv if a.kind != "mla" else 1, "k_dim": a.head_dim,
            "v_dim": a.v_head_dim if a.kind != "mla" else 0, "cached_tokens": cached,
            "batch": w.batch_size, "kv_dtype": w.kv_format.name,
            "window": a.window or 0, "latent_dim": a.latent_dim or 0, "index_dim": a.index_dim or 0},
            source="GQA: Ainslie et al. 2023; MLA: DeepSeek-V2 arXiv:2405.04434; vLLM page_size_bytes"))
    return total, terms


def _compressed(b: Block, a: Attention, tokens: int, w: Workload) -> tuple[int, Term]:
    """DeepSeek-V4's CSA / HCA layers (modeling_deepseek_v4 DeepseekV4HCACache, DeepseekV4CSACache): the
    sliding window of one K=V head, one compressed entry per compress_rate tokens of the whole sequence
    (the compressor's key; in CSA also the indexer's), and the compressor's pending window per sequence."""
    kv = max(1, a.num_kv_heads // w.tensor_parallel)
    window = min(tokens, a.window) if a.window else tokens
    entries = tokens // (a.compress_rate or 1)
    elements = kv * a.kv_dims * window + a.compressed_dim * entries + a.state_elements
    n = b.count * w.kv_format.flat_bytes(elements * w.batch_size)
    return n, Term(component="kv_cache", name=f"{b.name} (compressed, 1 entry per {a.compress_rate} tokens)", bytes=n,
                   formula="layers x (kv_dim x min(tokens, window) + compressed_dim x floor(tokens / rate) "
                           "+ pending_window) x batch x bytes",
                   values={"layers": b.count, "kv_dim": kv * a.kv_dims, "window": a.window or 0,
                           "cached_tokens": window, "rate": a.compress_rate or 0, "compressed_dim": a.compressed_dim,
                           "compressed_entries": entries, "pending_window": a.state_elements, "batch": w.batch_size,
                           "kv_dtype": w.kv_format.name},
                   source="transformers 5.23 modeling_deepseek_v4 DeepseekV4CSACache / DeepseekV4HCACache; "
                          "DeepSeek-V4 paper section 2.3")


def _only(spec: ModelSpec, block: Block) -> ModelSpec:
    """A spec holding just this block (to price one block's state with the same function)."""
    comp = Component(name="decoder", kind="decoder", blocks=(block,))
    return replace(spec, components=(comp,))
