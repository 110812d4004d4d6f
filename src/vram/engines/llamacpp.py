"""llama.cpp (llama-server / llama-cli): model, KV and compute buffers per device from a GGUF header,
or, without a GGUF file, from the model's config in a llama.cpp quantization mix (--dtype q4_k_m).

The buffer arithmetic is in :mod:`vram.engines.llamacpp_alloc`; this module turns the engine's flags
(llama.cpp's own names) into settings, the model into weight pieces per layer, and the buffers into
an Estimate. Pure: the GGUF header arrives already parsed in ``EngineInput.gguf``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any, Literal

from vram.breakdown import Breakdown, Estimate, Term
from vram.engines import EngineAllocation, EngineInput, Solved
from vram.engines.llamacpp_alloc import LlamaBuffers, LlamaModel, LlamaSettings, Piece, allocate, cuda_tensor_bytes
from vram.engines.llamacpp_fit import fit
from vram.errors import UnsupportedModelError, UsageError
from vram.gguf import GGMLType
from vram.gguf_model import Hparams
from vram.gguf_state import RecurrentState
from vram.model import ModelSpec
from vram.terms.weights import module_bytes, stored_format_label

SOURCE = "llama.cpp ec98e2002: src/llama-model.cpp, src/llama-context.cpp, src/llama-kv-cache*.cpp (docs/engines.md)"
OPTIONS = frozenset({"ctx_size", "n_gpu_layers", "flash_attn", "cache_type_k", "cache_type_v", "ubatch_size",
                     "parallel", "swa_full", "n_batch", "gguf_file", "gpus", "seq_len", "batch_size", "tensor_split",
                     "main_gpu", "split_mode", "fit", "fit_target", "fit_ctx"})


@dataclass(frozen=True)
class GgufDevice:
    device: str
    model_buffer_bytes: int
    kv_buffer_bytes: int
    compute_buffer_bytes: int
    rs_buffer_bytes: int = 0


@dataclass(frozen=True)
class GgufDetails:
    """The JSON ``engine`` object of llama.cpp and Ollama (schema.GgufEngine)."""

    name: str
    model_buffer_bytes: int
    kv_buffer_bytes: int
    compute_buffer_bytes: int
    cpu_buffer_bytes: int
    gpu_layers: int
    devices: list[GgufDevice]
    settings: dict[str, int | float | str | bool]
    rs_buffer_bytes: int = 0
    """Recurrent state of Mamba/RWKV/hybrid layers on the GPUs (llama.cpp's "RS buffer"), summed."""
    kv_bytes_per_cell: int = 0


@dataclass(frozen=True)
class Plan:
    """Settings resolved from the flags, with the notes that say where each default came from."""

    settings: LlamaSettings
    notes: tuple[str, ...] = ()


def ggml_type(inp: EngineInput, name: str, flag: str) -> GGMLType:
    types = inp.ggml_types or {}
    key = name.strip().lower()
    for t in types.values():
        if isinstance(t, GGMLType) and t.name.lower() == key:
            return t
    kv_ok = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")
    raise UsageError(f"unknown {flag} {name!r}; choose one of: {', '.join(kv_ok)}")


def _flash(value: Any) -> tuple[bool, str | None]:
    v = str(value or "auto").strip().lower()
    if v in ("on", "1", "true", "enabled"):
        return True, None
    if v in ("off", "0", "false", "disabled"):
        return False, None
    if v == "auto":
        return True, ("--flash-attn auto: enabled, as llama.cpp's auto mode enables it when the device holding each "
                      "layer's KV cache supports flash attention (CUDA and CPU do)")
    raise UsageError(f"unknown --flash-attn {value!r}; choose on, off or auto")


def _given(inp: EngineInput, name: str, default: Any) -> Any:
    """The flag's value, or llama.cpp's default where it was not given (0 is a value, not "not given")."""
    value = inp.setting(name)
    return default if value is None else value


def _positive(value: Any, flag: str) -> int:
    if not isinstance(value, int) or value <= 0:
        raise UsageError(f"{flag} must be a positive integer, got {value}")
    return value


def _split(inp: EngineInput, devices: int) -> tuple[tuple[float, ...], Literal["layer", "none"], int]:
    """-ts, -sm and -mg as llama.cpp's common/arg.cpp reads them (-ts: proportions split on , or /)."""
    raw_mode = str(inp.setting("split_mode") or "layer").strip().lower()
    if raw_mode == "row":
        raise UsageError("--split-mode row is not modelled (each matrix split by rows over the GPUs); "
                         "use layer or none")
    if raw_mode not in ("layer", "none"):
        raise UsageError(f"unknown --split-mode {raw_mode!r}; choose layer, row or none")
    mode: Literal["layer", "none"] = "none" if raw_mode == "none" else "layer"
    main = inp.setting("main_gpu")
    main = 0 if main is None else main
    if not 0 <= main < max(1, devices):
        raise UsageError(f"--main-gpu {main} is not one of the {devices} GPU(s) (--gpus)")
    raw = inp.setting("tensor_split")
    if raw is None:
        return (), mode, main
    parts = [p for p in re.split(r"[,/]", str(raw).strip())]
    try:
        shares = tuple(float(p) for p in parts)
    except ValueError as exc:
        raise UsageError(f"--tensor-split must be numbers separated by commas, got {raw!r}") from exc
    if len(shares) > devices:
        raise UsageError(f"--tensor-split gives {len(shares)} shares for {devices} GPU(s); set --gpus")
    if any(not math.isfinite(x) or x < 0 for x in shares) or not any(shares):
        raise UsageError(f"--tensor-split shares must be non-negative and not all 0, got {raw!r}")
    return shares, mode, main


def plan(inp: EngineInput, hp: Hparams, defaults: Any, *, n_ctx: int | None = None) -> Plan:
    """llama.cpp's settings from its flags (common/common.h defaults where a flag is not given)."""
    notes: list[str] = []
    ctx = inp.setting("ctx_size")
    if n_ctx is not None:
        ctx = n_ctx
    if ctx is None:
        ctx = 0
        notes.append(f"--ctx-size 0 (llama.cpp's default): the model's training context, {hp.n_ctx_train:,} tokens")
    elif ctx < 0:
        raise UsageError(f"--ctx-size must be 0 or more, got {ctx}")
    n_seq = _positive(_given(inp, "parallel", defaults.n_parallel), "--parallel")
    ub = _positive(_given(inp, "ubatch_size", defaults.n_ubatch), "--ubatch-size")
    nb = _positive(_given(inp, "n_batch", defaults.n_batch), "--n-batch")
    fa, fa_note = _flash(inp.setting("flash_attn"))
    if fa_note:
        notes.append(fa_note)
    tk = ggml_type(inp, inp.setting("cache_type_k") or defaults.cache_type, "--cache-type-k")
    tv = ggml_type(inp, inp.setting("cache_type_v") or defaults.cache_type, "--cache-type-v")
    for t, flag in ((tk, "--cache-type-k"), (tv, "--cache-type-v")):
        if hp.n_embd_head_k % t.block_size or hp.n_embd_head_v % t.block_size:
            raise UsageError(f"{flag} {t.name}: the head size is not a multiple of its block of {t.block_size}")
    if tv.quantized and not fa:
        raise UsageError("a quantized V cache (--cache-type-v) needs flash attention (-fa on), as in llama.cpp")
    ngl = inp.setting("n_gpu_layers")
    devices = inp.workload.gpus
    if ngl is None or str(ngl).strip().lower() in ("-1", "all", "auto", "999"):
        n_gpu = hp.n_layer + 1
        if ngl is None:
            notes.append(f"-ngl not given: all {hp.n_layer} layers and the output layer on the GPU")
    else:
        try:
            n_gpu = int(str(ngl))
        except ValueError as exc:
            raise UsageError(f"--n-gpu-layers must be a number, all or auto, got {ngl!r}") from exc
        if n_gpu < 0:
            raise UsageError(f"--n-gpu-layers must be 0 or more, got {n_gpu}")
    split, mode, main = _split(inp, devices)
    s = LlamaSettings(n_ctx=ctx, n_batch=nb, n_ubatch=ub, n_seq=n_seq, n_gpu_layers=n_gpu, flash_attn=fa,
                      type_k=tk, type_v=tv, swa_full=bool(inp.setting("swa_full")), devices=devices, split=split,
                      split_mode=mode, main_gpu=main)
    return Plan(settings=s, notes=tuple(notes))


def model_from_gguf(inp: EngineInput) -> LlamaModel:
    g = inp.gguf
    cuda = g.cuda
    pieces = []
    hp = g.hparams
    names = {t.name for h in g.headers for t in h.tensors}
    for h in g.headers:
        for t in h.tensors:
            gpu = cuda_tensor_bytes(t.type, t.shape, alignment=cuda.buffer_alignment,
                                    row_padding=cuda.matrix_row_padding)
            if t.name.startswith("blk."):
                layer = int(t.name.split(".")[1])
            elif t.name.startswith(("token_embd", "position_embd", "token_types")):
                layer = -1
            else:
                layer = hp.n_layer
            pieces.append(Piece(layer=layer, cpu_bytes=t.nbytes, gpu_bytes=gpu, name=t.name))
            if t.name == "token_embd.weight" and "output.weight" not in names:
                # llama.cpp loads the tied embedding a second time as the output layer (TENSOR_DUPLICATED)
                pieces.append(Piece(layer=hp.n_layer, cpu_bytes=0, gpu_bytes=gpu, name="output (token_embd)"))
    proj = sum(cuda_tensor_bytes(t.type, t.shape, alignment=cuda.buffer_alignment,
                                 row_padding=cuda.matrix_row_padding) for h in g.projectors for t in h.tensors)
    return LlamaModel(hp=hp, pieces=tuple(pieces), projector_bytes=proj, source=g.location)


def hparams_from_spec(spec: ModelSpec) -> Hparams:
    """llama.cpp's hyperparameters from a ModelSpec (a config.json), for --engine llama.cpp without a GGUF."""
    if spec.text is None:
        raise UsageError(f"--engine llama.cpp needs a model architecture; {spec.id} is a bare size")
    if any(b.attention is not None and b.attention.compress_rate for b in spec.decoder_blocks()):
        raise UsageError("compressed attention (DeepSeek-V4's CSA / HCA layers) has no llama.cpp cache model here "
                         "yet: use --engine transformers")
    heads: list[int] = []
    kv: list[int] = []
    ff: list[int] = []
    swa: list[bool] = []
    window = 0
    hk = hv = spec.text.hidden_size // spec.text.num_heads
    n_expert = used = f_exp = 0
    mla = False
    rec: list[bool] = []
    n_embd_r = n_embd_s = 0
    for b in spec.decoder_blocks():
        a = b.attention
        if not b.is_layer:
            continue  # a final norm kept with the decoder, or a part inside the layers: not a layer
        if b.state is not None:
            # llama.cpp keeps kernel - 1 convolution inputs per channel (n_embd_r), the state as is (n_embd_s)
            n_embd_r = max(n_embd_r, b.state.conv_elements - b.state.channels)
            n_embd_s = max(n_embd_s, b.state.recurrent_elements)
        for _ in range(b.count):
            rec.append(b.state is not None)
            heads.append(a.num_heads if a else 0)
            kv.append((a.latent_dim and 1 or a.num_kv_heads) if a else 0)
            ff.append(b.mlp_width)
            swa.append(bool(a and a.window))
        if a:
            # MLA: convert_hf_to_gguf.py writes the latent as one KV head of key_length kv_lora_rank +
            # rope dims (and the _mla keys), which llama.cpp caches as K only (V-less, PR #19067)
            hk, hv = (a.latent_dim, a.latent_dim) if a.latent_dim else (a.head_dim, a.v_head_dim)
            mla = mla or bool(a.latent_dim)
            window = max(window, a.window or 0)
        if b.experts_per_token:
            used, f_exp = b.experts_per_token, b.expert_width
            n_expert = max((lin.copies for lin in b.linears), default=0)
    n = len(heads)
    return Hparams(arch=spec.model_type, n_layer=n, n_embd=spec.text.hidden_size, n_vocab=spec.text.vocab_size,
                   n_ctx_train=spec.text.max_position_embeddings or 0, n_head=tuple(heads), n_head_kv=tuple(kv),
                   n_embd_head_k=hk, n_embd_head_v=hv, n_ff=tuple(ff), n_expert=n_expert, n_expert_used=used,
                   n_ff_exp=f_exp, n_swa=window, swa_layers=tuple(swa) if any(swa) else (), v_less=mla,
                   state=RecurrentState(n_embd_r=n_embd_r, n_embd_s=n_embd_s, recurrent=tuple(rec),
                                        kv_layers=tuple(k > 0 for k in kv), hybrid=any(kv)) if any(rec) else None)


def model_from_spec(inp: EngineInput, hp: Hparams) -> LlamaModel:
    """Weight pieces per layer from the config in --dtype's llama.cpp mix (terms.weights, tp = 1)."""
    w = replace(inp.workload, tensor_parallel=1, pipeline_parallel=1, data_parallel=1)
    pieces: list[Piece] = []
    layer = 0
    for m in module_bytes(inp.spec, w, inp.gguf_types):
        kind = m.component.kind
        if kind == "decoder" and m.block.attention is None and not m.block.linears:
            pieces.append(Piece(layer=hp.n_layer, cpu_bytes=m.total_bytes, gpu_bytes=m.total_bytes, name="norm"))
        elif kind == "decoder":
            # A part inside every layer (cross-attention) goes with layers 0.. count-1, not after them.
            first = 0 if m.block.within_layers else layer
            for i in range(m.block.count):
                share = m.total_bytes // m.block.count + (1 if i < m.total_bytes % m.block.count else 0)
                pieces.append(Piece(layer=first + i, cpu_bytes=share, gpu_bytes=share, name=m.block.name))
            layer += 0 if m.block.within_layers else m.block.count
        elif kind == "embedding":
            pieces.append(Piece(layer=-1, cpu_bytes=m.total_bytes, gpu_bytes=m.total_bytes, name="token_embd"))
            if inp.spec.tied_embeddings:
                pieces.append(Piece(layer=hp.n_layer, cpu_bytes=0, gpu_bytes=m.total_bytes, name="output (tied)"))
        elif kind in ("vision", "projector"):
            pieces.append(Piece(layer=hp.n_layer, cpu_bytes=0, gpu_bytes=m.total_bytes, name=m.component.name))
        else:
            pieces.append(Piece(layer=hp.n_layer, cpu_bytes=m.total_bytes, gpu_bytes=m.total_bytes,
                                name=m.component.name))
    return LlamaModel(hp=hp, pieces=tuple(pieces), source=f"{inp.spec.id} in {inp.workload.weight_format.name}")


def model_of(inp: EngineInput) -> LlamaModel:
    return model_from_gguf(inp) if inp.gguf is not None else model_from_spec(inp, hparams_from_spec(inp.spec))


def buffers(inp: EngineInput, settings: LlamaSettings) -> tuple[LlamaModel, LlamaBuffers]:
    model = model_of(inp)
    align = inp.gguf.cuda.buffer_alignment if inp.gguf is not None else 128
    return model, allocate(model, settings, alignment=align)


def assemble(name: str, inp: EngineInput, model: LlamaModel, buf: LlamaBuffers, p: Plan) -> EngineAllocation:
    """The buffers as an Estimate per GPU (the most loaded device) and the engine's JSON object."""
    s = p.settings
    devs = buf.devices
    context = inp.workload.runtime.cuda_context_bytes if devs else 0
    top = max(devs, key=lambda d: d.model_buffer_bytes + d.kv_buffer_bytes + d.rs_buffer_bytes
              + d.compute_buffer_bytes, default=None)
    weights = top.model_buffer_bytes if top else 0
    kv = (top.kv_buffer_bytes + top.rs_buffer_bytes) if top else 0
    compute = top.compute_buffer_bytes if top else 0
    values: dict[str, int | float | str] = {"n_ctx": buf.n_ctx, "n_ctx_seq": buf.n_ctx_seq, "n_ubatch": buf.n_ubatch,
                                             "n_seq_max": s.n_seq, "type_k": s.type_k.name, "type_v": s.type_v.name,
                                             "flash_attn": int(s.flash_attn), "gpu_layers": buf.gpu_layers}
    terms = [
        Term("weights", "model buffers (GPU)", weights, "sum over the device's tensors of their CUDA buffer bytes",
             {"cpu_model_bytes": buf.cpu_model_bytes, "source": model.source}, SOURCE),
        Term("kv_cache", "KV and recurrent-state buffers (GPU)" if top and top.rs_buffer_bytes else "KV buffers (GPU)",
             kv, "per layer with attention: row_bytes(type_k, n_embd_k_gqa) + row_bytes(type_v, n_embd_v_gqa) (no V "
             "for MLA's latent), x cells x streams; per recurrent layer: 4 x (n_embd_r + n_embd_s) x max(1, n_seq)",
             {**values, "swa_cells": buf.n_swa_cells, "kv_bytes_per_cell": buf.kv_bytes_per_cell,
              "rs_bytes": top.rs_buffer_bytes if top else 0}, SOURCE),
        Term("activations", "compute buffer (GPU)", compute, "largest stage of the reserved graph: "
             + ", ".join(f"{k} {v:,}" for k, v in buf.stages.items()), dict(values), SOURCE, approximate=True),
        Term("overhead", "CUDA context", context, "the process's CUDA context and library handles",
             {"context_bytes": context}, inp.workload.runtime.source, approximate=True),
    ]
    stored = None
    if inp.gguf is not None:
        by_type: dict[str, int] = {}
        for h in inp.gguf.headers:
            for t in h.tensors:
                by_type[t.type.name] = by_type.get(t.type.name, 0) + t.nbytes
        stored = "GGUF " + ", ".join(sorted(by_type, key=lambda k: -by_type[k]))
    else:  # a config's pre-quantized weights, counted as stored (--dtype auto)
        stored = stored_format_label(inp.spec, inp.workload)
    est = Estimate(model_id=inp.spec.id, model_type=inp.spec.model_type, parameters=inp.spec.parameters,
                   active_parameters=inp.spec.active_parameters, trainable_parameters=0,
                   parameters_by_component=inp.spec.params_by_component(),
                   weights_by_component={"gpu": sum(d.model_buffer_bytes for d in devs),
                                         "cpu": buf.cpu_model_bytes},
                   bits_per_parameter=round(sum(pc.cpu_bytes for pc in model.pieces) * 8
                                            / max(1, inp.spec.parameters), 4),
                   kv_cache_bytes_per_token=buf.kv_bytes_per_cell, tokens_per_sequence=buf.n_ctx_seq,
                   breakdown=Breakdown(weights_bytes=weights, kv_cache_bytes=kv, activations_bytes=compute,
                                       overhead_bytes=context),
                   cpu_bytes=buf.cpu_bytes, terms=tuple(terms),
                   notes=tuple(dict.fromkeys(inp.spec.notes + p.notes + (
                       f"host memory: CPU model buffer {buf.cpu_model_bytes:,}, CPU KV {buf.cpu_kv_bytes:,}, "
                       + (f"CPU RS {buf.cpu_rs_bytes:,}, " if buf.cpu_rs_bytes else "") +
                       f"CUDA_Host compute {buf.host_compute_bytes:,}, output buffer {buf.output_buffer_bytes:,} "
                       "bytes",))), stored_format=stored)
    details = GgufDetails(
        name=name, model_buffer_bytes=sum(d.model_buffer_bytes for d in devs),
        kv_buffer_bytes=sum(d.kv_buffer_bytes for d in devs),
        compute_buffer_bytes=sum(d.compute_buffer_bytes for d in devs), cpu_buffer_bytes=buf.cpu_bytes,
        gpu_layers=buf.gpu_layers,
        devices=[GgufDevice(d.device, d.model_buffer_bytes, d.kv_buffer_bytes, d.compute_buffer_bytes,
                            d.rs_buffer_bytes) for d in devs],
        rs_buffer_bytes=sum(d.rs_buffer_bytes for d in devs), kv_bytes_per_cell=buf.kv_bytes_per_cell,
        settings={"ctx_size": buf.n_ctx, "ubatch_size": buf.n_ubatch, "parallel": s.n_seq,
                  "n_gpu_layers": s.n_gpu_layers, "flash_attn": "on" if s.flash_attn else "off",
                  "cache_type_k": s.type_k.name, "cache_type_v": s.type_v.name, "swa_full": s.swa_full,
                  "split_mode": s.split_mode,
                  **({"tensor_split": ",".join(f"{x:g}" for x in s.split)} if s.split else {}),
                  **({"main_gpu": s.main_gpu} if s.split_mode == "none" else {})})
    kv_types = s.type_k.name if s.type_k.name == s.type_v.name else f"{s.type_k.name}/{s.type_v.name}"
    label = (f"num_parallel {s.n_seq}, num_ctx {buf.n_ctx // s.n_seq:,}" if name == "ollama"
             else f"--parallel {s.n_seq}, --ctx-size {buf.n_ctx:,}")
    return EngineAllocation(name=name, estimate=est, needed_bytes=est.total_bytes, details=details,
                            workload=replace(inp.workload, seq_len=buf.n_ctx_seq, batch_size=s.n_seq,
                                             attention="flash" if s.flash_attn else "eager"),
                            workload_label=label, kv_label=kv_types)


def solve_for(engine: Any, inp: EngineInput, target: str) -> Solved:
    """The largest --ctx-size, or the most layers on the GPU, that fits the usable memory."""
    if target not in engine.solve_targets:
        raise UsageError(f"unknown --solve {target!r}; choose {' or '.join(engine.solve_targets)}")
    if inp.usable_bytes is None:
        raise UsageError("vram max needs --gpu NAME or --memory AMOUNT")
    budget = inp.usable_bytes

    def trial(name: str, value: int) -> EngineAllocation:
        # the solver answers for the value it sets, without llama.cpp's own fitting on top
        alloc: EngineAllocation = engine.allocate(replace(inp, settings={**inp.settings, name: value, "fit": "off"}))
        return alloc

    if target == "n-gpu-layers":
        hp_layers = engine.n_layers(inp)
        best, alloc = 0, None
        for n in range(hp_layers + 1, -1, -1):
            a = trial("n_gpu_layers", n)
            if a.needed_bytes <= budget:
                best, alloc = n, a
                break
        return Solved(target=target, value=best, cap=hp_layers + 1, allocation=alloc, unit="layers")
    cap = engine.context_cap(inp)
    lo, hi, alloc = 0, cap // 256, None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if trial("ctx_size", mid * 256).needed_bytes <= budget:
            lo = mid
        else:
            hi = mid - 1
    if lo:
        alloc = trial("ctx_size", lo * 256)
    return Solved(target=target, value=lo * 256, cap=cap, allocation=alloc, unit="tokens of context")


@dataclass(frozen=True)
class _LlamaCpp:
    name: str = "llama.cpp"
    options: frozenset[str] = OPTIONS
    solve_targets: tuple[str, ...] = ("ctx-size", "n-gpu-layers")

    def hparams(self, inp: EngineInput) -> Hparams:
        if inp.gguf is not None:
            hp: Hparams = inp.gguf.hparams
            return hp
        why = inp.llamacpp.unconverted_model_types.get(inp.spec.model_type) if inp.llamacpp is not None else None
        if why is not None:
            raise UnsupportedModelError(
                f"llama.cpp and Ollama cannot load model_type {inp.spec.model_type!r}: convert_hf_to_gguf.py has "
                f"no converter for it, so it has no GGUF ({why}); use --engine transformers")
        return hparams_from_spec(inp.spec)

    def n_layers(self, inp: EngineInput) -> int:
        return self.hparams(inp).n_layer

    def context_cap(self, inp: EngineInput) -> int:
        return self.hparams(inp).n_ctx_train or 131072

    def allocate(self, inp: EngineInput) -> EngineAllocation:
        if inp.llamacpp is None:
            raise UsageError("--engine llama.cpp needs its defaults (presets/llamacpp.json) in the engine input")
        hp = self.hparams(inp)
        p = plan(inp, hp, inp.llamacpp)
        model = model_of(inp)
        align = inp.gguf.cuda.buffer_alignment if inp.gguf is not None else 128
        settings, buf, notes = fit(inp, hp, p.settings, inp.llamacpp, lambda s: allocate(model, s, alignment=align))
        return assemble(self.name, inp, model, buf, Plan(settings=settings, notes=p.notes + notes))

    def solve(self, inp: EngineInput, target: str) -> Solved:
        return solve_for(self, inp, target)


ENGINE = _LlamaCpp()
