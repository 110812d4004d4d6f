"""llama.cpp's buffers: model, KV and compute buffers per device, and what stays on the host. Pure.

Follows llama.cpp at commit ec98e2002 (docs/engines.md "llama.cpp"):
  placement    src/llama-model.cpp load_tensors: the input layer (token embeddings) always on the CPU;
               with -ngl N the last N repeating layers on the GPUs, the output layer on the GPU only when
               N > n_layer; layers split between devices in proportion to their memory (tensor_split);
               a missing output.weight is the token embedding loaded a second time on the output device.
  model buffer each tensor's bytes, on CUDA padded to MATRIX_ROW_PADDING values per row for quantized
               types and aligned to 128 bytes (ggml-cuda.cu get_alloc_size / get_alignment).
  context      src/llama-context.cpp: n_ctx padded to 256; without a unified cache each of the n_seq_max
               streams gets n_ctx_seq = pad(n_ctx / n_seq_max, 256); n_batch = min(n_ctx, n_batch),
               n_ubatch = min(n_batch, n_ubatch).
  KV buffer    src/llama-kv-cache.cpp: per layer a K tensor [n_embd_k_gqa, kv_size, n_stream] of type_k and
               a V tensor of type_v on the layer's device; src/llama-kv-cache-iswa.cpp: sliding layers get
               pad(min(n_ctx_seq, n_swa x (n_seq if unified else 1) + n_ubatch), 256) cells unless --swa-full.
  compute      the worst-case graph reserved with n_ubatch tokens, all of them outputs, over the whole cache
               (graph_reserve in llama-context.cpp), allocated by ggml-alloc with in-place reuse: the peak
               is the largest set of live f32 tensors (see compute_stages).
  host         the output buffer n_vocab x n_seq_max floats and the graph inputs (token embeddings looked
               up on the CPU, the KQ mask) in the CUDA_Host compute buffer.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from vram.gguf import GGMLType
from vram.gguf_model import Hparams, SwaRule
from vram.gguf_state import RecurrentRule

F32 = 4


@dataclass(frozen=True, eq=False)
class OllamaDefaults:
    num_ctx_tiers: tuple[tuple[int, int], ...]
    """(total VRAM at least, num_ctx), largest first."""
    num_parallel: int
    num_batch_by_ctx: tuple[tuple[int, int], ...]
    """(context above, num_batch), largest first."""
    num_batch_without_flash_attention: int
    source: str


@dataclass(frozen=True, eq=False)
class LlamaCppData:
    """presets/llamacpp.json: llama.cpp's defaults, its sliding-window rules and Ollama's defaults."""

    schema_version: Literal[1]
    version: str
    n_batch: int
    n_ubatch: int
    n_parallel: int
    cache_type: str
    ctx_pad: int
    swa_pad: int
    defaults_source: str
    swa: tuple[SwaRule, ...]
    swa_source: str
    ollama: OllamaDefaults
    recurrent: tuple[RecurrentRule, ...]
    recurrent_source: str
    unconverted_model_types: dict[str, str]
    """transformers model types that convert_hf_to_gguf.py has no converter for, with the reason: refused
    (exit 3)."""
    unconverted_source: str
    fit_target_mib: int
    fit_ctx: int
    fit_source: str


def pad(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


@dataclass(frozen=True)
class Piece:
    """Weight bytes that live together: ``layer`` -1 is the input layer, n_layer the output layer."""

    layer: int
    cpu_bytes: int
    gpu_bytes: int
    name: str = ""


@dataclass(frozen=True)
class LlamaModel:
    hp: Hparams
    pieces: tuple[Piece, ...]
    projector_bytes: int = 0
    """A multimodal projector (mmproj file): loaded on the first GPU by default (libmtmd)."""
    source: str = "GGUF tensors"


@dataclass(frozen=True)
class LlamaSettings:
    n_ctx: int
    """0: the model's training context."""
    n_batch: int
    n_ubatch: int
    n_seq: int
    n_gpu_layers: int
    flash_attn: bool
    type_k: GGMLType
    type_v: GGMLType
    swa_full: bool = False
    kv_unified: bool = False
    devices: int = 1
    split: tuple[float, ...] = ()
    """Relative share of layers per device (--tensor-split); empty: equal devices, equal shares."""
    offload_kqv: bool = True
    split_mode: Literal["layer", "none"] = "layer"
    main_gpu: int = 0
    """-sm none: the one device that holds every offloaded layer."""


