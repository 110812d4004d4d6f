"""vLLM (V1 engine): a fixed fraction of the GPU, the rest after weights and the profiled peak given to
a paged KV pool; the engine refuses to start when the pool cannot hold one max-model-len sequence.

Follows vLLM main at commit 35d5cda (December 2025; presets/engines.json names the files):
  budget      gpu_memory_utilization x total memory (cudaMemGetInfo's total), gpu_worker.init_device
  available   budget - (weights + torch peak increase of the profile run + non-torch increase),
              gpu_worker.determine_available_memory / utils.mem_utils.memory_profiling. The baseline is
              taken after NCCL is set up, so the CUDA context and NCCL buffers sit outside the budget.
  profile     gpu_model_runner.profile_run: one forward of max_num_batched_tokens tokens, then the
              dummy sampler over min(max_num_seqs, max_num_batched_tokens) rows of logits
  pool        kv_cache_utils.get_kv_cache_config_from_groups: blocks of block_size tokens per layer;
              hybrid models (full + sliding-window layers, or attention + linear-attention / Mamba
              state layers) split layers into groups of equal size (vllm_pool.py, _state.py)
  refusal     gpu_worker.init_device: free memory after the CUDA context and NCCL < the budget;
              kv_cache_utils.check_enough_kv_cache_memory: available <= 0, or one max_model_len
              sequence needs more than is available
  multimodal  vllm_mm.py: the encoder's dummy images and their cached embeddings in the profile
  CUDA graphs captured after the pool is allocated (compile_or_warm_up_model), so they come out of
              the (1 - utilization) margin and do not shrink the pool in this version. vLLM V0 and
              V1 before 0.9 took the baseline before NCCL, so NCCL buffers counted against the pool.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from vram.breakdown import Breakdown, Estimate, Term
from vram.engines import VLLM_FLAGS, EngineAllocation, EngineInput, Solved
from vram.engines._pool import (
    LayerKv,
    PoolDetails,
    cdiv,
    kv_element_bytes,
    refuse_state_flags,
    stage_layers,
    weights_per_rank,
    whole_model_bits,
)
from vram.engines._state import vllm_layout
from vram.engines.constants import VllmConstants
from vram.engines.vllm_mm import mm_profile
from vram.engines.vllm_pool import Pool, unified_block
from vram.errors import UnsupportedModelError, UsageError
from vram.model import ModelSpec
from vram.terms.activations import layer_forward_peak
from vram.terms.kv import kv_cache_bytes_per_token
from vram.terms.parallel import check_tensor_parallel
from vram.terms.weights import stored_format_label

OPTIONS = frozenset({"gpus", "kv_dtype", *VLLM_FLAGS})
SSM_DTYPES = ("auto", "float32", "float16", "bfloat16")


@dataclass(frozen=True)
class Settings:
    utilization: float
    max_model_len: int
    max_num_seqs: int
    max_num_batched_tokens: int
    enforce_eager: bool
    model_max: int


def settings(inp: EngineInput, c: VllmConstants, total: int) -> Settings:
    spec = inp.spec
    if spec.text is None:
        raise UsageError("--engine vllm needs a model with layers; a size literal has none")
    util = inp.setting("gpu_memory_utilization")
    util = c.gpu_memory_utilization if util is None else util
    if not 0 < util <= 1:
        raise UsageError(f"--gpu-memory-utilization must be in (0, 1], got {util:g}")
    model_max = spec.text.max_position_embeddings or 2048
    given_len = inp.setting("max_model_len")
    max_len = model_max if given_len is None else given_len
    if max_len <= 0:
        raise UsageError(f"--max-model-len must be a positive integer, got {max_len}")
    if max_len > model_max:
        raise UsageError(f"--max-model-len {max_len:,} is more than {spec.id}'s {model_max:,} positions; vLLM "
                         "refuses it (VLLM_ALLOW_LONG_MAX_MODEL_LEN=1 overrides)")
    large = total >= c.large_gpu_bytes and "a100" not in (inp.gpu_name or "")
    seqs = inp.setting("max_num_seqs")
    seqs = (c.large_gpu_max_num_seqs if large else c.max_num_seqs) if seqs is None else seqs
    batched = inp.setting("max_num_batched_tokens")
    if batched is None:
        batched = c.large_gpu_max_num_batched_tokens if large else c.max_num_batched_tokens
    if seqs <= 0 or batched <= 0:
        raise UsageError("--max-num-seqs and --max-num-batched-tokens must be positive integers")
    return Settings(util, max_len, seqs, batched, bool(inp.setting("enforce_eager")), model_max)


def profile_peak(spec: ModelSpec, inp: EngineInput, st: Settings, c: VllmConstants) -> tuple[int, int, list[Term]]:
    """(torch peak of the profile run, CUDA-graph pool estimate, terms)."""
    assert spec.text is not None
    w = inp.workload
    cb = w.compute_format.flat_bytes(1)
    h = spec.text.hidden_size
    tokens = st.max_num_batched_tokens
    wf = replace(w, attention="flash", batch_size=1, seq_len=tokens, images=0, frames=0)
    # Layers without attention run fused kernels (FLA, mamba_ssm) in vLLM: their forward is counted without
    # the float32 intermediates of transformers' torch path.
    blocks = [b if b.state is None else replace(b, state=replace(b.state, work_fp32=0))
              for b in spec.decoder_blocks() if b.attention is not None or b.state is not None]
    forward = max((layer_forward_peak(b, tokens, 1, tokens, cb, wf, h) for b in blocks), default=0)
    rows = min(st.max_num_seqs, tokens)
    vocab = spec.text.logits_width or spec.text.vocab_size
    sampler = rows * vocab * (cb + c.sampler_bytes_per_logit) + tokens * h * cb
    mm = mm_profile(spec, tokens, st.max_num_seqs, st.max_model_len, c.mm_limit_per_prompt, cb)
    held = mm.cache_bytes if mm else 0
    peak = max(forward + held, sampler + held, mm.encoder_peak_bytes if mm else 0)
    graph = 0
    if not st.enforce_eager:
        size = min(2 * st.max_num_seqs, c.max_cudagraph_capture_size)
        wg = replace(wf, seq_len=size)
        graph = max((layer_forward_peak(b, size, 1, size, cb, wg, h) for b in blocks), default=0)
    terms = [
        Term(component="activations", name="profile run: forward of max_num_batched_tokens", bytes=forward,
             formula="largest layer forward at max_num_batched_tokens tokens (the shared inference term)",
             values={"tokens": tokens}, source="vLLM gpu_model_runner.profile_run / _dummy_run", approximate=True),
        Term(component="activations", name="profile run: dummy sampler", bytes=sampler,
             formula="min(max_num_seqs, max_num_batched_tokens) x vocab x (dtype bytes + 36) + tokens x hidden",
             values={"rows": rows, "vocab": vocab}, source=f"vLLM _dummy_sampler_run; {c.sampler_basis}",
             approximate=True)]
    if mm:
        terms.append(Term(
            component="activations", name="profile run: multimodal encoder and encoder cache",
            bytes=max(mm.encoder_peak_bytes, held),
            formula="vision encoder forward over the items; their embeddings (items x tokens x hidden) stay "
                    "in the encoder cache through the forward and sampler above",
            values={"items": mm.items, "tokens_per_item": mm.tokens_per_item, "image": f"{mm.size[0]}x{mm.size[1]}",
                    "encoder_peak": mm.encoder_peak_bytes, "encoder_cache": held},
            source="vLLM gpu_model_runner.profile_run, encoder_cache_manager.compute_mm_encoder_budget, "
                   "MultiModalBudget.get_max_items", approximate=True))
    return peak, graph, terms


def check_served(spec: ModelSpec, c: VllmConstants) -> None:
    """Refuse (exit 3) a model type vLLM no longer serves (presets/engines.json removed_model_types), and a
    model whose layers keep a per-sequence state when vLLM's model registry has no class
    for its model type (presets/engines.json state_model_types): the Transformers backend, vLLM's fallback
    for unregistered classes, serves attention layers only."""
    removed = c.removed_model_types.get(spec.model_type)
    if removed is not None:
        raise UnsupportedModelError(f"--engine vllm does not serve model_type {spec.model_type!r}: {removed}; "
                                    "use --engine transformers")
    if spec.model_type in c.state_model_types:
        return
    if any(b.state is not None for comp in spec.components for b in comp.blocks):
        raise UnsupportedModelError(
            f"--engine vllm does not serve model_type {spec.model_type!r}: its layers keep a per-sequence state "
            "(Mamba, linear attention or a recurrence) and vLLM's model registry has no class for it (vLLM serves "
            f"the state layers of {', '.join(c.state_model_types)}); use --engine transformers")


class _Vllm:
    name = "vllm"
    options = OPTIONS
    solve_targets = ("max-model-len", "concurrency")

    def _run(self, inp: EngineInput) -> tuple[EngineAllocation, Pool, int, Settings]:
        if inp.total_bytes is None or inp.engine_constants is None:
            raise UsageError("--engine vllm sizes its pool from the GPU: give --gpu NAME or --memory AMOUNT")
        c = inp.engine_constants.vllm
        spec, w = inp.spec, inp.workload
        check_served(spec, c)
        total = inp.total_bytes
        st = settings(inp, c, total)
        check_tensor_parallel(spec, w.tensor_parallel)  # both refuse heads that TP does not divide
        elem = kv_element_bytes(w, self.name)
        refuse_state_flags(spec, inp.settings, ("mamba_ssm_cache_dtype",), "vLLM")
        ssm = inp.setting("mamba_ssm_cache_dtype") or "auto"
        if ssm not in SSM_DTYPES:
            raise UsageError(f"--mamba-ssm-cache-dtype must be one of {', '.join(SSM_DTYPES)}, got {ssm!r}")
        model_bytes = w.compute_format.flat_bytes(1)
        layers, notes = stage_layers(spec, w, elem, lambda s: vllm_layout(
            s, w.tensor_parallel, model_bytes, None if ssm == "auto" else ssm, c.ssm_dtype_from_config,
            spec.model_type).bytes)
        given = inp.setting("block_size")
        if given is not None and given <= 0:
            raise UsageError(f"--block-size must be a positive integer, got {given}")
        mla = any(x.kind == "mla" for x in layers)
        block, state_page = unified_block(layers, given, c.block_size,
                                          c.hybrid_block_alignment_mla if mla else c.hybrid_block_alignment)
        pool = Pool(tuple(layers), block, st.max_num_batched_tokens, state_page, st.max_model_len)
        state_layers = [x for x in layers if x.kind == "state"]
        state_seq = sum(x.state_bytes for x in state_layers)
        if state_layers:
            notes.append(_state_note(pool, state_layers, given, ssm))
        weights, terms = weights_per_rank(spec, w, inp.gguf_types, c.vocab_padding)
        peak, graph, act_terms = profile_peak(spec, inp, st, c)
        terms += act_terms
        non_torch = c.non_torch_bytes_multi_gpu if w.gpus > 1 else c.non_torch_bytes
        budget = int(total * st.utilization)
        margin = total - budget
        # In use before init_device's snapshot: the CUDA context, and NCCL's set-up at TP >= 2. vLLM refuses
        # to start when what is free then is less than the budget (requested_memory).
        rt = w.runtime
        nccl = rt.multi_gpu_comm_bytes if w.gpus > 1 else 0
        startup = rt.cuda_context_bytes + nccl
        available = budget - weights - peak - non_torch
        blocks = pool.num_blocks(available)
        pool_bytes = blocks * pool.block_bytes
        need_kv = pool.needed(st.max_model_len)
        margin_refusal = startup > margin
        starts = available > 0 and need_kv <= available and not margin_refusal
        largest = None if starts else pool.largest_len(available, st.model_max)
        need = weights + peak + non_torch + need_kv
        util_start = None if starts or need > total - startup else cdiv(need * 100, total) / 100
        if margin_refusal and util_start is not None:
            util_start = (total - startup) * 100 // total / 100  # the most it may ask for: the context must fit
        terms.append(Term(component="kv_cache", name="paged KV pool", bytes=pool_bytes,
                          formula="floor((utilization x total - weights - peak - non-torch) / block bytes) x block "
                                  "bytes", values={"blocks": blocks, "block_size": block,
                                                   "layers": len(layers), "group_size": pool.group_size,
                                                   **({"state_page": state_page} if state_page else {})},
                          source="vLLM kv_cache_utils.get_kv_cache_config_from_groups"))
        terms.append(Term(component="overhead", name="non-torch memory (inside the budget)", bytes=non_torch,
                          formula="non-torch increase during the profile run", values={"non_torch": non_torch},
                          source=c.non_torch_basis, approximate=True))
        terms.append(Term(component="overhead", name="CUDA context, NCCL set-up, CUDA graphs (outside the budget)",
                          bytes=startup + graph, formula="context + NCCL at TP >= 2 (before the snapshot) + graph "
                          "pool (captured after the KV pool)", values={"context": rt.cuda_context_bytes,
                                                                       "nccl": nccl, "cuda_graphs": graph},
                          source=f"{rt.source}; vLLM gpu_worker.init_device, compile_or_warm_up_model",
                          approximate=True))
        tokens_kv = pool.tokens(blocks)
        advice: list[str] = []
        if not starts:
            if margin_refusal:
                why = (f"{startup / 2**30:.2f} GiB in use at start (CUDA context{', NCCL' if nccl else ''}) leaves "
                       f"less free memory than the {budget / 2**30:.2f} GiB budget")
            elif available <= 0:
                why = "no memory is left for the KV cache"
            else:
                why = (f"one {st.max_model_len:,}-token sequence needs {need_kv / 2**30:.2f} GiB of KV cache, "
                       f"{available / 2**30:.2f} GiB is available")
            advice.append(f"vLLM would refuse to start: {why}")
            if largest and not margin_refusal:
                advice.append(f"largest --max-model-len that starts: {largest:,}")
            if util_start is not None:
                advice.append(f"--gpu-memory-utilization {util_start:.2f} would start it at --max-model-len "
                              f"{st.max_model_len:,}")
            else:
                advice.append(f"no --gpu-memory-utilization starts it at --max-model-len {st.max_model_len:,} on "
                              "this GPU")
        elif not st.enforce_eager and startup + graph > margin:
            advice.append(f"the {margin / 2**30:.2f} GiB outside the budget may be too small for the CUDA context "
                         f"and CUDA graphs ({(startup + graph) / 2**30:.2f} GiB estimated); vLLM may run out of "
                         "memory capturing them (lower --gpu-memory-utilization or use --enforce-eager)")
        in_budget = {"weights": weights, "activation_peak": peak, "non_torch": non_torch,
                     "kv_pool" if starts else "kv_one_sequence": pool_bytes if starts else need_kv}
        outside = {"cuda_context": rt.cuda_context_bytes, **({"nccl": nccl} if nccl else {}), "cuda_graphs": graph}
        details = PoolDetails(
            version=c.version, total_memory_bytes=total, utilization=st.utilization, budget_bytes=budget,
            weights_bytes=weights, activation_peak_bytes=peak, non_torch_bytes=non_torch, cuda_graph_bytes=graph,
            kv_pool_bytes=pool_bytes, kv_bytes_per_token=sum(x.bytes_per_token for x in layers),
            block_size=block, kv_tokens=tokens_kv, max_model_len=st.max_model_len,
            max_num_seqs=st.max_num_seqs, max_num_batched_tokens=st.max_num_batched_tokens,
            max_concurrency=round(pool.concurrency(blocks, st.max_model_len), 2), starts=starts,
            largest_max_model_len=largest, utilization_to_start=util_start, startup_bytes=startup,
            margin_bytes=margin, in_budget=in_budget, outside_budget=outside,
            settings={"gpu_memory_utilization": st.utilization, "max_model_len": st.max_model_len,
                      "max_num_seqs": st.max_num_seqs, "max_num_batched_tokens": st.max_num_batched_tokens,
                      "tensor_parallel_size": w.tensor_parallel, "pipeline_parallel_size": w.pipeline_parallel,
                      "enforce_eager": st.enforce_eager, "kv_cache_dtype": w.kv_format.name, "block_size": block,
                      **({"mamba_ssm_cache_dtype": ssm} if state_layers else {})},
            state_bytes_per_sequence=state_seq)
        if inp.setting("enable_expert_parallel"):
            notes.append("--enable-expert-parallel: experts are placed whole on the ranks; the bytes per rank are "
                         "those of tensor-parallel sharding to within one expert")
        notes += advice if starts else []
        est = Estimate(
            model_id=spec.id, model_type=spec.model_type, parameters=spec.parameters,
            active_parameters=spec.active_parameters, trainable_parameters=0,
            parameters_by_component=spec.params_by_component(), weights_by_component={"weights": weights},
            bits_per_parameter=whole_model_bits(spec, w, inp.gguf_types),
            kv_cache_bytes_per_token=kv_cache_bytes_per_token(spec, w), tokens_per_sequence=st.max_model_len,
            breakdown=Breakdown(weights_bytes=weights, kv_cache_bytes=pool_bytes if starts else need_kv,
                                activations_bytes=peak,
                                overhead_bytes=non_torch + startup + graph),
            cpu_bytes=0, terms=tuple(terms), notes=tuple(dict.fromkeys(notes)),
            stored_format=stored_format_label(spec, w))
        alloc = EngineAllocation(name=self.name, estimate=est, needed_bytes=need, budget_bytes=budget,
                                 budget_label=f"{st.utilization:g} x {total / 2**30:.2f} GiB", details=details,
                                 advice=tuple(advice), refused=margin_refusal,
                                 workload=replace(w, seq_len=st.max_model_len, batch_size=st.max_num_seqs),
                                 workload_label=f"--max-num-seqs {st.max_num_seqs:,}, --max-model-len "
                                                f"{st.max_model_len:,}")
        return alloc, pool, available, st

    def allocate(self, inp: EngineInput) -> EngineAllocation:
        return self._run(inp)[0]

    def solve(self, inp: EngineInput, target: str) -> Solved:
        alloc, pool, available, st = self._run(inp)
        if target == "max-model-len":
            value = 0 if alloc.refused else pool.largest_len(available, st.model_max)
            best = self._run(replace(inp, settings={**inp.settings, "max_model_len": value}))[0] if value else None
            return Solved(target, value, st.model_max, best, "tokens per sequence")
        if target == "concurrency":
            value = int(pool.concurrency(pool.num_blocks(available), st.max_model_len)) if alloc.starts else 0
            return Solved(target, value, None, alloc, f"sequences of {st.max_model_len:,} tokens")
        raise UsageError(f"unknown --solve {target!r}; choose max-model-len or concurrency")


ENGINE = _Vllm()


def _state_note(pool: Pool, state_layers: list[LayerKv], given: int | None, ssm: str) -> str:
    """What the hybrid allocator did with the state layers, in one line."""
    n = len(state_layers)
    page = pool.state_page
    head = (f"vLLM keeps {n} state layer{'s' if n > 1 else ''} (one {page / 2**20:.2f} MiB page each per sequence"
            f"{'' if ssm == 'auto' else f', SSM state in {ssm}'}) in the same pool")
    if len(pool.layers) == n:
        return head + "; every sequence takes one page per layer whatever its length"
    moved = given is None or given < pool.block
    return (head + f": attention pages of {pool.block:,} tokens "
            + ("(raised so that one holds a state page)" if moved else "(--block-size)")
            + f", {sum(k for _, k in pool.groups)} groups of {pool.group_size} layers")
