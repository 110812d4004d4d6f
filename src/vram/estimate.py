"""estimate(spec, workload) -> Estimate: the memory model. Pure: no I/O, integers of bytes.

Every term records its formula, the numbers it used and its source, so that ``--explain`` can
show them and docs/math.md can cite them. Sources, by term:
  weights      shapes from the config x the storage layout of the format (docs/math.md "Weights")
  kv cache     2 x layers x kv_heads x head_dim x tokens x bytes; MLA caches its latent once
               (DeepSeek-V2, arXiv:2405.04434); sliding layers keep at most the window
  activations  inference: the largest transient set of one layer's forward, or the logits;
               training: the tensors each layer saves for backward (Korthikanti et al. 2022,
               arXiv:2205.05198, adapted to SwiGLU, RMSNorm and fused attention)
  gradients / optimizer  ZeRO (arXiv:1910.02054) for mixed precision, torch.optim and
               bitsandbytes code for the state tensors
  overhead     CUDA context and allocator slack from measurements (docs/validation.md)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from vram.errors import UsageError
from vram.model import Block, Component, Linear, ModelSpec
from vram.precision import Format
from vram.workload import Workload

Value = int | float | str


@dataclass(frozen=True, eq=False)
class Term:
    """One line of the explanation: how a component's bytes were computed."""

    component: str
    name: str
    bytes: int
    formula: str
    values: dict[str, Value] = field(default_factory=dict)
    source: str = ""
    approximate: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Breakdown:
    """Bytes by component (per GPU when the workload is sharded)."""

    weights_bytes: int = 0
    kv_cache_bytes: int = 0
    activations_bytes: int = 0
    gradients_bytes: int = 0
    optimizer_bytes: int = 0
    overhead_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return (self.weights_bytes + self.kv_cache_bytes + self.activations_bytes + self.gradients_bytes
                + self.optimizer_bytes + self.overhead_bytes)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Estimate:
    """The answer: a breakdown, its total, and how it was reached."""

    model_id: str
    model_type: str
    parameters: int
    active_parameters: int
    trainable_parameters: int
    parameters_by_component: dict[str, int]
    weights_by_component: dict[str, int]
    bits_per_parameter: float
    kv_cache_bytes_per_token: int
    tokens_per_sequence: int
    breakdown: Breakdown
    cpu_bytes: int
    terms: tuple[Term, ...]
    notes: tuple[str, ...]

    @property
    def total_bytes(self) -> int:
        return self.breakdown.total_bytes


# --------------------------------------------------------------------------------------------
# Weights


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