@dataclass
class DeviceBuffers:
    device: str
    model_buffer_bytes: int = 0
    kv_buffer_bytes: int = 0
    compute_buffer_bytes: int = 0
    rs_buffer_bytes: int = 0
    """Recurrent state (llama_memory_recurrent's "RS buffer") of the device's recurrent layers."""


@dataclass
class LlamaBuffers:
    n_ctx: int
    n_ctx_seq: int
    n_ubatch: int
    n_swa_cells: int
    gpu_layers: int
    devices: list[DeviceBuffers]
    cpu_model_bytes: int = 0
    cpu_kv_bytes: int = 0
    cpu_rs_bytes: int = 0
    host_compute_bytes: int = 0
    output_buffer_bytes: int = 0
    kv_bytes_per_cell: int = 0
    """One cell (token) of the KV cache over every layer that has one, on every device (K and V rows)."""
    stages: dict[str, int] = field(default_factory=dict)

    @property
    def cpu_bytes(self) -> int:
        return (self.cpu_model_bytes + self.cpu_kv_bytes + self.cpu_rs_bytes + self.host_compute_bytes
                + self.output_buffer_bytes)


def cuda_tensor_bytes(gtype: GGMLType, shape: Sequence[int], *, alignment: int, row_padding: int) -> int:
    """Bytes a tensor takes in a CUDA buffer (ggml_backend_cuda_buffer_type_get_alloc_size, aligned)."""
    rows = 1
    for d in shape[1:]:
        rows *= d
    size = gtype.row_bytes(shape[0]) * rows
    if gtype.quantized and shape[0] % row_padding:
        size += gtype.row_bytes(row_padding - shape[0] % row_padding)
    return pad(size, alignment)


def _f32(x: float) -> float:
    """x rounded to a C float, as llama.cpp computes the split points."""
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def layer_devices(n_layer: int, n_gpu_layers: int, devices: int, split: Sequence[float]) -> list[int]:
    """Device of each layer 0..n_layer (n_layer: the output layer); -1 is the CPU (load_tensors).

    llama-model.cpp load_tensors: the split points are the cumulative shares (--tensor-split, or each
    device's free memory when none is given: equal for equal GPUs) over their sum, in float; layer il
    of the offloaded range goes to the first device whose split point is above
    (il - i_gpu_start) / act_gpu_layers (std::upper_bound), so the output layer lands on the last device
    with a share.
    """
    shares = [*split[:devices]] + [0.0] * max(0, devices - len(split))
    if not any(shares):
        shares = [1.0] * devices
    bounds, acc = [], 0.0
    for s in shares:
        acc = _f32(acc + s)
        bounds.append(acc)
    bounds = [_f32(b / acc) for b in bounds]
    start = max(n_layer - n_gpu_layers, 0)
    active = min(n_gpu_layers, n_layer + 1) if devices else 0
    out = []
    for il in range(n_layer + 1):
        if il < start or il - start >= active:
            out.append(-1)
            continue
        x = _f32((il - start) / active)
        out.append(min(devices - 1, next((i for i, b in enumerate(bounds) if b > x), devices)))
    return out


