"""Ollama: llama.cpp's buffers (llama-server runs the model) with the settings Ollama passes to it.

Ollama (server/sched.go, server/routes.go, llm/llama_server.go; presets/llamacpp.json "ollama") starts
llama-server with -c num_ctx x num_parallel, -np num_parallel, --cache-type-k/v from
OLLAMA_KV_CACHE_TYPE, --flash-attn from OLLAMA_FLASH_ATTENTION (auto when unset) and -b = -ub =
num_batch. num_ctx is OLLAMA_CONTEXT_LENGTH, or a default by the GPUs' total memory, capped at the
model's training context. The environment is read by the shell (enginecli) and arrives here in
``settings`` as ollama_context_length, ollama_num_parallel, ollama_kv_cache_type and
ollama_flash_attention; a flag given on the command line wins over the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from vram.engines import EngineAllocation, EngineInput, Solved
from vram.engines.llamacpp import ENGINE as LLAMACPP
from vram.engines.llamacpp import assemble, buffers, plan, solve_for
from vram.errors import UsageError

OPTIONS = frozenset({"ctx_size", "n_gpu_layers", "flash_attn", "cache_type_k", "cache_type_v", "ubatch_size",
                     "parallel", "n_batch", "gguf_file", "gpus"})
ENV = ("ollama_context_length", "ollama_num_parallel", "ollama_kv_cache_type", "ollama_flash_attention")


def _env_int(value: Any, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        n = int(str(value))
    except ValueError as exc:
        raise UsageError(f"{name.upper()}={value!r} is not a whole number") from exc
    return n if n > 0 else None


def ollama_settings(inp: EngineInput) -> tuple[dict[str, Any], list[str]]:
    """The llama-server flags Ollama would pass, and a note for each default it applied."""
    d = inp.llamacpp.ollama
    hp = LLAMACPP.hparams(inp)
    s = dict(inp.settings)
    notes: list[str] = []
    for name in ("parallel", "ctx_size", "n_batch", "ubatch_size"):  # 0 is a value here, not "not given"
        if s.get(name) is not None and s[name] <= 0:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} must be a positive integer for --engine ollama, got {s[name]}")
    num_parallel = s.get("parallel") or _env_int(s.get("ollama_num_parallel"), "ollama_num_parallel")
    if num_parallel is None:
        num_parallel = d.num_parallel
        notes.append(f"ollama: num_parallel {num_parallel} (OLLAMA_NUM_PARALLEL unset)")
    num_ctx = s.get("ctx_size") or _env_int(s.get("ollama_context_length"), "ollama_context_length")
    if num_ctx is None:
        tiers = "/".join(f"{ctx // 1024}k" for _, ctx in reversed(d.num_ctx_tiers))
        if inp.total_bytes is None:
            num_ctx = d.num_ctx_tiers[-1][1]
            notes.append(f"ollama: num_ctx {num_ctx:,}: Ollama's vram-based default context ({tiers} by total "
                         "VRAM) at its lowest tier, since no --gpu or --memory gives the VRAM; Ollama picks by the "
                         "GPUs it finds (OLLAMA_CONTEXT_LENGTH and --ctx-size override it)")
        else:
            vram = inp.total_bytes * inp.workload.gpus
            num_ctx = next(ctx for floor, ctx in d.num_ctx_tiers if vram >= floor)
            notes.append(f"ollama: num_ctx {num_ctx:,}: Ollama's vram-based default context ({tiers}) for "
                         f"{vram / 2**30:.1f} GiB of total VRAM (OLLAMA_CONTEXT_LENGTH unset)")
    if hp.n_ctx_train and num_ctx > hp.n_ctx_train:
        notes.append(f"ollama: num_ctx {num_ctx:,} capped at the model's training context {hp.n_ctx_train:,}")
        num_ctx = hp.n_ctx_train
    fa_env = s.get("ollama_flash_attention")
    if s.get("flash_attn") is None and fa_env not in (None, ""):
        on = str(fa_env).strip().lower() in ("1", "true", "yes", "on")
        s["flash_attn"] = "on" if on else "off"
        notes.append(f"ollama: flash attention {s['flash_attn']} from OLLAMA_FLASH_ATTENTION")
    elif s.get("flash_attn") is None:
        s["flash_attn"] = "auto"
    kv = str(s.get("ollama_kv_cache_type") or "").strip().lower()
    if kv and not (s.get("cache_type_k") or s.get("cache_type_v")):
        if str(s["flash_attn"]).lower() == "off" and kv != "f16":
            # Ollama (llm/server.go) passes OLLAMA_KV_CACHE_TYPE only with flash attention on; off, it
            # logs "quantized kv cache requested but flash attention disabled" and the cache stays f16.
            notes.append(f"ollama: OLLAMA_KV_CACHE_TYPE={kv} ignored, KV cache f16: Ollama uses a quantized "
                         "cache only with flash attention on")
        else:
            s["cache_type_k"] = s["cache_type_v"] = kv
            notes.append(f"ollama: KV cache {kv} from OLLAMA_KV_CACHE_TYPE")
    effective = num_ctx * num_parallel
    if not (s.get("n_batch") or s.get("ubatch_size")):
        if str(s["flash_attn"]).lower() == "off":
            batch = d.num_batch_without_flash_attention
        else:
            batch = next(b for above, b in d.num_batch_by_ctx if effective > above or above == 0)
        s["n_batch"] = s["ubatch_size"] = batch
        notes.append(f"ollama: num_batch {batch} for {effective:,} tokens of context (-b = -ub)")
    s["ctx_size"] = effective
    s["parallel"] = num_parallel
    return s, notes


@dataclass(frozen=True)
class _Ollama:
    name: str = "ollama"
    options: frozenset[str] = OPTIONS
    solve_targets: tuple[str, ...] = ("ctx-size", "n-gpu-layers")

    def n_layers(self, inp: EngineInput) -> int:
        return LLAMACPP.n_layers(inp)

    def context_cap(self, inp: EngineInput) -> int:
        return LLAMACPP.context_cap(inp)

    def allocate(self, inp: EngineInput) -> EngineAllocation:
        if inp.llamacpp is None:
            raise UsageError("--engine ollama needs its defaults (presets/llamacpp.json) in the engine input")
        settings, notes = ollama_settings(inp)
        run = replace(inp, settings=settings)
        p = plan(run, LLAMACPP.hparams(run), inp.llamacpp)
        p = replace(p, notes=tuple(notes) + p.notes)
        model, buf = buffers(run, p.settings)
        return assemble(self.name, run, model, buf, p)

    def solve(self, inp: EngineInput, target: str) -> Solved:
        return solve_for(self, inp, target)


ENGINE = _Ollama()
