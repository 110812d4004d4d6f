"""The CLI's option declarations (typer), shared by the commands that size a run.

Every workload and engine option is declared once here and added to each command's signature by
:func:`workload_options`; its default is the Python API's (``api.DEFAULTS``), and the command receives
``opts`` from ``api.prepare`` with only the options the user typed counted as given, so that the CLI
and the API refuse the same combinations.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any

import typer

from vram import complete

DTYPE_HELP = ("Weight format: auto (as stored for pre-quantized checkpoints, else bf16), fp32, fp16, bf16, fp8, "
              "fp8-block, mxfp4, nvfp4, int8, int4 (GPTQ), awq, nf4, nf4-dq, or GGUF q8_0, q6_k, q5_k_m, q4_k_m, "
              "q4_0, q3_k_m, q2_k (case-insensitive).")

Model = Annotated[str, typer.Argument(help="A bundled preset (Hugging Face id), a local folder or config.json, "
                                           "a Hub id (org/name), or a size such as 7B.", show_default=False,
                                           autocompletion=complete.models)]
Dtype = Annotated[str, typer.Option("--dtype", "-d", help=DTYPE_HELP, autocompletion=complete.dtypes)]
ModeOpt = Annotated[str, typer.Option("--mode", help="inference | training | lora | qlora | dpo | grpo.",
                                      autocompletion=complete.modes)]
Batch = Annotated[int, typer.Option("--batch-size", "-b", help="Sequences processed at once.")]
SeqLen = Annotated[int, typer.Option("--seq-len", "-s", help="Tokens per sequence held in the KV cache "
                                                             "(prompt + generated).")]
KvDtype = Annotated[str | None, typer.Option("--kv-dtype", help="KV cache dtype (default: the compute dtype): "
                                                                 "fp16, bf16, fp8, int8-kv, q8_0, q4_0, fp32.",
                                                                 autocompletion=complete.kv_dtypes)]
OptimizerOpt = Annotated[str | None, typer.Option("--optimizer", help="adamw | adamw-8bit | paged-adamw-8bit | sgd | "
                                                               "sgd-momentum | adafactor | lion | none.")]
PrecisionOpt = Annotated[str | None, typer.Option("--precision", help="Training regime: fp32 | amp | mixed | "
                                                                      "pure-bf16 (default: fp32 for fp32 weights, "
                                                                      "mixed otherwise).")]
Checkpointing = Annotated[bool | None, typer.Option("--gradient-checkpointing/--no-gradient-checkpointing",
                                                    help="Recompute activations layer by layer in backward "
                                                         "(default off, or the --framework's).")]
AttentionOpt = Annotated[str, typer.Option("--attention", help="sdpa | flash | eager (eager materialises the "
                                                               "attention scores).")]
MambaKernels = Annotated[str, typer.Option("--mamba-kernels", help="fused | torch: Mamba layers run mamba_ssm's "
                                                                 "fused kernels (Mamba-1's selective scan; in "
                                                                 "training Mamba-2's split-conv1d scan; "
                                                                 "transformers' choice when mamba-ssm and "
                                                                 "causal-conv1d are installed) or the torch scan, "
                                                                 "which keeps far more activations.")]
Images = Annotated[int, typer.Option("--images", help="Images per sequence (multimodal models).")]
Frames = Annotated[int, typer.Option("--frames", help="Video frames per sequence (video models).")]
ImageSize = Annotated[str | None, typer.Option("--image-size", help="WIDTHxHEIGHT of the images (native-resolution "
                                                                    "and AnyRes models): 1280x720.")]
LoraRank = Annotated[int, typer.Option("--lora-rank", help="LoRA rank r.")]
LoraTargets = Annotated[str, typer.Option("--lora-targets", help="attention | all-linear | comma-separated "
                                                                 "module names (q_proj,v_proj).")]
LoraDtype = Annotated[str | None, typer.Option("--lora-dtype", help="Dtype of LoRA adapters (PEFT keeps them fp32).")]
DoubleQuant = Annotated[bool, typer.Option("--double-quant", help="QLoRA: quantize the absmax constants too.")]
Gpus = Annotated[int, typer.Option("--gpus", help="Tensor-parallel GPUs; figures are per GPU.")]
OverheadPct = Annotated[float | None, typer.Option("--overhead-percent", help="Replace the modelled runtime "
                                                                              "overhead with this percent of the "
                                                                              "weights (the seed notes' rule of "
                                                                              "thumb). Off by default.")]
Units = Annotated[str, typer.Option("--units", help="gib (2^30 bytes, default) or gb (10^9 bytes).")]
Fmt = Annotated[str, typer.Option("--format", "-f", help="table | json.")]
Explain = Annotated[bool, typer.Option("--explain", help="Show every term with its formula, values and source.")]
Revision = Annotated[str | None, typer.Option("--revision", help="Hub branch, tag or commit.")]
Token = Annotated[str | None, typer.Option("--token", help="Hugging Face token (default: HF_TOKEN).",
                                           show_default=False)]
Refresh = Annotated[bool, typer.Option("--refresh", help="Ask the Hub even when a bundled preset matches.")]


# ---- shared workload options ------------------------------------------------------------------
# Every command that sizes a run takes the same workload options; they are declared once here and
# added to each command's signature by @workload_options.

GpuOpt = Annotated[str | None, typer.Option("--gpu", help="A GPU of the catalog (`vram gpus`): h100, a100-40gb, "
                                                          "rtx4090, l4, ...; auto: this machine's GPUs (their "
                                                          "count is the default --gpus).",
                                            autocompletion=complete.gpus)]
MemoryOpt = Annotated[str | None, typer.Option("--memory", help="A custom per-GPU budget instead of --gpu: 24GiB, "
                                                                "80GB.")]

TpOpt = Annotated[int | None, typer.Option("--tp", help="Tensor-parallel degree within --gpus (training layouts).")]
PpOpt = Annotated[int | None, typer.Option("--pp", help="Pipeline stages within --gpus (1F1B schedule).")]
ZeroOpt = Annotated[int | None, typer.Option("--zero", help="DeepSpeed ZeRO stage 0-3 over the data-parallel GPUs.")]
FsdpOpt = Annotated[str | None, typer.Option("--fsdp", help="full | hybrid (FULL_SHARD, HYBRID_SHARD).")]
ShardOpt = Annotated[int | None, typer.Option("--shard-size", help="GPUs per shard group with --fsdp hybrid.")]
OffloadOpt = Annotated[str | None, typer.Option("--offload", help="optimizer | params (training, ZeRO-Offload); "
                                                                  "cpu (inference, device_map).")]
MicroOpt = Annotated[int | None, typer.Option("--micro-batch-size", help="Sequences per GPU per step (training); "
                                                                         "memory follows it.")]
AccumOpt = Annotated[int, typer.Option("--grad-accum", help="Gradient accumulation steps (no extra memory).")]

RuntimeOpt = Annotated[str, typer.Option("--runtime", help="standard | layered (one decoder layer on the GPU at a "
                                                         "time, as AirLLM).")]
CompressionOpt = Annotated[str | None, typer.Option("--compression", help="With --runtime layered: 4bit | 8bit "
                                                                          "block-wise weights.")]
CpuMemOpt = Annotated[str | None, typer.Option("--cpu-memory", help="With --offload cpu: CPU RAM for offloaded "
                                                                    "layers (the rest goes to disk): 64GiB.")]

# ---- how a training step is run (issue 13; docs/cli.md "Training as frameworks run it") ----
LossOpt = Annotated[str | None, typer.Option("--loss", help="standard (logits upcast to fp32, transformers) | chunked "
                                                            "(torchtune) | fused (Liger, Unsloth, Cut Cross-Entropy).")]
LossChunksOpt = Annotated[int | None, typer.Option("--loss-chunks", help="Chunks of --loss chunked (default 8, as "
                                                                         "torchtune).")]
CompileOpt = Annotated[bool, typer.Option("--compile", help="The loss runs under torch.compile (torchtune "
                                                            "compile=True): --loss chunked then saves 16-bit logits.")]
FusedKernelOpt = Annotated[str | None, typer.Option("--fused-kernel", help="liger (default) | unsloth | cce: the "
                                                                           "kernel of --loss fused.")]
OptInBwdOpt = Annotated[bool | None, typer.Option("--optimizer-in-backward/--no-optimizer-in-backward",
                                                  help="Step each parameter as its gradient is ready (torchtune "
                                                       "optimizer_in_bwd); refused with --grad-accum > 1.")]
ActOffloadOpt = Annotated[bool | None, typer.Option("--activation-offload/--no-activation-offload",
                                                    help="Saved activations go to CPU memory (torchtune "
                                                         "enable_activation_offloading); cpu_bytes reports them.")]
FrameworkOpt = Annotated[str | None, typer.Option("--framework", help="hf | torchtune | unsloth | axolotl | trl: "
                                                                      "that framework's defaults (listed in "
                                                                      "the notes); explicit flags override.")]
TuningOpt = Annotated[str | None, typer.Option("--tuning", help="With --mode dpo or grpo: full (default) | lora | "
                                                                "qlora.")]
ReferenceOpt = Annotated[str | None, typer.Option("--reference", help="dpo/grpo: model (a frozen copy) | none "
                                                                      "(LoRA: the adapter-disabled base).")]
NumGenOpt = Annotated[int | None, typer.Option("--num-generations", help="grpo: completions per prompt (TRL "
                                                                         "default 8).")]
ComplLenOpt = Annotated[int | None, typer.Option("--max-completion-length", help="grpo: tokens per completion, "
                                                                                 "added to --seq-len (default 512).")]

TRAINING_RUN_OPTIONS: list[tuple[str, Any, Any]] = [
    ("loss", LossOpt, None), ("loss_chunks", LossChunksOpt, None), ("compile_loss", CompileOpt, False),
    ("fused_kernel", FusedKernelOpt, None), ("optimizer_in_backward", OptInBwdOpt, None),
    ("activation_offload", ActOffloadOpt, None), ("framework", FrameworkOpt, None), ("tuning", TuningOpt, None),
    ("reference", ReferenceOpt, None), ("num_generations", NumGenOpt, None),
    ("max_completion_length", ComplLenOpt, None),
]

WORKLOAD_OPTIONS: list[tuple[str, Any, Any]] = [
    ("mode", ModeOpt, "inference"), ("batch_size", Batch, 1), ("seq_len", SeqLen, 4096), ("kv_dtype", KvDtype, None),
    ("optimizer", OptimizerOpt, None), ("precision", PrecisionOpt, None),
    ("gradient_checkpointing", Checkpointing, None), ("attention", AttentionOpt, "sdpa"),
    ("mamba_kernels", MambaKernels, "fused"), ("images", Images, 0),
    ("frames", Frames, 0), ("image_size", ImageSize, None), ("lora_rank", LoraRank, 16),
    ("lora_targets", LoraTargets, "all-linear"),
    ("lora_dtype", LoraDtype, None), ("double_quant", DoubleQuant, False), ("gpus", Gpus, 1),
    ("overhead_percent", OverheadPct, None), ("gpu", GpuOpt, None), ("memory", MemoryOpt, None),
    ("revision", Revision, None), ("token", Token, None), ("refresh", Refresh, False),
    ("tp", TpOpt, None), ("pp", PpOpt, None), ("zero", ZeroOpt, None), ("fsdp", FsdpOpt, None),
    ("shard_size", ShardOpt, None), ("offload", OffloadOpt, None), ("micro_batch_size", MicroOpt, None),
    ("grad_accum", AccumOpt, 1), ("runtime", RuntimeOpt, "standard"), ("compression", CompressionOpt, None),
    ("cpu_memory", CpuMemOpt, None),
    *TRAINING_RUN_OPTIONS,
]


# ---- engine options ---------------------------------------------------------------------------
# Each serving engine's settings under the engine's own flag names (vram.engines says which engine reads
# which); a flag that means nothing for the chosen --engine is refused in one place (workload_options).

EngineOpt = Annotated[str, typer.Option("--engine", help="transformers (default) | vllm | sglang | llama.cpp | "
                                                         "ollama: size the run as that engine allocates it.",
                                        autocompletion=complete.engines)]
_I = int | None
ENGINE_OPTIONS: list[tuple[str, Any, Any]] = [
    ("engine", EngineOpt, "transformers"),
    # vLLM (vllm serve's names)
    ("gpu_memory_utilization", Annotated[float | None, typer.Option(
        "--gpu-memory-utilization", help="vLLM: fraction of the GPU's total memory vLLM may use (default 0.9).")],
     None),
    ("max_model_len", Annotated[_I, typer.Option("--max-model-len", help="vLLM: context length (default: the "
                                                                         "model's max_position_embeddings).")], None),
    ("max_num_seqs", Annotated[_I, typer.Option("--max-num-seqs", help="vLLM: sequences per step (default 256).")],
     None),
    ("max_num_batched_tokens", Annotated[_I, typer.Option("--max-num-batched-tokens",
                                                          help="vLLM: tokens per step (default 8192 with chunked "
                                                               "prefill).")], None),
    ("kv_cache_dtype", Annotated[str | None, typer.Option("--kv-cache-dtype", help="vLLM/SGLang: auto | fp8 | "
                                                                                   "fp8_e4m3 | fp8_e5m2.")], None),
    ("block_size", Annotated[_I, typer.Option("--block-size", help="vLLM: tokens per KV page (default 16).")],
     None),
    ("enforce_eager", Annotated[bool, typer.Option("--enforce-eager", help="vLLM: no CUDA graphs.")], False),
    ("mamba_ssm_cache_dtype", Annotated[str | None, typer.Option(
        "--mamba-ssm-cache-dtype", help="vLLM: Mamba SSM state dtype, auto | float32 | float16 | bfloat16.")], None),
    ("tensor_parallel_size", Annotated[_I, typer.Option("--tensor-parallel-size", "-tp",
                                                        help="vLLM/SGLang: tensor-parallel GPUs (same as --gpus).")],
     None),
    ("pipeline_parallel_size", Annotated[_I, typer.Option("--pipeline-parallel-size",
                                                          help="vLLM: pipeline stages (GPUs = tp x pp).")], None),
    ("enable_expert_parallel", Annotated[bool, typer.Option("--enable-expert-parallel",
                                                            help="vLLM: shard MoE experts whole over the GPUs.")],
     False),
    ("enable_sleep_mode", Annotated[bool, typer.Option("--enable-sleep-mode", help="vLLM in --mode grpo: sleeps "
                                                                                   "while the policy trains (TRL "
                                                                                   "vllm_enable_sleep_mode).")],
     False),
    # SGLang (python -m sglang.launch_server's names)
    ("mem_fraction_static", Annotated[float | None, typer.Option(
        "--mem-fraction-static", help="SGLang: fraction of the GPU for weights and the KV pool (default by GPU "
                                      "size).")], None),
    ("context_length", Annotated[_I, typer.Option("--context-length", help="SGLang: context length (default: the "
                                                                           "model's).")], None),
    ("max_running_requests", Annotated[_I, typer.Option("--max-running-requests",
                                                        help="SGLang: concurrent requests.")], None),
    ("chunked_prefill_size", Annotated[_I, typer.Option("--chunked-prefill-size",
                                                        help="SGLang: tokens per prefill chunk (default by GPU "
                                                             "size).")], None),
    ("disable_cuda_graph", Annotated[bool, typer.Option("--disable-cuda-graph", help="SGLang: no CUDA graphs.")],
     False),
    ("swa_full_tokens_ratio", Annotated[float | None, typer.Option(
        "--swa-full-tokens-ratio", help="SGLang: sliding-window pool tokens per full-pool token (default 0.8).")],
     None),
    ("max_mamba_cache_size", Annotated[_I, typer.Option("--max-mamba-cache-size",
                                                        help="SGLang: sequences the state pool holds.")], None),
    ("mamba_ssm_dtype", Annotated[str | None, typer.Option(
        "--mamba-ssm-dtype", help="SGLang: recurrent state dtype, float32 (default) | bfloat16.")], None),
    ("mamba_full_memory_ratio", Annotated[float | None, typer.Option(
        "--mamba-full-memory-ratio", help="SGLang: state pool bytes per full-attention pool byte (default 0.9).")],
     None),
    ("disable_radix_cache", Annotated[bool, typer.Option("--disable-radix-cache",
                                                         help="SGLang: no prefix cache.")], False),
    # llama.cpp (llama-server's names; -b is vram's --batch-size, so llama.cpp's -b is --n-batch here)
    ("ctx_size", Annotated[_I, typer.Option("--ctx-size", "-c", help="llama.cpp: context size n_ctx.")], None),
    ("n_gpu_layers", Annotated[str | None, typer.Option("--n-gpu-layers", "-ngl",
                                                        help="llama.cpp: layers on the GPU (a number, all or "
                                                             "auto).")], None),
    ("flash_attn", Annotated[str | None, typer.Option("--flash-attn", "-fa", help="llama.cpp: on | off | auto.")],
     None),
    ("cache_type_k", Annotated[str | None, typer.Option("--cache-type-k", "-ctk",
                                                        help="llama.cpp: K cache type (f16, q8_0, q4_0, ...).")],
     None),
    ("cache_type_v", Annotated[str | None, typer.Option("--cache-type-v", "-ctv",
                                                        help="llama.cpp: V cache type (f16, q8_0, q4_0, ...).")],
     None),
    ("ubatch_size", Annotated[_I, typer.Option("--ubatch-size", "-ub", help="llama.cpp: physical batch n_ubatch.")],
     None),
    ("parallel", Annotated[_I, typer.Option("--parallel", "-np", help="llama.cpp: parallel sequences (slots).")],
     None),
    ("swa_full", Annotated[bool, typer.Option("--swa-full", help="llama.cpp: full-size cache for sliding-window "
                                                                 "layers.")], False),
    ("n_batch", Annotated[_I, typer.Option("--n-batch", help="llama.cpp: logical batch n_batch (its -b).")], None),
    ("gguf_file", Annotated[str | None, typer.Option("--gguf-file", help="llama.cpp/Ollama: the .gguf file of a "
                                                                         "repo or folder to read.")], None),
    ("tensor_split", Annotated[str | None, typer.Option("--tensor-split", "-ts",
                                                        help="llama.cpp: share of layers per GPU, e.g. 3,1.")], None),
    ("main_gpu", Annotated[_I, typer.Option("--main-gpu", "-mg", help="llama.cpp: the GPU used with -sm none "
                                                                      "(default 0).")], None),
    ("split_mode", Annotated[str | None, typer.Option("--split-mode", "-sm", help="llama.cpp: layer | none "
                                                                                  "(default layer).")], None),
    ("fit", Annotated[str | None, typer.Option("--fit", "-fit", help="llama.cpp: on | off: lower an unset "
                                                                     "context and -ngl to the budget (default "
                                                                     "on).")], None),
    ("fit_target", Annotated[_I, typer.Option("--fit-target", "-fitt", help="llama.cpp: MiB --fit leaves free "
                                                                            "per GPU (default 1024).")], None),
    ("fit_ctx", Annotated[_I, typer.Option("--fit-ctx", "-fitc", help="llama.cpp: smallest context --fit sets "
                                                                      "(default 4096).")], None),
]


def _given_options(ctx: typer.Context, names: list[str]) -> set[str]:
    """Options the user typed (not left at their defaults)."""
    given = set()
    for n in names:
        source = ctx.get_parameter_source(n)
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            given.add(n)
    return given


def workload_options_except(*exclude: str, prepare: bool = True) -> Callable[[Any], Any]:
    """workload_options less ``exclude`` (a command that declares those options its own way)."""
    return functools.partial(workload_options, exclude=exclude, prepare=prepare)


def workload_options(fn: Any, *, exclude: tuple[str, ...] = (), prepare: bool = True) -> Any:
    """Add the shared workload options (less ``exclude``) to a command; the command receives them as
    ``opts``: api.prepare's dict of every option, the given ones under ``_given``; with ``prepare=False``
    the options the user typed, for a command that adds its own before calling api.prepare."""
    from vram.api import DEFAULTS

    shared = [(name, annotation) for name, annotation, _ in WORKLOAD_OPTIONS + ENGINE_OPTIONS if name not in exclude]
    sig = inspect.signature(fn)
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=DEFAULTS[name], annotation=annotation)
             for name, annotation in shared]
    params = [p for p in sig.parameters.values() if p.name != "opts"]
    context = inspect.Parameter("vram_context", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if p.default is not inspect.Parameter.empty else p
              for p in params]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from vram import api

        values = {name: kwargs.pop(name) for name, _ in shared}
        given = {k: values[k] for k in _given_options(kwargs.pop("vram_context"), list(values))}
        opts = api.prepare(given, function=fn.__name__) if prepare else given
        return fn(*args, opts=opts, **kwargs)

    hints = typing.get_type_hints(fn, include_extras=True)
    hints.pop("opts", None)
    hints.update(dict(shared))
    wrapper.__annotations__ = hints
    hints["vram_context"] = typer.Context
    wrapper.__signature__ = sig.replace(parameters=[*params, *extra, context])  # type: ignore[attr-defined]
    return wrapper