def context_sizes(hp: Hparams, s: LlamaSettings) -> tuple[int, int, int, int]:
    """(n_ctx, n_ctx_seq, n_ubatch, SWA cells per stream) as llama_context and llama_kv_cache_iswa set them."""
    n_ctx = s.n_ctx or hp.n_ctx_train or 4096
    n_batch = min(n_ctx, s.n_batch)
    n_ubatch = min(n_batch, s.n_ubatch)
    n_ctx = pad(n_ctx, 256)
    if s.kv_unified:
        n_ctx_seq = n_ctx
    else:
        n_ctx_seq = pad(n_ctx // s.n_seq, 256)
        n_ctx = n_ctx_seq * s.n_seq
    swa = 0
    if hp.swa_layers:
        swa = n_ctx_seq if s.swa_full else pad(min(n_ctx_seq, hp.n_swa * (s.n_seq if s.kv_unified else 1)
                                                   + n_ubatch), 256)
    return n_ctx, n_ctx_seq, min(n_ctx, n_ubatch), swa


def compute_stages(hp: Hparams, layers: Sequence[int], n_kv: dict[int, int], n_tokens: int, flash_attn: bool,
                   output: bool, n_seq: int = 1) -> dict[str, int]:
    """Peak live f32 bytes of each stage of the graph for the given layers (and the output layer).

    ggml-alloc frees a tensor after its last use and lets soft_max, norms, rope, add and mul work in
    place (ggml-alloc.c ggml_op_can_inplace), so at each point of a layer only a few tensors are live:
      attention   the residual stream [n_embd], Q [head_k x n_head] and the scores [n_kv x n_head]
                  (soft_max in place) - or with flash attention Q and its output [head_v x n_head] -
                  beside the KQ mask copied from the host (f32, cast to f16 for flash attention)
      FFN         the residual, the normed input, up and gate [n_ff] and the GLU's output (not in place):
                  max(2 n_embd + 2 n_ff, n_embd + 3 n_ff); MoE: the routed experts' up, gate and GLU
                  [n_ff_exp x n_expert_used] and their outputs [n_embd x n_expert_used]
      output      the final norm [n_embd] and the logits [n_vocab] of every token (all are outputs in
                  the reserved graph)
      ssm         Mamba-style layers (models/graph-context-mamba.cpp): the residual, the input projection
                  zxBCdt [2 d_inner + 2 n_group d_state + heads] that stays live until the gate, and either
                  the convolution's input [d_conv - 1 + n_tokens rows of d_inner + 2 n_group d_state] or
                  the convolved xBC beside the scan's output [d_inner] and final states (n_embd_s per sequence)
    all times n_tokens (n_ubatch) x 4 bytes.
    """
    out: dict[str, int] = {}
    t = n_tokens
    e = hp.n_embd
    for il in layers:
        kv = n_kv.get(il, 0)
        h = hp.n_head[il]
        mask = kv * t * F32 + (kv * t * 2 if flash_attn else 0)
        if hp.n_head_kv[il] and h:
            if flash_attn:
                attn = (e + hp.n_embd_head_k * h + hp.n_embd_head_v * h) * t * F32 + mask
            else:
                attn = (e + hp.n_embd_head_k * h + kv * h) * t * F32 + mask
            out["attention"] = max(out.get("attention", 0), attn)
        st = hp.state
        if st is not None and st.recurrent[il] and st.d_state:
            conv = st.d_inner + 2 * st.n_group * st.d_state
            proj = 2 * st.d_inner + 2 * st.n_group * st.d_state + (st.dt_rank if st.n_group else 0)
            ssm = max((e + proj) * t + (st.d_conv - 1 + t) * conv,
                      (e + proj + conv + st.d_inner) * t + st.n_embd_s * n_seq) * F32
            out["ssm"] = max(out.get("ssm", 0), ssm)
        f = hp.n_ff[il]
        if hp.n_expert and hp.n_ff_exp and il not in hp.dense_layers:
            used = hp.n_expert_used or 1
            ffn = (2 * e + hp.n_expert + used * (3 * hp.n_ff_exp + e) + 3 * hp.n_ff_shexp) * t * F32
        else:
            ffn = max(2 * e + 2 * f, e + 3 * f) * t * F32
        out["ffn"] = max(out.get("ffn", 0), ffn)
    if output:
        out["output"] = (hp.n_vocab + e) * t * F32
    return out


def allocate(model: LlamaModel, s: LlamaSettings, *, alignment: int) -> LlamaBuffers:
    hp = model.hp
    n_ctx, n_ctx_seq, n_tokens, swa_cells = context_sizes(hp, s)
    streams = 1 if s.kv_unified else s.n_seq
    if s.split_mode == "none":  # llama.cpp keeps only the main GPU (llama_model_load_from_splits)
        where = [s.main_gpu if d >= 0 else -1 for d in layer_devices(hp.n_layer, s.n_gpu_layers, 1, ())]
    else:
        where = layer_devices(hp.n_layer, s.n_gpu_layers, s.devices, s.split)
    devs = [DeviceBuffers(device=f"CUDA{i}") for i in range(s.devices)]
    buf = LlamaBuffers(n_ctx=n_ctx, n_ctx_seq=n_ctx_seq, n_ubatch=n_tokens, n_swa_cells=swa_cells,
                       gpu_layers=sum(1 for d in where if d >= 0), devices=devs)
    for p in model.pieces:
        d = -1 if p.layer < 0 else where[min(p.layer, hp.n_layer)]
        if d < 0:
            buf.cpu_model_bytes += p.cpu_bytes
        else:
            devs[d].model_buffer_bytes += p.gpu_bytes
    if model.projector_bytes and devs:
        devs[0].model_buffer_bytes += model.projector_bytes
    elif model.projector_bytes:
        buf.cpu_model_bytes += model.projector_bytes
    n_kv: dict[int, int] = {}
    hybrid = hp.state is not None and hp.state.hybrid
    # Without flash attention V is stored transposed and every layer's V row is padded to the widest
    # (llama-kv-cache.cpp [TAG_V_CACHE_VARIABLE]); MLA's absorbed layout has no V cache at all.
    v_widest = max((hp.n_embd_v_gqa(il) for il in range(hp.n_layer)), default=0)
    for il in range(hp.n_layer):
        if not hp.has_kv(il):
            continue
        # a hybrid's attention cache (llama-memory-hybrid.cpp) has n_ctx cells, sliding layers included
        cells = n_ctx if hybrid else swa_cells if hp.is_swa(il) else n_ctx_seq
        n_kv[il] = cells
        k_row = s.type_k.row_bytes(hp.n_embd_k_gqa(il))
        v_row = 0 if hp.v_less else s.type_v.row_bytes(hp.n_embd_v_gqa(il) if s.flash_attn else v_widest)
        buf.kv_bytes_per_cell += k_row + v_row
        size = pad(k_row * cells * streams, alignment) + (pad(v_row * cells * streams, alignment) if v_row else 0)
        d = where[il] if s.offload_kqv else -1
        if d < 0:
            buf.cpu_kv_bytes += size
        else:
            devs[d].kv_buffer_bytes += size
    if hp.state is not None:
        # llama-memory-recurrent.cpp: per recurrent layer r [n_embd_r x mem] and s [n_embd_s x mem], f32
        mem = max(1, s.n_seq)
        for il in range(hp.n_layer):
            if not hp.state.recurrent[il]:
                continue
            size = (pad(F32 * hp.state.n_embd_r * mem, alignment) if hp.state.n_embd_r else 0) + \
                (pad(F32 * hp.state.n_embd_s * mem, alignment) if hp.state.n_embd_s else 0)
            d = where[il] if s.offload_kqv else -1
            if d < 0:
                buf.cpu_rs_bytes += size
            else:
                devs[d].rs_buffer_bytes += size
    # The host's inputs: token embeddings looked up on the CPU, positions, output ids, the KQ masks.
    masks = sum(cells * n_tokens * F32 for cells in sorted({n_kv[i] for i in n_kv}))
    host_inputs = hp.n_embd * n_tokens * F32 + masks + 2 * n_tokens * F32
    cpu_layers = [il for il in range(hp.n_layer) if where[il] < 0]
    cpu_stages = compute_stages(hp, cpu_layers, n_kv, n_tokens, s.flash_attn, output=where[hp.n_layer] < 0,
                                n_seq=s.n_seq)
    buf.host_compute_bytes = host_inputs + max(cpu_stages.values(), default=0)
    for d, dev in enumerate(devs):
        mine = [il for il in range(hp.n_layer) if where[il] == d]
        stages = compute_stages(hp, mine, n_kv, n_tokens, s.flash_attn, output=where[hp.n_layer] == d,
                                n_seq=s.n_seq)
        dev.compute_buffer_bytes = max(stages.values(), default=0)
        for k, v in stages.items():
            buf.stages[f"{dev.device} {k}"] = v
    for k, v in cpu_stages.items():
        buf.stages[f"CPU {k}"] = v
    buf.output_buffer_bytes = hp.n_vocab * s.n_seq * F32
    return buf
