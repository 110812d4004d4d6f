"""Weights: bytes of every tensor in the format it is stored or loaded in (docs/math.md "Weights").

The LoRA adapter selection, which names these weight matrices, is in :mod:`vram.terms.lora`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from vram.model import Block, Component, Linear, ModelSpec
from vram.precision import Format
from vram.quantization import ROUTER_NAMES, StoredScheme
from vram.workload import Workload

_GGUF_ROLE = (("v_proj", "attn_v"), ("k_proj", "attn_k"), ("q_proj", "attn_q"), ("o_proj", "attn_output"),
              ("down_proj", "ffn_down"), ("fc2", "ffn_down"), ("dense_4h_to_h", "ffn_down"),
              ("mlp.c_proj", "ffn_down"))


def _gguf_role(name: str) -> str:
    for suffix, role in _GGUF_ROLE:
        if name.endswith(suffix):
            return role
    return "other"


def use_more_bits(i: int, n: int) -> bool:
    """llama.cpp's rule for the layers that a *_M mix keeps at the higher type (llama-quant.cpp)."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


_ATTENTION = frozenset({"q_proj", "k_proj", "v_proj", "o_proj", "qkv_proj", "q_a_proj", "q_b_proj",
                        "kv_a_proj_with_mqa", "kv_b_proj", "query_key_value", "dense", "c_attn", "query", "key",
                        "value"})


_MTP_OWN = frozenset({"eh_proj", "shared_head.head"})
# Gated DeltaNet's projections: the layer's linear_attn module (modeling_qwen3_next, modeling_qwen3_5).
_GATED_DELTANET = frozenset({"in_proj_qkvz", "in_proj_ba", "in_proj_qkv", "in_proj_z", "in_proj_b", "in_proj_a"})
_DENSE_MLP = frozenset({"gate_proj", "up_proj", "down_proj", "gate_up_proj"})
"""A dense MLP's own Linears; routed experts in the same block sit beside that MLP, not in it."""


def module_path(comp: Component, lin: Linear, layer: int, block: Block | None = None) -> str:
    """The module path transformers gives a Linear (``model.layers.3.self_attn.q_proj``), for the
    ignore lists of quantization configs; layer is the decoder layer's index, ``block`` the layers'
    block (a Gated DeltaNet block's out_proj is linear_attn.out_proj)."""
    if comp.kind == "head":
        return "lm_head"
    if comp.kind not in ("decoder", "mtp"):
        return f"{comp.name}.{lin.name}"
    if "." in lin.name and not lin.name.startswith(("experts.", "shared_expert")):
        section = ""  # already qualified (attn.c_proj, attention.output.dense)
    elif lin.name.startswith("experts.") and block is not None and any(
            o.copies == 1 and o.name in _DENSE_MLP for o in block.linears):
        section = ""  # experts beside a dense MLP are the layer's own child (Gemma 4: layers.N.experts)
    elif lin.name in _GATED_DELTANET or (lin.name == "out_proj" and block is not None
                                         and any(o.name in _GATED_DELTANET for o in block.linears)):
        section = "linear_attn."
    elif lin.name in _ATTENTION:
        section = "self_attn."
    else:
        section = "mlp."
    return f"{comp.layer_path}.{layer}.{section}{lin.name}"


def is_router(lin: Linear) -> bool:
    return lin.name.split(".")[-1] in ROUTER_NAMES and lin.copies == 1


