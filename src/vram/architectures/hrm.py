"""HRM text (transformers models/hrm_text/modeling_hrm_text.py, HrmTextForCausalLM).

The Hierarchical Reasoning Model keeps two stacks of ``num_layers_per_stack`` decoder layers, a low-level
one (``L_module``) and a high-level one (``H_module``), and runs them recurrently: for each of
``H_cycles`` high cycles, the L stack ``L_cycles`` times and then the H stack once. Weights: the two
stacks (attention with q/k/v/o and a sigmoid output gate, all heads x head_dim wide with biases per
``attention_bias``; a SwiGLU MLP with biases per ``mlp_bias``; RMSNorms without weights), the
embeddings, the untied lm_head (per ``tie_word_embeddings``) and ``z_L_init``, the low stack's initial
state (a parameter, not trained). Compute and cache: every invocation is a layer of its own, and the
cache keeps K and V per token for each of them: ``num_layers_per_stack x H_cycles x (L_cycles + 1)``
layers, which HrmTextConfig stores as ``num_hidden_layers`` (a config without ``num_layers_per_stack``
is a legacy one whose ``num_hidden_layers`` is the stack depth).
"""

from __future__ import annotations

from dataclasses import replace

from vram.architectures import layers as L
from vram.architectures._config import Cfg
from vram.architectures.generic import Family, assemble
from vram.architectures.reader import Reading, read_basics, require_basics
from vram.errors import ConfigError
from vram.model import Block, Component, Linear, ModelSpec

FAMILY = Family(modeling="transformers models/hrm_text/modeling_hrm_text.py", final_norm=False,
                defaults={"head_dim": 128, "H_cycles": 2, "L_cycles": 3})


def build_hrm_text(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    r = Reading(cfg, FAMILY.defaults, FAMILY.aliases)
    require_basics(r, model_type, needs_mlp=True)
    b = read_basics(r)
    if b.kv_heads != b.heads and r.given("num_key_value_heads"):
        raise ConfigError("config field 'num_key_value_heads' differs from the heads: HRM's attention has none")
    b = replace(b, kv_heads=b.heads)
    cycles = r.int("H_cycles") * (r.int("L_cycles") + 1)
    per_stack = r.int("num_layers_per_stack") if r.has("num_layers_per_stack") else b.layers
    invocations = per_stack * cycles
    if r.has("num_layers_per_stack") and b.layers != invocations:
        raise ConfigError(f"config field 'num_hidden_layers' ({b.layers}) is not num_layers_per_stack x H_cycles "
                          f"x (L_cycles + 1) = {invocations}")
    b = replace(b, layers=invocations)
    h, width = b.hidden, r.int("intermediate_size")
    bias = r.bool("attention_bias", False)
    att = L.attention(h, b.heads, b.heads, b.head_dim, kind="full", qkv_bias=bias, o_bias=bias)
    gate = Linear(name="gate_proj", in_features=h, out_features=b.heads * b.head_dim, bias=bias)
    mlp = L.mlp(h, width, gated=True, fused=False, bias=r.bool("mlp_bias", False))
    stacks = Component(name="stacks", kind="other", blocks=(
        Block(name="stack_layer", count=2 * per_stack, linears=att.linears + (gate,) + mlp),
        Block(name="z_L_init", other_params=h)))
    compute = Block(name="decoder_layer", attention=att.attention, mlp_width=width)  # weights in the stacks
    spec = assemble(r, FAMILY, b, model_type, [compute] * invocations, model_id=model_id, cfg=cfg, generic=False)
    components = spec.components[:1] + (stacks,) + spec.components[1:]
    note = (f"two stacks of {per_stack} layers (weights counted once) run {cycles} times each pass: "
            f"{invocations} layer invocations, each with its own K/V cache")
    return replace(spec, components=components, notes=spec.notes + (note,))


BUILDERS = {"hrm_text": build_hrm_text}