class _Formats:
    """Resolves which format each tensor of a component is stored in."""

    def __init__(self, w: Workload, gguf_types: dict[str, Format], n_decoder_layers: int) -> None:
        self.fmt = w.weight_format
        self.unq = w.unquantized_format
        self.compute = w.compute_format
        self.gguf = gguf_types
        self.n_layers = n_decoder_layers

    def quantizes(self, comp: Component) -> bool:
        scope = self.fmt.scope
        if scope == "all":
            return True
        if scope == "decoder_linear":
            return comp.kind in ("decoder", "mtp")
        return comp.kind in ("decoder", "mtp", "head", "embedding")

    def other(self, comp: Component) -> Format:
        if self.fmt.scope == "all":
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
        if self.quantizes(comp) and self.fmt.scope == "all_matrices":
            fmt = self.gguf[self.fmt.mix.token_embedding] if self.fmt.mix else self.fmt
            return fmt.matrix_bytes(width, max(1, n // width))
        return self.other(comp).flat_bytes(n)


def _shard(n: int, tp: int) -> int:
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


def module_bytes(spec: ModelSpec, w: Workload, gguf_types: dict[str, Format]) -> list[ModuleBytes]:
    """Weight bytes block by block, per GPU under tensor parallelism (loaded components only)."""
    n_layers = spec.text.num_layers if spec.text else 0
    f = _Formats(w, gguf_types, n_layers)
    width = spec.text.hidden_size if spec.text else 4096
    tp = w.tensor_parallel
    out: list[ModuleBytes] = []
    for comp in spec.components:
        if not comp.loaded:
            continue
        for b in comp.blocks:
            total = sum(_shard(f.linear_bytes(comp, lin, b.count), tp) for lin in b.linears)
            if b.embedding_params:
                total += b.count * _shard(f.embedding_bytes(comp, b.embedding_params, width), tp)
            total += b.count * f.other(comp).flat_bytes(b.other_params)
            out.append(ModuleBytes(component=comp, block=b, total_bytes=total))
    return out


def weights_by_component(spec: ModelSpec, w: Workload, gguf_types: dict[str, Format]) -> dict[str, int]:
    """Bytes of the loaded weights, per component, per GPU under tensor parallelism."""
    out: dict[str, int] = {}
    for m in module_bytes(spec, w, gguf_types):
        out[m.component.name] = out.get(m.component.name, 0) + m.total_bytes
    return out


def _lora_linears(spec: ModelSpec, targets: tuple[str, ...]) -> Iterator[tuple[Block, Linear]]:
    attention_names = ("q_proj", "k_proj", "v_proj", "o_proj", "qkv_proj", "c_attn", "attn.c_proj",
                       "query_key_value", "dense", "q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj")
    for comp in spec.components:
        if comp.kind != "decoder" or not comp.loaded:
            continue
        for b in comp.blocks:
            for lin in b.linears:
                short = lin.name.split(".")[-1]
                if "all-linear" in targets:
                    yield b, lin
                elif "attention" in targets and (lin.name in attention_names or short in attention_names):
                    yield b, lin
                elif lin.name in targets or short in targets:
                    yield b, lin


def lora_parameters(spec: ModelSpec, rank: int, targets: tuple[str, ...]) -> int:
    """Trainable LoRA parameters: r x (in + out) per adapted matrix (LoRA, arXiv:2106.09685)."""
    return sum(b.count * lin.copies * rank * (lin.in_features + lin.out_features)
               for b, lin in _lora_linears(spec, targets))


# --------------------------------------------------------------------------------------------
# KV cache


def visual_tokens(spec: ModelSpec, w: Workload) -> int:
    if spec.vision is None:
        return 0
    per_image = (spec.vision.image_tokens(*w.image_size)[0] if w.image_size
                 else spec.vision.llm_tokens_per_image)
    return w.images * per_image + w.frames * spec.vision.llm_tokens_per_frame


def kv_cache_bytes_per_token(spec: ModelSpec, w: Workload) -> int:
    """Bytes one full-attention token adds across layers (sliding layers counted as if not yet full)."""
    elements = 0
    if spec.text is not None and not spec.text.causal:
        return 0
    for b in spec.decoder_blocks():
        a = b.attention
        if a is None or a.kind == "cross":
            continue
        if a.kind == "mla":
            elements += b.count * (a.latent_dim or 0)
        else:
            kv = max(1, a.num_kv_heads // w.tensor_parallel)
            elements += b.count * kv * (a.head_dim + a.v_head_dim)
    return w.kv_format.flat_bytes(elements)


def kv_cache(spec: ModelSpec, w: Workload) -> tuple[int, list[Term]]:
    tokens = w.seq_len + visual_tokens(spec, w)
    terms: list[Term] = []
    total = 0
    if spec.text is not None and not spec.text.causal:
        return 0, []
    for b in spec.decoder_blocks():
        a = b.attention
        if a is None:
            continue
        kv = max(1, a.num_kv_heads // w.tensor_parallel)
        if a.kind == "cross":
            cached = a.cross_tokens * w.images if a.cross_tokens else 0
            per_token = kv * (a.head_dim + a.v_head_dim)
            formula = "layers x kv_heads x (k_dim + v_dim) x images x tokens_per_image x batch x bytes"
        elif a.kind == "mla":
            cached = tokens
            per_token = a.latent_dim or 0
            formula = "layers x (kv_lora_rank + qk_rope_head_dim) x tokens x batch x bytes"
        else:
            cached = min(tokens, a.window) if a.window else tokens
            per_token = kv * (a.head_dim + a.v_head_dim)
            formula = ("layers x kv_heads x (k_dim + v_dim) x min(tokens, window) x batch x bytes" if a.window
                       else "2 x layers x kv_heads x head_dim x tokens x batch x bytes")
        n = w.kv_format.flat_bytes(b.count * per_token * cached * w.batch_size)
        total += n
        terms.append(Term(component="kv_cache", name=f"{b.name} ({a.kind})", bytes=n, formula=formula, values={
            "layers": b.count, "kv_heads": kv if a.kind != "mla" else 1, "k_dim": a.head_dim,
            "v_dim": a.v_head_dim if a.kind != "mla" else 0, "cached_tokens": cached,
            "batch": w.batch_size, "kv_dtype": w.kv_format.name,
            "window": a.window or 0, "latent_dim": a.latent_dim or 0},
            source="GQA: Ainslie et al. 2023; MLA: DeepSeek-V2 arXiv:2405.04434; vLLM page_size_bytes"))
    return total, terms


# --------------------------------------------------------------------------------------------
# Activations


def _widths(b: Block, tp: int) -> tuple[int, int, int, int]:
    """Per-token widths of one layer under tensor parallelism: (q, k+v, attention output, heads)."""
    a = b.attention
    assert a is not None
    heads = max(1, a.num_heads // tp)
    q = heads * a.head_dim
    kv = max(1, a.num_kv_heads // tp) * (a.head_dim + a.v_head_dim)
    return q, kv, heads * a.v_head_dim, heads


def _layer_forward_peak(b: Block, tokens: int, batch: int, seq: int, c: int, w: Workload, h: int) -> int:
    """Largest set of live tensors inside one decoder layer's forward without autograd.

    Live throughout: the embedding output, the layer input and its normed copy (3h), RoPE cos/sin.
    Attention adds q (and its rotated copy), k, v and the output; the MLP adds the post-attention
    residual (h) and, for a gated MLP, act(gate), up and their product (3 x intermediate).
    Eager attention materialises the scores: bf16 scores, an fp32 upcast and the fp32 softmax.
    Routed experts see each token k times (its gathered input, gate/up, product and output).
    """
    a = b.attention
    tp = w.tensor_parallel
    if a is None:
        return 0
    q, kv, out, heads = _widths(b, tp)
    rope = 2 * a.head_dim if a.kind != "cross" else 0
    attn = tokens * c * (3 * h + rope + 2 * q + kv + out)
    if w.attention == "eager" and a.kind != "cross":
        keys = min(seq, a.window) if a.window else seq
        attn += batch * heads * seq * keys * (c + 8)
    width = b.mlp_width // tp
    # A fused gate_up projection (Phi-3) writes both halves into one tensor that lives until the end.
    fused = any(lin.name.endswith("gate_up_proj") and lin.copies == 1 for lin in b.linears)
    live = (4 if fused else 3) * width if b.gated_mlp else 2 * width
    mlp = tokens * c * (4 * h + rope + live)
    if b.experts_per_token:
        mlp += tokens * c * b.experts_per_token * (2 * h + 4 * (b.expert_width // tp))
    mask = 0
    if a.window and seq > a.window and w.attention != "eager":
        # SDPA cannot use its causal fast path with a window: transformers builds a boolean
        # b x 1 x s x s mask, alive for the whole forward.
        mask = batch * seq * seq
    return max(attn, mlp) + mask


def _norm_saved(c: int, h: int) -> int:
    """Bytes per token an RMSNorm/LayerNorm saves: its input upcast to fp32 and the normed output."""
    return (max(4, c) + c) * h


def _layer_saved(b: Block, tokens: int, batch: int, seq: int, c: int, w: Workload, h: int,
                 dropout: bool, lora_extra: int) -> int:
    """Bytes one decoder layer saves for backward (Korthikanti et al. 2022, adapted; docs/math.md).

    Two norms; q (rotated), k, v, the attention output and fp32 softmax statistics for fused
    attention (plus fp32 and 16-bit probabilities when eager); a gated MLP saves gate, act(gate), up
    and their product (4 x intermediate), a plain one its hidden twice; routed experts save their
    gathered inputs and outputs per visit. ``lora_extra`` is per token (adapter inputs).
    """
    a = b.attention
    tp = w.tensor_parallel
    per_token = 2 * _norm_saved(c, h) + lora_extra
    saved = 0
    if a is not None:
        q, kv, out, heads = _widths(b, tp)
        per_token += c * (q + kv + out)
        saved += 4 * batch * heads * seq
        if w.attention == "eager":
            keys = min(seq, a.window) if a.window else seq
            probs = batch * heads * seq * keys
            saved += probs * (4 + c) + (probs * (1 + c) if dropout else 0)
    width = b.mlp_width // tp
    per_token += c * (4 * width if b.gated_mlp else 2 * width)
    if b.experts_per_token:
        per_token += c * b.experts_per_token * (2 * h + 4 * (b.expert_width // tp))
    return saved + tokens * per_token


def _lora_activation_per_token(spec: ModelSpec, w: Workload, block: Block, c: int) -> int:
    """Extra bytes per token a layer's adapters save: the adapter's copy of its input when the
    adapter dtype differs from the compute dtype (PEFT casts x to the adapter's dtype), and the
    r-wide output of lora_A."""
    if w.mode not in ("lora", "qlora"):
        return 0
    lb = (w.lora_format or w.compute_format).flat_bytes(1)
    extra = 0
    for b, lin in _lora_linears(spec, w.lora_targets):
        if b is block:
            visits = block.experts_per_token if lin.copies > 1 else 1
            extra += visits * ((lin.in_features * lb if lb != c else 0) + w.lora_rank * lb)
    return extra


def activations(spec: ModelSpec, w: Workload, *, training: bool) -> tuple[int, list[Term]]:
    if spec.text is None:
        return 0, []
    dropout = spec.text.attention_dropout
    hidden_dropout = spec.text.hidden_dropout
    c = w.compute_format.flat_bytes(1) if w.compute_format.weight_bits >= 8 else 2
    b_ = w.batch_size
    seq = w.seq_len + visual_tokens(spec, w)
    tokens = b_ * seq
    h = spec.text.hidden_size
    vocab_shard = _shard(spec.text.logits_width or spec.text.vocab_size, w.tensor_parallel)
    blocks = [blk for blk in spec.decoder_blocks() if blk.attention is not None]
    terms: list[Term] = []
    vision = _vision_peak(spec, w, c)
    if not training:
        layer_peak = max((_layer_forward_peak(blk, tokens, b_, seq, c, w, h) for blk in blocks), default=0)
        logits = b_ * vocab_shard * (c + 4) + tokens * h * c
        peak = max(layer_peak, logits, vision)
        terms.append(Term(component="activations", name="largest layer forward", bytes=layer_peak,
                          formula="b x s x bytes x max(3h + rope + 2q + kv + out, 4h + rope + 3 x intermediate) "
                                  "(+ b x heads x s x s x (bytes + 8) when eager; + k x (2h + 4 x expert width) "
                                  "for routed experts)",
                          values={"batch": b_, "seq_len": seq, "hidden": h, "bytes": c, "attention": w.attention},
                          source="derived from the transformers forward; checked on an H100 (docs/validation.md)",
                          approximate=True))
        terms.append(Term(component="activations", name="logits of the last position", bytes=logits,
                          formula="b x vocab x (bytes + 4 for the fp32 upcast) + b x s x h x bytes",
                          values={"batch": b_, "vocab": spec.text.vocab_size}, approximate=True,
                          source="transformers generate computes logits for the last position only"))
        if vision:
            terms.append(Term(component="activations", name="vision encoder", bytes=vision,
                              formula="images x patches x bytes x (2h + max(4h, 2 x intermediate)) + features",
                              values={"images": w.images, "frames": w.frames}, approximate=True,
                              source="derived from the ViT forward"))
        return peak, terms
    # Hidden dropout saves a one-byte mask after attention and after the MLP.
    per_layer = {id(blk): _layer_saved(blk, tokens, b_, seq, c, w, h, dropout,
                                       _lora_activation_per_token(spec, w, blk, c) + (2 * h if hidden_dropout else 0))
                 for blk in blocks}
    layers_total = sum(blk.count * per_layer[id(blk)] for blk in blocks)
    n_layers = sum(blk.count for blk in blocks)
    if w.gradient_checkpointing:
        stored = n_layers * tokens * h * c + max(per_layer.values(), default=0)
        formula = "layers x b x s x h x bytes (checkpointed inputs) + one layer recomputed"
    else:
        stored = layers_total
        formula = ("per layer: b x s x [2 x norm (fp32 input + normed) + bytes x (q + k + v + out) "
                   "+ bytes x 4 x intermediate (gated MLP)] + 4 x b x heads x s (softmax statistics)")
    # At the start of backward: the logits, the fp32 log-softmax the loss saved, its gradient, and the
    # gradient of the logits (the fp32 upcast itself is not saved once the loss is computed).
    logits = tokens * vocab_shard * (2 * c + 8) + 2 * tokens * h * c
    p = w.pipeline_parallel
    if p > 1:
        # 1F1B: the first stage holds p micro-batches in flight over its share of the layers; the last
        # stage one micro-batch plus the logits (Narayanan et al. 2021; Korthikanti et al. 2022, sec. 4).
        per_stage = -(-n_layers // p)
        share = stored * per_stage // n_layers if n_layers else 0
        first, last = share * p, share + logits
        terms.append(Term(component="activations", name=f"pipeline stage (1F1B over {p} stages)",
                          bytes=max(first, last), formula="max(first stage: p x layers/p x per-layer, "
                                                          "last stage: layers/p x per-layer + logits)",
                          values={"stages": p, "layers_per_stage": per_stage}, approximate=True,
                          source="Megatron-LM 1F1B schedule"))
        return max(first + vision, last), terms
    terms.append(Term(component="activations", name="decoder layers (saved for backward)", bytes=stored,
                      formula=formula, values={"layers": n_layers, "batch": b_, "seq_len": seq, "hidden": h,
                                               "bytes": c, "checkpointing": str(w.gradient_checkpointing),
                                               "attention": w.attention},
                      source="Korthikanti et al. 2022 (arXiv:2205.05198), adapted to SwiGLU, RMSNorm and "
                             "fused attention (docs/math.md)",
                      approximate=True))
    terms.append(Term(component="activations", name="logits and loss", bytes=logits,
                      formula="b x s x vocab x (2 x bytes + 4 fp32 log-softmax + 4 its gradient) + final norm",
                      values={"vocab": spec.text.vocab_size}, approximate=True,
                      source="transformers ForCausalLMLoss upcasts logits to fp32 before cross-entropy"))
    return stored + logits + vision, terms


def _vision_peak(spec: ModelSpec, w: Workload, c: int) -> int:
    v = spec.vision
    if v is None or (w.images == 0 and w.frames == 0):
        return 0
    per_image = v.image_tokens(*w.image_size)[1] if w.image_size else v.tiles_per_image * v.patches_per_image
    n = w.images * per_image + w.frames * v.patches_per_image
    h = v.hidden_size
    return n * c * (2 * h + max(4 * h, 2 * v.intermediate_size)) + n * h * c


# --------------------------------------------------------------------------------------------
# Training states


def _tensors(spec: ModelSpec) -> Iterator[tuple[int, int, int]]:
    """(rows, cols, copies) of every trainable tensor; vectors have cols == 0."""
    for comp in spec.components:
        if not comp.loaded:
            continue
        for b in comp.blocks:
            for lin in b.linears:
                yield lin.out_features, lin.in_features, lin.copies * b.count
                if lin.bias:
                    yield lin.out_features, 0, lin.copies * b.count
            if b.embedding_params:
                width = spec.text.hidden_size if spec.text else 1
                yield b.embedding_params // width, width, b.count
            if b.other_params:
                yield b.other_params, 0, b.count


def optimizer_state_bytes(optimizer: str, tensors: list[tuple[int, int, int]], state_bytes: int) -> int:
    """Bytes of optimizer state for the given tensors.

    adamw: two moments (torch.optim.AdamW creates them like the parameter); sgd-momentum and lion:
    one; adafactor: factored row and column statistics for matrices (Shazeer & Stern 2018), a full
    second moment for vectors; 8-bit AdamW: two uint8 states plus an fp32 absmax per 256 values,
    tensors under 4096 values kept in 32-bit (bitsandbytes Optimizer2State, min_8bit_size).
    """
    total = 0
    for rows, cols, copies in tensors:
        n = rows * max(cols, 1)
        if optimizer == "adamw":
            per = 2 * n * state_bytes
        elif optimizer in ("adamw-8bit", "paged-adamw-8bit"):
            per = 2 * (n + 4 * -(-n // 256)) if n >= 4096 else 8 * n
        elif optimizer in ("sgd-momentum", "lion"):
            per = n * state_bytes
        elif optimizer == "adafactor":
            per = 4 * (rows + cols) if cols else 4 * n
        else:
            per = 0
        total += copies * per
    return total


def _training_states(spec: ModelSpec, w: Workload) -> tuple[int, int, int, int, list[Term], list[str]]:
    """(extra weight bytes, gradient bytes, optimizer bytes, trainable params, terms, notes)."""
    notes: list[str] = []
    terms: list[Term] = []
    tp = w.tensor_parallel
    if w.mode == "qlora":
        linear = sum(b.count * lin.params for comp in spec.components if comp.kind in ("decoder", "mtp")
                     and comp.loaded for b in comp.blocks for lin in b.linears)
        rest = spec.parameters - linear
        notes.append(f"peft's prepare_model_for_kbit_training upcasts the {rest:,} parameters that stay 16-bit "
                     f"(embeddings, lm_head, norms) to fp32: add {2 * rest:,} bytes if you call it "
                     "(TRL with bf16=True casts them back)")
    if w.mode in ("lora", "qlora"):
        trainable = lora_parameters(spec, w.lora_rank, w.lora_targets)
        adapter = w.lora_format or w.compute_format
        ab = adapter.flat_bytes(1)
        adapters = _shard(trainable * ab, tp)
        grads = _shard(trainable * ab, tp)
        shapes = [(w.lora_rank, lin.in_features + lin.out_features, b.count * lin.copies)
                  for b, lin in _lora_linears(spec, w.lora_targets)]
        opt = _shard(optimizer_state_bytes(w.optimizer, shapes, 4), tp)
        terms.append(Term(component="weights", name="LoRA adapters", bytes=adapters,
                          formula="sum over adapted matrices of r x (in + out) x bytes",
                          values={"rank": w.lora_rank, "targets": ",".join(w.lora_targets),
                                  "trainable": trainable, "adapter_dtype": adapter.name},
                          source="LoRA, arXiv:2106.09685"))
        terms.append(Term(component="gradients", name="adapter gradients", bytes=grads,
                          formula="trainable x bytes", values={"trainable": trainable}))
        terms.append(Term(component="optimizer", name=f"{w.optimizer} states of adapters", bytes=opt,
                          formula="per optimizer (docs/math.md)", values={"trainable": trainable}))
        return adapters, grads, opt, trainable, terms, notes
    trainable = spec.parameters
    regime = w.regime or ("fp32" if w.weight_format.name == "fp32" else "mixed")
    grad_b = {"fp32": 4, "amp": 4, "mixed": 2, "pure-bf16": 2}[regime]
    state_b = 2 if regime == "pure-bf16" else 4
    master = 4 * trainable if regime == "mixed" else 0
    extra = 2 * sum(lin.params * b.count for comp in spec.components if comp.kind != "embedding"
                    for b in comp.blocks for lin in b.linears) if regime == "amp" else 0
    tensors = list(_tensors(spec))
    grads = _shard(trainable * grad_b, tp)
    opt = _shard(optimizer_state_bytes(w.optimizer, tensors, state_b) + master, tp)
    if regime == "amp":
        terms.append(Term(component="weights", name="autocast 16-bit copies of Linear weights",
                          bytes=_shard(extra, tp), formula="2 x Linear parameters",
                          values={"regime": regime},
                          source="transformers docs, model_memory_anatomy (18 bytes/param for AMP + AdamW)"))
    terms.append(Term(component="gradients", name="gradients", bytes=grads, formula="trainable x grad bytes",
                      values={"trainable": trainable, "grad_bytes": grad_b, "regime": regime},
                      source="ZeRO, arXiv:1910.02054 (2 bytes in mixed precision); 4 in fp32 and AMP"))
    opt_name = f"{w.optimizer} states" + (" + fp32 master weights" if master else "")
    terms.append(Term(component="optimizer", name=opt_name,
                      bytes=opt, formula="moments per optimizer (docs/math.md) + 4 x trainable master copy"
                      if master else "moments per optimizer (docs/math.md)",
                      values={"trainable": trainable, "state_bytes": state_b, "master_bytes": master},
                      source="ZeRO K=12 for mixed-precision Adam; torch.optim; bitsandbytes"))
    if regime == "mixed":
        notes.append("mixed precision: 16-bit weights and gradients, fp32 master copy and Adam moments "
                     "(16 bytes per parameter with AdamW, ZeRO paper)")
    return _shard(extra, tp), grads, opt, trainable, terms, notes


# --------------------------------------------------------------------------------------------
# Tensor parallelism

MAX_TENSOR_PARALLEL = 64


def tensor_parallel_degrees(spec: ModelSpec, limit: int = MAX_TENSOR_PARALLEL) -> list[int]:
    """Degrees a model can be split over: attention heads divide evenly, and KV heads divide evenly
    or are replicated (Megatron-LM and vLLM both need one of these)."""
    heads = {(b.attention.num_heads, b.attention.num_kv_heads) for b in spec.decoder_blocks() if b.attention}
    if not heads:
        return list(range(1, limit + 1))
    return [n for n in range(1, limit + 1)
            if all(a % n == 0 and (kv % n == 0 or n % kv == 0) for a, kv in heads)]


def check_tensor_parallel(spec: ModelSpec, n: int) -> None:
    if n > 1 and n not in tensor_parallel_degrees(spec, n):
        a = next((b.attention for b in spec.decoder_blocks() if b.attention), None)
        what = f"{a.num_heads} attention heads and {a.num_kv_heads} KV heads" if a else "its layers"
        raise UsageError(f"a tensor-parallel degree of {n} cannot split {spec.id}: it has {what}; use a degree "
                         "that divides them")


# --------------------------------------------------------------------------------------------
# The estimate


def estimate(spec: ModelSpec, workload: Workload, *, gguf_types: dict[str, Format] | None = None) -> Estimate:
    """The memory needed to run ``workload`` on ``spec``, per GPU."""
    w = workload
    gguf_types = gguf_types or {}
    if w.weight_format.mix is not None:
        missing = {w.weight_format.mix.output, w.weight_format.mix.token_embedding,
                   w.weight_format.mix.more_bits_type or w.weight_format.mix.output} - set(gguf_types)
        if missing:
            raise UsageError(f"format {w.weight_format.name} needs the GGUF types {sorted(missing)}")
    training = w.mode != "inference"
    check_tensor_parallel(spec, w.tensor_parallel)
    if spec.text and w.pipeline_parallel > spec.text.num_layers:
        raise UsageError(f"--pp {w.pipeline_parallel} is more pipeline stages than {spec.id}'s "
                         f"{spec.text.num_layers} layers")
    if w.mode == "training" and w.weight_format.kind != "float":
        raise UsageError(f"full training needs float weights, not {w.weight_format.name}; "
                         "use --mode qlora for a quantized base")
    notes: list[str] = list(spec.notes)
    terms: list[Term] = []
    if (w.images or w.frames) and spec.vision is None:
        raise UsageError(f"--images and --frames need a multimodal model; {spec.id} has no vision encoder")
    window = spec.text.max_position_embeddings if spec.text else None
    tokens = w.seq_len + visual_tokens(spec, w)
    if window and tokens > window:
        notes.append(f"{tokens:,} tokens per sequence exceed the model's context window ({window:,} positions)")
    stored_dtype = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}.get(spec.checkpoint_dtype or "")
    if stored_dtype and w.weight_format.kind == "float" and stored_dtype != w.weight_format.name:
        notes.append(f"the checkpoint is stored in {stored_dtype}; this estimate loads it in {w.weight_format.name} "
                     f"(--dtype {stored_dtype} for the stored precision)")

    if w.stored_weights and spec.stored_weight_bytes is not None:
        if w.mode == "training":
            raise UsageError("full training of a pre-quantized checkpoint is not possible; use --mode lora or qlora")
        by_comp = {"stored": _shard(spec.stored_weight_bytes, w.tensor_parallel)}
        weights = by_comp["stored"]
        terms.append(Term(component="weights", name="weights as stored in the checkpoint", bytes=weights,
                          formula="sum over safetensors tensors of their stored bytes (/ GPUs)",
                          values={"stored_bytes": spec.stored_weight_bytes,
                                  "quantization": spec.quantization or "none"},
                          source="safetensors headers"))
    else:
        by_comp = weights_by_component(spec, w, gguf_types)
        weights = sum(by_comp.values())
        terms.append(Term(component="weights", name=f"weights in {w.weight_format.name}", bytes=weights,
                          formula="sum over tensors of the format's bytes for that shape" if spec.has_architecture
                          else "parameters x bits per parameter / 8",
                          values={**{f"{k}_bytes": v for k, v in by_comp.items()}, "format": w.weight_format.name,
                                  "unquantized": w.unquantized_format.name},
                          source=w.weight_format.source))
    bits = weights * 8 / spec.parameters if spec.parameters else 0.0

    kv, kv_terms = (0, []) if training or not spec.has_architecture else kv_cache(spec, w)
    terms.extend(kv_terms)
    act, act_terms = activations(spec, w, training=training)
    terms.extend(act_terms)
    if not spec.has_architecture:
        notes.append("size literal: the architecture is unknown, so KV cache and activations are not "
                     "estimated; name a model or a config for those")

    grads = opt = 0
    trainable = 0
    if training:
        extra, grads, opt, trainable, t_terms, t_notes = _training_states(spec, w)
        weights += extra
        terms.extend(t_terms)
        notes.extend(t_notes)
        grads, act = _gradients_at_peak(spec, w, grads, act, terms, notes)

    weights, kv, grads, opt, cpu = _distribute(spec, w, by_comp, weights, kv, grads, opt, terms, notes)

    rt = w.runtime
    if w.overhead_percent is not None:
        overhead = round(sum(by_comp.values()) * w.overhead_percent / 100)
        terms.append(Term(component="overhead", name=f"{w.overhead_percent:g}% of the weights (rule of thumb)",
                          bytes=overhead, formula="weights x percent / 100",
                          values={"percent": w.overhead_percent}, approximate=True,
                          source="seed notes' rule of thumb; replaces the modelled runtime overhead"))
        notes.append(f"--overhead-percent {w.overhead_percent:g}: runtime overhead is a rule of thumb, "
                     "not the measured CUDA context and allocator reserve")
    else:
        fraction = rt.allocator_reserve_fraction_training if training else rt.allocator_reserve_fraction_inference
        reserve = round(act * fraction)
        comm = rt.multi_gpu_comm_bytes if w.gpus > 1 else 0
        overhead = rt.cuda_context_bytes + reserve + comm
        terms.append(Term(component="overhead", name="CUDA context + allocator reserve", bytes=overhead,
                          formula="context + reserve_fraction x activations (+ NCCL buffers when sharded)",
                          values={"context_bytes": rt.cuda_context_bytes,
                                  "reserve_fraction": fraction, "comm_bytes": comm},
                          source=rt.source, approximate=True))
    breakdown = Breakdown(weights_bytes=weights, kv_cache_bytes=kv, activations_bytes=act,
                          gradients_bytes=grads, optimizer_bytes=opt, overhead_bytes=overhead)
    return Estimate(model_id=spec.id, model_type=spec.model_type, parameters=spec.parameters,
                    active_parameters=spec.active_parameters, trainable_parameters=trainable,
                    parameters_by_component=spec.params_by_component(), weights_by_component=by_comp,
                    bits_per_parameter=round(bits, 4),
                    kv_cache_bytes_per_token=kv_cache_bytes_per_token(spec, w) if spec.has_architecture else 0,
                    tokens_per_sequence=tokens,
                    breakdown=breakdown, cpu_bytes=cpu, terms=tuple(terms), notes=tuple(dict.fromkeys(notes)))


def _gradients_at_peak(spec: ModelSpec, w: Workload, grads: int, act: int, terms: list[Term],
                       notes: list[str]) -> tuple[int, int]:
    """Gradient bytes alive at the peak of a training step.

    Single-process PyTorch frees gradients between steps (``zero_grad(set_to_none=True)``, the default
    since 2.0); backward then allocates them as it frees activations, so the peak comes at the start
    of backward, with only the output layer's gradient allocated, or at its end, with all gradients
    and no activations, whichever is larger. Gradient accumulation, DDP buckets, ZeRO/FSDP and
    Megatron (and so the ``mixed`` regime with fp32 master weights) keep gradient buffers for the
    whole step: then gradients and activations add up.
    Returns (gradient bytes, activation bytes) at the peak.
    """
    regime = w.regime or ("fp32" if w.weight_format.name == "fp32" else "mixed")
    # Mixed precision with fp32 master weights is what DeepSpeed, Megatron and apex implement, and they
    # keep gradient buffers allocated; plain PyTorch (fp32, AMP, pure bf16) frees them.
    persistent = w.grad_accum > 1 or w.gpus > 1 or w.mode != "training" or regime == "mixed"
    if persistent or not spec.has_architecture:
        return grads, act
    head = next((c for c in spec.components if c.kind == "head" and c.loaded), None)
    if head is None:
        head = next((c for c in spec.components if c.kind == "embedding" and c.loaded), None)
    head_params = head.params if head is not None else 0
    head_grads = -(-grads * head_params // spec.parameters) if spec.parameters else 0
    if act + head_grads < grads:
        notes.append("the step peaks at the end of backward: all gradients allocated, activations freed "
                     "(gradients are freed between steps; with --grad-accum > 1 or several GPUs both add up)")
        return grads, 0
    notes.append(f"gradients are freed between steps and allocated during backward as activations are freed: "
                 f"at the peak (start of backward) {head_grads:,} of their {grads:,} bytes exist; with "
                 "--grad-accum > 1 or several GPUs all of them stay")
    terms.append(Term(component="gradients", name="gradients alive at the peak (start of backward)",
                      bytes=head_grads, formula="output layer's gradient only; the rest replace freed activations",
                      values={"all_gradients_bytes": grads}, approximate=True,
                      source="torch.optim zero_grad(set_to_none=True) default (PyTorch 2.0)"))
    return head_grads, act


def _stage_fraction(spec: ModelSpec, by_comp: dict[str, int], stages: int) -> float:
    """Share of the weights on the heaviest pipeline stage: its layers, plus the embeddings and vision
    tower on the first stage, or the final norm and lm_head on the last (a tied embedding is copied
    there)."""
    total = sum(by_comp.values())
    layers = sum(b.count for b in spec.decoder_blocks() if b.attention is not None)
    if not total or not layers:
        return 1.0
    decoder = by_comp.get("decoder", 0)
    per_layer = decoder / layers
    first = sum(v for k, v in by_comp.items() if k in ("embeddings", "vision_tower", "projector"))
    last = by_comp.get("lm_head", by_comp.get("embeddings", 0) if spec.tied_embeddings else 0)
    stage = -(-layers // stages) * per_layer + max(first, last)
    return min(1.0, stage / total)


def _largest_layer(spec: ModelSpec) -> int:
    """Parameters of the largest decoder layer (0 for a size literal, which has no layers)."""
    return max((b.params_per_layer for b in spec.decoder_blocks() if b.attention is not None), default=0)


def _distribute(spec: ModelSpec, w: Workload, by_comp: dict[str, int], weights: int, kv: int, grads: int,
                opt: int, terms: list[Term], notes: list[str]) -> tuple[int, int, int, int, int]:
    """Pipeline stages, ZeRO/FSDP sharding and CPU offload, applied to the per-GPU states.

    ZeRO (Rajbhandari et al. 2020): stage 1 divides optimizer states by the data-parallel degree,
    stage 2 also gradients, stage 3 also parameters, which are gathered a layer at a time (the
    current and the prefetched one in 16-bit: 4 bytes x the largest layer, as DeepSpeed's own
    estimator counts). Offload (ZeRO-Offload, Ren et al. 2021) moves optimizer states and master
    weights, or also the parameter shards, to CPU memory.
    """
    cpu = 0
    p = w.pipeline_parallel
    if p > 1:
        frac = _stage_fraction(spec, by_comp, p)
        layers = spec.text.num_layers if spec.text else 1
        weights, grads, opt = (-(-int(x * frac * 1_000_000) // 1_000_000) for x in (weights, grads, opt))
        kv = -(-kv * (-(-layers // p)) // layers)
        terms.append(Term(component="weights", name=f"heaviest of {p} pipeline stages", bytes=weights,
                          formula="layers/p x per-layer bytes + max(embeddings and vision, lm_head)",
                          values={"stages": p, "share": round(frac, 4)}, approximate=True,
                          source="embeddings on the first stage, lm_head on the last (Megatron-LM)"))
    if w.zero_stage:
        s = w.state_shards
        if w.zero_stage >= 1:
            opt = -(-opt // s)
        if w.zero_stage >= 2:
            grads = -(-grads // s)
        if w.zero_stage >= 3:
            c = w.compute_format.flat_bytes(1)
            largest = _largest_layer(spec)
            gathered = 2 * largest * c // w.tensor_parallel
            weights = -(-weights // s) + gathered
            terms.append(Term(component="weights", name="ZeRO-3 gathered layer buffers", bytes=gathered,
                              formula="2 layers (current + prefetched) x largest layer x bytes",
                              values={"largest_layer_params": largest}, approximate=True,
                              source="DeepSpeed estimate_zero3_model_states_mem_needs (4 x largest layer)"))
        notes.append(f"ZeRO stage {w.zero_stage} over {s} GPUs: "
                     + ("optimizer states" if w.zero_stage == 1 else "optimizer states and gradients"
                        if w.zero_stage == 2 else "optimizer states, gradients and parameters") + " sharded")
    if w.offload == "optimizer":
        cpu += opt
        notes.append("optimizer states and fp32 master weights offloaded to CPU memory (cpu_bytes)")
        opt = 0
    elif w.offload == "params":
        c = w.compute_format.flat_bytes(1)
        largest = _largest_layer(spec)
        gathered = 2 * largest * c // w.tensor_parallel
        cpu += opt + max(0, weights - gathered)
        notes.append("parameter shards and optimizer states offloaded to CPU memory (cpu_bytes); the GPU "
                     "holds the gathered layers")
        weights, opt = gathered, 0
    return weights, kv, grads, opt, cpu
