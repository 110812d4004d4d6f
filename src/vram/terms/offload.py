"""Activation offload: saved tensors moved to CPU memory during training."""

from __future__ import annotations

from vram.breakdown import Term
from vram.workload import Workload


def offload(w: Workload, inputs: list[int], largest: int, stored: int) -> tuple[int, int, Term]:
    """Saved activations moved to CPU memory: (GPU bytes, CPU bytes, term). ``inputs``: each layer's
    checkpointed input in the order the layers run (an encoder's first, then the decoder's).

    torchtune's OffloadActivations (training/_activation_offloading.py) copies every saved tensor
    over 1 KiB to pinned CPU memory on a side stream and keeps the last ``max_fwd_stash_size`` (5)
    alive on the GPU until the copy is done; backward brings a node's tensors back as it runs and
    frees the previous node's. With checkpointing a layer saves one tensor (its input), so up to 5
    layer inputs (the last layers') stay on the GPU, plus the layer being recomputed. Without
    checkpointing a layer saves many tensors: the GPU keeps about two layers' worth (the one
    computing and the one in transfer). Unsloth's offloaded checkpoints (unsloth_zoo
    gradient_checkpointing.py) copy each layer's input to the CPU as the layer runs: one in flight
    (``offload_in_flight`` = 1).
    """
    n_layers = len(inputs)
    if w.gradient_checkpointing:
        kept = inputs[len(inputs) - min(n_layers, w.offload_in_flight):]
        on_gpu = sum(kept) + largest
        cpu = sum(inputs) - sum(kept) + max(0, stored - largest - sum(inputs))
        formula = "min(layers, in flight) x b x s x h x bytes + one layer recomputed; the other inputs on the CPU"
    else:
        on_gpu = min(stored, 2 * largest)
        cpu = max(0, stored - on_gpu)
        formula = "two layers' saved tensors (computing + in transfer); the rest on the CPU"
    term = Term(component="activations", name="activation offload (saved tensors on the CPU)", bytes=on_gpu,
                formula=formula, values={"in_flight": w.offload_in_flight, "cpu_bytes": cpu, "layers": n_layers},
                approximate=True,
                source="torchtune training/_activation_offloading.py OffloadActivations (max_fwd_stash_size 5); "
                       "torch.autograd.graph.saved_tensors_hooks")
    return on_gpu, cpu, term
