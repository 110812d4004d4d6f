"""Activations: inference keeps the largest transient set of one layer's forward, or the logits;
training keeps what each layer saves for backward (Korthikanti et al. 2022, arXiv:2205.05198,
adapted to SwiGLU, RMSNorm and fused attention; docs/math.md)."""

from __future__ import annotations

from vram.breakdown import Term
from vram.model import Block, ModelSpec, VisionDims
from vram.terms.encoder import block_hidden, cross_length, encoder_length
from vram.terms.kv import visual_tokens
from vram.terms.lora import lora_linears
from vram.terms.loss import loss_bytes
from vram.terms.offload import offload
from vram.terms.training import grpo_buffers
from vram.terms.weights import shard
from vram.workload import Workload


def _widths(b: Block, tp: int) -> tuple[int, int, int, int]:
    """Per-token widths of one layer under tensor parallelism: (q, k+v, attention output, heads)."""
    a = b.attention
    assert a is not None
    heads = max(1, a.num_heads // tp)
    q = heads * a.head_dim
    kv = max(1, a.num_kv_heads // tp) * a.kv_dims
    return q, kv, heads * a.v_head_dim, heads


def layer_forward_peak(b: Block, tokens: int, batch: int, seq: int, c: int, w: Workload, h: int) -> int:
    """Largest set of live tensors inside one decoder layer's forward without autograd.

    Live throughout: the embedding output, the layer input and its normed copy (3h), RoPE cos/sin.
    Attention adds q (and its rotated copy), k, v and the output; the MLP adds the post-attention
    residual (h) and, for a gated MLP, act(gate), up and their product (3 x intermediate).
    Eager attention materialises the scores: bf16 scores, an fp32 upcast and the fp32 softmax.
    Routed experts see each token k times (its gathered input, gate/up, product and output).
    """
    a = b.attention
    tp = w.tensor_parallel
    if not b.computes:
        return 0
    if a is None and b.state is None:
        # No attention and no state mixer (Nemotron-NAS: a no-op or a single h x h Linear in its
        # place): the layer input, its normed copy and the embedding output, plus the Linear's output.
        attn, rope = tokens * c * (4 * h if _mixer_linears(b) else 3 * h), 0
    elif a is None:
        attn, rope = tokens * _state_forward_per_token(b, c, h, tp, w, seq), 0
    else:
        q, kv, out, heads = _widths(b, tp)
        rope = 2 * a.head_dim if a.kind != "cross" else 0
        # A cross-attention's keys and values span the encoder output (or the image features).
        kv_positions = batch * cross_length(a, w) if a.kind == "cross" else tokens
        attn = tokens * c * (3 * h + rope + 2 * q + out) + kv_positions * c * kv
        if w.attention == "eager":
            keys = cross_length(a, w) if a.kind == "cross" else min(seq, a.window) if a.window else seq
            if a.compress_rate and a.kind != "cross":
                keys += seq // a.compress_rate  # DeepSeek-V4: the compressed entries are scored beside the window
            attn += batch * heads * seq * keys * (c + 8)
    if not b.mlp_width and not b.experts_per_token:
        return attn  # a pure state-space layer (Mamba): its mixer is the whole layer
    width = b.mlp_width // tp
    # A fused gate_up projection (Phi-3) writes both halves into one tensor that lives until the end.
    fused = any(lin.name.endswith("gate_up_proj") and lin.copies == 1 for lin in b.linears)
    live = (4 if fused else 3) * width if b.gated_mlp else 2 * width
    mlp = tokens * c * (4 * h + rope + live)
    if b.experts_per_token:
        mlp += tokens * c * b.experts_per_token * (2 * h + 4 * (b.expert_width // tp))
    mask = 0
    if a is not None and a.window and seq > a.window and w.attention != "eager":
        # SDPA cannot use its causal fast path with a window: transformers builds a boolean
        # b x 1 x s x s mask, alive for the whole forward.
        mask = batch * seq * seq
    return max(attn, mlp) + mask


_MLP_NAMES = ("gate_proj", "up_proj", "down_proj", "gate_up_proj", "fc1", "fc2", "c_fc", "mlp.c_proj",
              "dense_h_to_4h", "dense_4h_to_h", "w1", "w2", "w3", "linear_mlp")


def _mixer_linears(b: Block) -> list[str]:
    """Weight matrices of a layer without attention or state that are not its MLP's."""
    return [lin.name for lin in b.linears if not lin.name.endswith(_MLP_NAMES)]


# mamba_ssm's selective scan kernel (csrc/selective_scan/selective_scan_fwd_kernel.cuh, kChunkSize) scans
# 2,048 positions per chunk and keeps the state at the end of each chunk for the backward pass.
SCAN_CHUNK = 2048


def _work_per_token(b: Block, w: Workload, seq: int, tp: int) -> int:
    """Bytes per token of a mixer's float32 intermediates.

    transformers' torch path materialises them for the whole sequence (StateCache.work_fp32). Mamba-1
    with mamba_ssm's fused kernels (--mamba-kernels fused, the default; transformers calls them when
    mamba-ssm and causal-conv1d are installed) keeps none per token: selective_scan_fn and
    mamba_inner_fn (mamba_ssm/ops/selective_scan_interface.py, 2.2) save for backward only the scan
    state at each chunk's end, x of (batch, inner, ceil(L / 2048), 2 x state) float32, besides the
    compute-dtype tensors counted with the projections.
    """
    s = b.state
    assert s is not None
    if s.mixer == "mamba1" and w.mamba_kernels == "fused":
        chunks = -(-seq // SCAN_CHUNK)
        return -(-(4 * 2 * (s.recurrent_elements // tp) * chunks) // max(1, seq))
    return 4 * (s.work_fp32 // tp)


def _state_forward_per_token(b: Block, c: int, h: int, tp: int, w: Workload, seq: int) -> int:
    """Bytes per token live in a linear-attention or Mamba mixer's forward (transformers' torch path).

    The layer input, its normed copy and the embedding output (3h), the input projections, the
    convolution's input and output, the mixer output, and the float32 intermediates the torch path
    materialises for the whole sequence (model.StateCache.work_fp32: Gated DeltaNet's
    torch_chunk_gated_delta_rule in modeling_qwen3_next, Mamba's slow_forward in modeling_mamba,
    Mamba-2's torch_forward in modeling_mamba2; transformers 5.23). Widths split by tensor parallelism.
    """
    s = b.state
    assert s is not None
    return c * (3 * h + (s.projected + 2 * s.channels + s.inner) // tp) + _work_per_token(b, w, seq, tp)


def _state_saved_per_token(b: Block, c: int, tp: int, w: Workload, seq: int) -> int:
    """Bytes per token a linear-attention or Mamba mixer saves for backward: the projections, the
    convolution's input and output, the mixer output, and the float32 intermediates of the torch
    path (autograd keeps the operands of their products)."""
    s = b.state
    assert s is not None
    if s.mixer == "mamba2" and w.mamba_kernels == "fused":
        # transformers' Mamba-2 mixers call mamba_split_conv1d_scan_combined in training; its autograd
        # Function (mamba_ssm/ops/triton/ssd_combined.py MambaSplitConv1dScanCombinedFn, 2.2) saves the
        # in_proj output zxbcdt and the scan output out_x and recomputes the convolution, the chunked
        # scan and the gated norm in backward; the norm's fp32 rstd (4 x groups bytes) is left out.
        return c * ((s.projected + s.inner) // tp)
    return c * ((s.projected + 2 * s.channels + s.inner) // tp) + _work_per_token(b, w, seq, tp)


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
    channel = bool(b.mlp_width or b.experts_per_token)
    # One norm before the token mixer and one before the MLP; a layer whose mixer is a no-op has no
    # norm for it (Nemotron-NAS builds input_layernorm only with its attention).
    mixer = a is not None or b.state is not None or bool(_mixer_linears(b))
    per_token = (int(mixer) + int(channel or not mixer)) * _norm_saved(c, h) + lora_extra
    saved = 0
    if b.state is not None:
        per_token += _state_saved_per_token(b, c, tp, w, seq)
    if a is not None:
        q, kv, out, heads = _widths(b, tp)
        per_token += c * (q + out)
        # Keys and values: over the layer's own tokens, or for a cross-attention over the encoder
        # output (the image features for Mllama).
        saved += c * kv * (batch * cross_length(a, w) if a.kind == "cross" else tokens)
        saved += 4 * batch * heads * seq
        if w.attention == "eager":
            keys = cross_length(a, w) if a.kind == "cross" else min(seq, a.window) if a.window else seq
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
    for b, lin in lora_linears(spec, w.lora_targets):
        if b is block:
            visits = block.experts_per_token if lin.copies > 1 else 1
            extra += visits * ((lin.in_features * lb if lb != c and w.lora_input_copy else 0) + w.lora_rank * lb)
    return extra


def activations(spec: ModelSpec, w: Workload, *, training: bool,
                loss_free_bytes: int | None = None) -> tuple[int, list[Term]]:
    """(bytes at the peak, terms). ``loss_free_bytes``: the card's free memory when the loss runs,
    for a loss that sizes itself from it (Unsloth's)."""
    if spec.text is None:
        return 0, []
    c = w.compute_format.flat_bytes(1) if w.compute_format.weight_bits >= 8 else 2
    b_ = w.batch_size
    seq = w.seq_len + visual_tokens(spec, w)
    tokens = b_ * seq
    h = spec.text.hidden_size
    vocab_shard = shard(spec.text.logits_width or spec.text.vocab_size, w.tensor_parallel)
    blocks = [blk for blk in spec.decoder_blocks() if blk.computes]
    terms: list[Term] = []
    vision = _vision_peak(spec, w, c)
    if not training:
        # Prefill runs the encoder (over its own length) before the decoder's first layer.
        enc = encoder_length(spec, w)
        layer_peak = max([layer_forward_peak(blk, tokens, b_, seq, c, w, h) for blk in blocks]
                         + [layer_forward_peak(blk, b_ * enc, b_, enc, c, w, block_hidden(blk, h))
                            for blk in spec.encoder_blocks()], default=0)
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
    peak, terms, _ = training_activations(spec, w, c, vision, loss_free_bytes)
    held, held_term = grpo_buffers(w, c)
    if held_term is not None:
        terms.append(held_term)
    return peak + held, terms


def training_shape(w: Workload) -> tuple[int, int, int]:
    """(sequences, extra tokens per sequence, positions that get logits per sequence) of one step.

    dpo: TRL's concatenated forward runs the chosen and the rejected sequence of each pair
    together (2 x batch); grpo: each sequence is a prompt of --seq-len tokens plus a completion of
    --max-completion-length, and only the completion gets logits (TRL logits_to_keep)."""
    if w.objective == "dpo":
        return 2 * w.batch_size, 0, 0
    if w.objective == "grpo":
        return w.batch_size, w.max_completion_length, w.max_completion_length
    return w.batch_size, 0, 0


def training_activations(spec: ModelSpec, w: Workload, c: int, vision: int,
                         loss_free_bytes: int | None = None) -> tuple[int, list[Term], int]:
    """(GPU bytes at the peak, terms, CPU bytes) of the saved activations and the loss."""
    assert spec.text is not None
    dropout = spec.text.attention_dropout
    hidden_dropout = spec.text.hidden_dropout
    b_, extra, logit_positions = training_shape(w)
    seq = w.seq_len + extra + visual_tokens(spec, w)
    tokens = b_ * seq
    h = spec.text.hidden_size
    vocab_shard = shard(spec.text.logits_width or spec.text.vocab_size, w.tensor_parallel)
    blocks = [blk for blk in spec.decoder_blocks() if blk.computes]  # layers and the parts inside them
    terms: list[Term] = []
    # Hidden dropout saves a one-byte mask after attention and after the MLP.
    adapter = {id(blk): _lora_activation_per_token(spec, w, blk, c) for blk in blocks}
    per_layer = {id(blk): _layer_saved(blk, tokens, b_, seq, c, w, h, dropout,
                                       adapter[id(blk)] + (2 * h if hidden_dropout else 0))
                 for blk in blocks}
    # An encoder-decoder's encoder layers save theirs over the encoder length (encoder output: its final norm).
    enc_len = encoder_length(spec, w)
    encoder = spec.encoder_blocks()
    enc_saved = {id(blk): _layer_saved(blk, b_ * enc_len, b_, enc_len, c, w, block_hidden(blk, h), dropout,
                                       2 * block_hidden(blk, h) if hidden_dropout else 0) for blk in encoder}
    enc_out = b_ * enc_len * _norm_saved(c, block_hidden(encoder[-1], h)) if encoder else 0
    layers_total = sum(blk.count * per_layer[id(blk)] for blk in blocks) + enc_out + sum(
        blk.count * enc_saved[id(blk)] for blk in encoder)
    n_decoder = sum(blk.count for blk in blocks if blk.is_layer)
    largest = max([spec.largest_layer(lambda blk: per_layer.get(id(blk), 0))] + list(enc_saved.values()))
    checkpoint = tokens * h * c
    # Checkpointed inputs in the order the layers run: the encoder's, then the decoder's.
    inputs = [b_ * enc_len * block_hidden(blk, h) * c for blk in encoder for _ in range(blk.count)] + [
        checkpoint] * n_decoder
    n_layers = len(inputs)  # both stacks: what checkpointing, offload and pipeline stages see
    if w.gradient_checkpointing:
        stored = sum(inputs) + enc_out + largest
        formula = "layers x b x s x h x bytes (checkpointed inputs) + one layer recomputed"
    else:
        stored = layers_total
        formula = ("per layer: b x s x [2 x norm (fp32 input + normed) + bytes x (q + k + v + out) "
                   "+ bytes x 4 x intermediate (gated MLP)] + 4 x b x heads x s (softmax statistics)")
    extras = []
    if any(adapter.values()):
        extras.append("b x s x adapter bytes per token (LoRA: input cast to the adapter dtype, lora_A output)")
    if hidden_dropout:
        extras.append("b x s x 2h (hidden dropout masks)")
    if extras:
        formula += " + " + " + ".join(extras) + " per layer"
    detail: dict[str, int | str] = {"per_layer_bytes": max(per_layer.values(), default=0)}
    if encoder:
        formula += "; the encoder's layers likewise over its own length, plus its output (final norm)"
        detail |= {"encoder_layers": n_layers - n_decoder, "encoder_seq_len": enc_len,
                   "encoder_bytes": sum(blk.count * enc_saved[id(blk)] for blk in encoder) + enc_out}
    if any(adapter.values()):
        detail |= {"adapter_bytes_per_token": max(adapter.values()), "lora_rank": w.lora_rank,
                   "adapter_dtype": (w.lora_format or w.compute_format).name}
    cpu = 0
    if w.activation_offload and n_layers:
        stored, cpu, offload_term = offload(w, inputs, largest, stored)
        terms.append(offload_term)
    head_trainable = w.mode == "training"
    logit_tokens = b_ * (logit_positions or seq)
    logits, loss_term = loss_bytes(w, logit_tokens, vocab_shard, h, c, head_trainable=head_trainable,
                                   free_bytes=loss_free_bytes)
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
        return max(first + vision, last), terms, cpu
    terms.append(Term(component="activations", name="decoder layers (saved for backward)", bytes=stored,
                      formula=formula, values={"layers": n_decoder, "batch": b_, "seq_len": seq, "hidden": h,
                                               "bytes": c, "checkpointing": str(w.gradient_checkpointing),
                                               "attention": w.attention, **detail},
                      source="Korthikanti et al. 2022 (arXiv:2205.05198), adapted to SwiGLU, RMSNorm and "
                             "fused attention (docs/math.md)",
                      approximate=True))
    terms.append(loss_term)
    if w.gradient_checkpointing:
        # Backward runs the loss first and frees the logits before it recomputes the last layer, so
        # the checkpointed inputs carry either the loss or one recomputed layer, not both.
        peak = stored - largest + max(logits, largest) + vision
    else:
        peak = stored + logits + vision
    if w.objective in ("dpo", "grpo"):
        peak = _with_reference(spec, w, blocks, tokens, b_, seq, c, h, vocab_shard, peak, terms)
    return peak, terms, cpu


def _with_reference(spec: ModelSpec, w: Workload, blocks: list[Block], tokens: int, batch: int, seq: int, c: int,
                    h: int, vocab: int, policy: int, terms: list[Term]) -> int:
    """The reference forward (no autograd): one layer's transient set or its logits with their fp32
    log-softmax. TRL's DPOTrainer runs it after the policy's forward (dpo_trainer.py _compute_loss),
    so it adds to the saved activations; GRPOTrainer scores completions before the training
    forward (_generate_and_score_completions), so the larger of the two counts. With --reference
    none and LoRA the same forward runs through the base with adapters disabled."""
    layer = max((layer_forward_peak(blk, tokens, batch, seq, c, w, h) for blk in blocks), default=0)
    positions = batch * (w.max_completion_length if w.objective == "grpo" else seq)
    ref = max(layer, positions * vocab * (c + 4))
    # dpo with LoRA and no reference model runs the base with adapters disabled; grpo without a
    # reference model (TRL beta = 0.0) computes no reference log-probabilities at all.
    needed = w.reference_model or (w.objective == "dpo" and w.mode in ("lora", "qlora"))
    if not needed:
        return policy
    terms.append(Term(component="activations", name="reference forward (no autograd)", bytes=ref,
                      formula="max(one layer's forward, logits x (bytes + 4 fp32 log-softmax))",
                      values={"objective": w.objective, "positions": positions}, approximate=True,
                      source="TRL dpo_trainer.py compute_ref_log_probs / grpo_trainer.py "
                             "_generate_and_score_completions"))
    return policy + ref if w.objective == "dpo" else max(policy, ref)


def _vision_peak(spec: ModelSpec, w: Workload, c: int) -> int:
    v = spec.vision
    if v is None or (w.images == 0 and w.frames == 0):
        return 0
    return vision_forward_peak(v, v.encoder_patches(w.images, w.frames, w.image_size), c)


def vision_forward_peak(v: VisionDims, patches: int, c: int) -> int:
    """One vision encoder layer's transient peak over ``patches`` patches (the inference vision term)."""
    h = v.hidden_size
    return patches * c * (2 * h + max(4 * h, 2 * v.intermediate_size)) + patches * h * c