class _Formats:
    """Resolves which format each tensor of a component is stored in."""

    def __init__(self, w: Workload, gguf_types: dict[str, Format], n_decoder_layers: int,
                 scheme: StoredScheme | None = None) -> None:
        self.scheme = scheme
        self.fmt = scheme.fmt if scheme else w.weight_format
        self.unq = scheme.unquantized if scheme else w.unquantized_format
        self.compute = w.compute_format
        self.gguf = gguf_types
        self.n_layers = n_decoder_layers

    def stored_linear_bytes(self, comp: Component, lin: Linear, layers: int, first: int,
                            block: Block | None = None) -> int:
        """Bytes of a Linear in a pre-quantized checkpoint: the scheme decides layer by layer."""
        assert self.scheme is not None
        unq = self.other(comp)
        bias = unq.flat_bytes(lin.out_features) if lin.bias else 0
        plain = unq.matrix_bytes(lin.in_features, lin.out_features)
        # The MTP module's own projections (eh_proj, shared_head) are stored in bf16 by DeepSeek-V3's
        # checkpoints: only its transformer layer follows the scheme (docs/math.md).
        if comp.kind in ("decoder", "mtp", "head") and lin.name not in _MTP_OWN:
            expert = lin.copies > 1 or lin.name.startswith("experts.")
            at = block.indices if block is not None and len(block.indices) == layers else range(first, first + layers)
            total = 0
            for i in at:
                fmt = self.scheme.format_of(module_path(comp, lin, i, block), expert=expert, router=is_router(lin))
                total += fmt.matrix_bytes(lin.in_features, lin.out_features) if fmt is not None else plain
            return lin.copies * (total + layers * bias)
        return layers * lin.copies * (plain + bias)

    def quantizes(self, comp: Component) -> bool:
        scope = self.fmt.scope
        if scope == "all":
            return True
        if scope == "decoder_linear":
            return comp.kind in ("decoder", "mtp")
        return comp.kind in ("decoder", "mtp", "head", "embedding")

    def other(self, comp: Component) -> Format:
        if self.scheme is None and self.fmt.scope == "all":
            return self.fmt
        if comp.kind in ("vision", "projector"):
            return self.compute
        return self.unq

    def linear_bytes(self, comp: Component, lin: Linear, layers: int) -> int:
        """Bytes of ``layers`` copies of a Linear (weights and bias) in this component."""
        bias = self.other(comp).flat_bytes(lin.out_features) if lin.bias else 0
        if not self.quantizes(comp):
            per = self.other(comp).matrix_bytes(lin.in_features, lin.out_features)
            return layers * lin.copies * (per + bias)
        mix = self.fmt.mix
        if mix is None:
            per = self.fmt.matrix_bytes(lin.in_features, lin.out_features)
            return layers * lin.copies * (per + bias)
        if comp.kind == "head":
            per = self.gguf[mix.output].matrix_bytes(lin.in_features, lin.out_features)
            return layers * lin.copies * (per + bias)
        base = self.fmt.matrix_bytes(lin.in_features, lin.out_features)
        if mix.more_bits_type and _gguf_role(lin.name) in mix.more_bits_tensors and self.n_layers:
            more = self.gguf[mix.more_bits_type].matrix_bytes(lin.in_features, lin.out_features)
            n_more = sum(use_more_bits(i, self.n_layers) for i in range(self.n_layers))
            k = round(layers * n_more / self.n_layers)
            return lin.copies * (k * more + (layers - k) * base + layers * bias)
        return layers * lin.copies * (base + bias)

    def embedding_bytes(self, comp: Component, n: int, width: int) -> int:
        if self.scheme is None and self.quantizes(comp) and self.fmt.scope == "all_matrices":
            fmt = self.gguf[self.fmt.mix.token_embedding] if self.fmt.mix else self.fmt
            return fmt.matrix_bytes(width, max(1, n // width))
        return self.other(comp).flat_bytes(n)


def shard(n: int, tp: int) -> int:
    return -(-n // tp)


@dataclass(frozen=True, eq=False)
class ModuleBytes:
    """The weight bytes of one Block: all ``count`` layers, and one of them."""

    component: Component
    block: Block
    total_bytes: int

    @property
    def per_layer_bytes(self) -> int:
        return -(-self.total_bytes // self.block.count)


def stored_scheme_of(spec: ModelSpec, w: Workload) -> StoredScheme | None:
    """The checkpoint's own storage when --dtype auto asks for it and the config described it (not in
    full training, which needs float weights)."""
    return spec.stored_scheme if w.stored_weights and w.mode != "training" else None


def stored_format_label(spec: ModelSpec, w: Workload) -> str | None:
    """What the weights are counted in when they are counted as the checkpoint stores them, else None."""
    if not w.stored_weights or w.mode == "training":
        return None
    if spec.stored_weight_bytes is not None:
        return f"as stored ({spec.quantization})" if spec.quantization else "as stored"
    return spec.stored_scheme.label if spec.stored_scheme else None


def module_bytes(spec: ModelSpec, w: Workload, gguf_types: dict[str, Format]) -> list[ModuleBytes]:
    """Weight bytes block by block, per GPU under tensor parallelism (loaded components only)."""
    n_layers = spec.text.num_layers if spec.text else 0
    f = _Formats(w, gguf_types, n_layers, stored_scheme_of(spec, w))
    width = spec.text.hidden_size if spec.text else 4096
    tp = w.tensor_parallel
    out: list[ModuleBytes] = []
    for comp in spec.components:
        if not comp.loaded:
            continue
        first = n_layers if comp.kind == "mtp" else 0
        for b in comp.blocks:
            if f.scheme is not None:
                total = sum(shard(f.stored_linear_bytes(comp, lin, b.count, first, b), tp) for lin in b.linears)
            else:
                total = sum(shard(f.linear_bytes(comp, lin, b.count), tp) for lin in b.linears)
            if comp.kind in ("decoder", "mtp") and b.linears:
                first += b.count
            if b.embedding_params:
                total += b.count * shard(f.embedding_bytes(comp, b.embedding_params, width), tp)
            total += b.count * f.other(comp).flat_bytes(b.other_params)
            out.append(ModuleBytes(component=comp, block=b, total_bytes=total))
    return out


def linear_bytes(spec: ModelSpec, w: Workload, gguf_types: dict[str, Format]
                 ) -> Iterator[tuple[Component, Block, Linear, int]]:
    """Every Linear of the loaded components with the bytes of all its ``count`` layers in its format,
    whole (not sharded): what an engine needs to place part of a matrix differently (KV heads
    replicated over tensor-parallel ranks)."""
    n_layers = spec.text.num_layers if spec.text else 0
    f = _Formats(w, gguf_types, n_layers, stored_scheme_of(spec, w))
    for comp in spec.components:
        if not comp.loaded:
            continue
        first = n_layers if comp.kind == "mtp" else 0
        for b in comp.blocks:
            for lin in b.linears:
                yield comp, b, lin, (f.stored_linear_bytes(comp, lin, b.count, first, b) if f.scheme is not None
                                     else f.linear_bytes(comp, lin, b.count))
            if comp.kind in ("decoder", "mtp") and b.linears:
                first += b.count


def weights_by_component(spec: ModelSpec, w: Workload, gguf_types: dict[str, Format]) -> dict[str, int]:
    """Bytes of the loaded weights, per component, per GPU under tensor parallelism."""
    out: dict[str, int] = {}
    for m in module_bytes(spec, w, gguf_types):
        out[m.component.name] = out.get(m.component.name, 0) + m.total_bytes
    return out
