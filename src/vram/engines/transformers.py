"""transformers' generate (the default engine): the model loaded whole, a KV cache for batch x seq_len
tokens, one layer's forward or the logits as the transient peak (vram.estimate; docs/math.md).

It allocates only what the workload asks for, so it starts whenever the total fits the GPU's usable
memory. The layered and CPU-offload runtimes (vram.runtimes) rearrange this engine's terms.
"""

from __future__ import annotations

from dataclasses import dataclass

from vram.capacity import solve_max
from vram.engines import EngineAllocation, EngineInput, Solved
from vram.errors import UsageError
from vram.estimate import estimate
from vram.workload import with_solved

# Every shared workload option means something here (the CLI's WORKLOAD_OPTIONS).
OPTIONS = frozenset({
    "mode", "batch_size", "seq_len", "kv_dtype", "optimizer", "precision", "gradient_checkpointing", "attention",
    "mamba_kernels",
    "images", "frames", "image_size", "lora_rank", "lora_targets", "lora_dtype", "double_quant", "gpus",
    "overhead_percent", "tp", "pp", "zero", "fsdp", "shard_size", "offload", "micro_batch_size", "grad_accum",
    "runtime", "compression", "cpu_memory",
    # how a training step runs (options.training_options)
    "loss", "loss_chunks", "compile_loss", "fused_kernel", "optimizer_in_backward", "activation_offload",
    "framework", "tuning", "reference", "num_generations", "max_completion_length"})


@dataclass(frozen=True)
class _Transformers:
    name: str = "transformers"
    options: frozenset[str] = OPTIONS
    solve_targets: tuple[str, ...] = ("seq-len", "batch-size")

    def allocate(self, inp: EngineInput) -> EngineAllocation:
        est = estimate(inp.spec, inp.workload, gguf_types=inp.gguf_types)
        return EngineAllocation(name=self.name, estimate=est, needed_bytes=est.total_bytes)

    def solve(self, inp: EngineInput, target: str) -> Solved:
        if target not in self.solve_targets:
            raise UsageError(f"unknown --solve {target!r}; choose {' or '.join(self.solve_targets)}")
        if inp.usable_bytes is None:
            raise UsageError("vram max needs --gpu NAME or --memory AMOUNT")
        value, cap = solve_max(inp.spec, inp.workload, inp.usable_bytes, target,  # type: ignore[arg-type]
                               gguf_types=inp.gguf_types)
        alloc = self.allocate(EngineInput(spec=inp.spec, workload=with_solved(inp.workload, target, value),  # type: ignore[arg-type]
                                          gguf_types=inp.gguf_types)) if value else None
        return Solved(target=target, value=value, cap=cap, allocation=alloc,
                      unit="tokens per sequence" if target == "seq-len" else "sequences")


ENGINE = _Transformers()
