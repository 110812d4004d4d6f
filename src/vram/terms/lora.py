"""LoRA adapter selection: which decoder Linears ``--lora-targets`` adapts, by PEFT's matching rules.

PEFT (peft/tuners/tuners_utils.py, ``check_target_module_exists``, 0.13-0.17) matches each module's
full name (``model.layers.3.self_attn.q_proj``): a ``target_modules`` string is a regular expression
that must match the whole name; a list names modules that match when the full name equals an entry or
ends with ``.entry`` (so ``q_proj``, ``self_attn.q_proj`` and the full name all select it). The full
names here are :func:`vram.terms.weights.module_path`'s, layer by layer, so a full name or a regular
expression may select some layers only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from vram.errors import UsageError, clip
from vram.model import Block, Component, Linear, ModelSpec
from vram.terms.weights import module_path

LORA_KEYWORDS = ("attention", "all-linear")
_ATTENTION_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj", "qkv_proj", "c_attn", "attn.c_proj", "query_key_value",
                    "dense", "q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj")
# Characters that make a target a regular expression ('.' is the module path separator, so not one).
_REGEX_CHARS = frozenset("*+?[](){}|^$\\")


def is_regex(target: str) -> bool:
    return any(c in _REGEX_CHARS for c in target)


def _decoder_linears(spec: ModelSpec) -> Iterator[tuple[Component, Block, Linear, int]]:
    """Each decoder Linear with the index of its block's first layer (as module_bytes numbers them)."""
    for comp in spec.components:
        if comp.kind != "decoder" or not comp.loaded:
            continue
        first = 0
        for b in comp.blocks:
            for lin in b.linears:
                yield comp, b, lin, first
            if b.linears:
                first += b.count


def lora_module_names(spec: ModelSpec) -> list[str]:
    """The names a --lora-targets list can hold for the decoder's Linears: each one's path below its
    layer (``self_attn.q_proj``) and every dotted suffix of it (``q_proj``), case-sensitive."""
    names: dict[str, None] = {}
    for comp, _, lin, first in _decoder_linears(spec):
        parts = module_path(comp, lin, first)[len(comp.layer_path) + 1:].split(".")[1:]  # after <layers>.N
        for i in range(len(parts)):
            names[".".join(parts[i:])] = None
    return sorted(names)


def _names_match(path: str, targets: tuple[str, ...]) -> bool:
    return any(path == t or path.endswith("." + t) for t in targets if t not in LORA_KEYWORDS)


def check_lora_targets(spec: ModelSpec, targets: tuple[str, ...]) -> None:
    """Refuse target names the model does not have, and targets that adapt nothing (PEFT raises
    on both: "Target modules ... not found in the base model")."""
    if not spec.has_architecture:
        if set(targets) != {"all-linear"}:
            raise UsageError("a size literal has no layers or module names: --lora-targets takes all-linear for it")
        return
    patterns = [t for t in targets if is_regex(t)]
    if patterns and len(targets) > 1:
        raise UsageError(f"--lora-targets {clip(','.join(targets))}: a regular expression is the whole target "
                         "(PEFT reads a target_modules string as one expression over the full module name); "
                         "give it alone, e.g. '.*\\.(q_proj|v_proj)'")
    if patterns:
        try:
            re.compile(patterns[0])
        except re.error as exc:
            raise UsageError(f"--lora-targets {clip(patterns[0])!r} is not a valid regular expression: {exc}") from exc
    known = lora_module_names(spec)
    paths = [module_path(comp, lin, i) for comp, b, lin, first in _decoder_linears(spec)
             for i in range(first, first + b.count)]
    unknown = [t for t in targets if t not in LORA_KEYWORDS and not patterns and not _names_match_any(paths, t)]
    if unknown:
        shown = ", ".join(repr(clip(t)) for t in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise UsageError(f"--lora-targets {shown}: {spec.id} has no such module (names are case-sensitive); "
                         f"its decoder's Linear modules are {', '.join(known)} (also as full names, "
                         f"{paths[0] if paths else 'model.layers.0.self_attn.q_proj'}), or use attention or "
                         "all-linear")
    if not known:  # e.g. ALBERT's one shared layer group: no per-layer decoder Linear to list or adapt
        raise UsageError(f"--mode lora/qlora: {spec.id} has no decoder Linear module that LoRA could adapt")
    if not any(True for _ in lora_linears(spec, targets)):
        raise UsageError(f"--lora-targets {clip(','.join(targets))} adapts no Linear module of {spec.id}; "
                         "use all-linear or module names: " + ", ".join(known))


def _names_match_any(paths: list[str], target: str) -> bool:
    return any(_names_match(p, (target,)) for p in paths)


def lora_linears(spec: ModelSpec, targets: tuple[str, ...]) -> Iterator[tuple[Block, Linear]]:
    """The adapted Linears, each with its block narrowed to the layers selected (a regular expression
    over full names may select some of a block's layers)."""
    regex = re.compile(targets[0]) if len(targets) == 1 and is_regex(targets[0]) else None
    for comp, b, lin, first in _decoder_linears(spec):
        short = lin.name.split(".")[-1]
        if "all-linear" in targets:
            yield b, lin
        elif "attention" in targets and (lin.name in _ATTENTION_NAMES or short in _ATTENTION_NAMES):
            yield b, lin
        else:
            layers = sum(1 for i in range(first, first + b.count)
                         if _selects(module_path(comp, lin, i), targets, regex))
            if layers:
                yield (b if layers == b.count else replace(b, count=layers)), lin


def _selects(path: str, targets: tuple[str, ...], regex: re.Pattern[str] | None) -> bool:
    return regex.fullmatch(path) is not None if regex is not None else _names_match(path, targets)


def lora_parameters(spec: ModelSpec, rank: int, targets: tuple[str, ...]) -> int:
    """Trainable LoRA parameters: r x (in + out) per adapted matrix (LoRA, arXiv:2106.09685)."""
    return sum(b.count * lin.copies * rank * (lin.in_features + lin.out_features)
               for b, lin in lora_linears(spec, targets))
