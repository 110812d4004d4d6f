"""A checkpoint's quantization_config -> which weight matrices it stores in which format. Pure.

:func:`stored_scheme` reads the config as each library writes it and returns a :class:`StoredScheme`:
the format of the quantized matrices (with the config's own bits, group and block sizes), which
matrices it covers, and the format everything else is stored in. The weights term
(:mod:`vram.terms.weights`) asks :meth:`StoredScheme.quantizes` about every Linear, with a path
spelled the way transformers names the module (``model.layers.3.self_attn.q_proj``), so that the
config's ignore lists (modules_to_not_convert, ignore, exclude_modules, skip_modules) apply as written.

Rules shared by every method, as the libraries apply them: embeddings, norms and biases are never
quantized; lm_head only where the config says so; MoE routers (transformers builds DeepSeek's as a
plain parameter, and quantizers leave the small gate matrices alone) stay unquantized. Layouts and
their sources: docs/math.md "Checkpoints as they are stored".
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from vram.precision import Format, FormatTable

Targets = Literal["linear", "experts"]
ROUTER_NAMES = ("gate", "router", "shared_expert_gate")


class QuantizationConfigError(ValueError):
    """A quantization_config that cannot be read (the caller turns it into a note or an error)."""


@dataclass(frozen=True, eq=False)
class StoredScheme:
    """How a pre-quantized checkpoint stores its weights."""

    method: str
    fmt: Format
    """Format of the quantized matrices."""
    unquantized: Format
    """Format of every other tensor: embeddings, norms, biases, routers (the checkpoint's torch_dtype)."""
    targets: Targets = "linear"
    """linear: every decoder Linear; experts: only routed experts' matrices."""
    ignore: tuple[str, ...] = ()
    """Module patterns left unquantized: names, globs with *, or re:REGEX."""
    only: tuple[str, ...] = ()
    """When not empty, only modules matching one of these are quantized (compressed-tensors targets)."""
    head: bool = False
    """lm_head quantized too."""
    per_module: Mapping[str, Format] | None = None
    """Mixed precision (ModelOpt MIXED_PRECISION): the format of each module the checkpoint lists, by its
    own name (a parent's name covers its children); modules it does not list stay unquantized."""
    expert_fmt: Format | None = None
    """Format of the routed experts' matrices when it differs from :attr:`fmt` (DeepSeek-V4's expert_dtype fp4)."""

    @property
    def label(self) -> str:
        return self.fmt.label

    def format_of(self, path: str, *, expert: bool, router: bool) -> Format | None:
        """The format the weight matrix of the module at ``path`` is stored in; None: unquantized."""
        if self.per_module is None:
            if not self.quantizes(path, expert=expert, router=router):
                return None
            return self.expert_fmt if expert and self.expert_fmt is not None else self.fmt
        if router:
            return None
        for name in spellings(path):
            parts = name.split(".")
            for end in range(len(parts), 0, -1):
                fmt = self.per_module.get(".".join(parts[:end]))
                if fmt is not None:
                    return fmt
        return None

    def quantizes(self, path: str, *, expert: bool, router: bool) -> bool:
        """Whether the weight matrix of the module at ``path`` is stored in :attr:`fmt`."""
        if router:
            return False
        if path == "lm_head" and not self.head:
            return False
        if self.targets == "experts" and not expert:
            return False
        names = spellings(path)
        if self.only and not any(matches(p, n) for p in self.only for n in names):
            return False
        return not any(matches(p, n) for p in self.ignore for n in names)


_TEXT_PREFIXES = ("model.language_model.", "language_model.model.")


def _prefixed(path: str) -> tuple[str, ...]:
    if not path.startswith("model.layers."):
        return (path,)
    rest = path[len("model."):]
    return (path, *(prefix + rest for prefix in _TEXT_PREFIXES))


def spellings(path: str) -> tuple[str, ...]:
    """``path`` and the other names a checkpoint may give that module (:func:`_spellings`)."""
    names = _spellings(path)
    return names if path in names else (path, *names)


def _spellings(path: str) -> tuple[str, ...]:
    """The names a checkpoint may give the module at ``path``: inside a vision-language wrapper the text
    decoder's layers are ``model.language_model.layers.N`` (transformers 5.x) or
    ``language_model.model.layers.N`` (older transformers, remote code such as Kimi-K2.5), and its head
    ``language_model.lm_head``; ignore lists are written with the checkpoint's own names. ``path`` may
    use any of these spellings (Component.layer_path)."""
    for prefix in (*_TEXT_PREFIXES, "model.text_model."):
        if path.startswith(prefix + "layers."):
            path = "model." + path[len(prefix):]
            break
    if ".mlp.shared_expert." in path:
        # One shared expert module is mlp.shared_expert (Qwen MoE) or mlp.shared_experts (DeepSeek, Kimi, GLM).
        plural = path.replace(".mlp.shared_expert.", ".mlp.shared_experts.")
        return (*_prefixed(path), *_prefixed(plural))
    if path.startswith("model.layers."):
        return _prefixed(path)
    if path == "lm_head":
        return (path, "language_model.lm_head")
    return (path,)


def matches(pattern: str, path: str) -> bool:
    """Whether an ignore/target pattern names the module at ``path`` or one that contains it.

    ``re:`` patterns are regular expressions matched from the start (compressed-tensors); patterns
    with ``*`` are globs over the module path or any of its parents (gpt-oss's
    modules_to_not_convert); any other name matches whole dotted components of the path, as the
    substring tests of transformers' quantizers do for names like ``lm_head`` or ``self_attn``.
    """
    if pattern.startswith("re:"):
        try:
            return re.match(pattern[3:], path) is not None
        except re.error:
            return False
    parts = path.split(".")
    if "*" in pattern:
        return any(fnmatch.fnmatchcase(".".join(parts[:i]), pattern) for i in range(1, len(parts) + 1))
    return f".{pattern}." in f".{path}."


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        out: list[str] = []
        for v in value:
            out.extend(_names(v))
        return tuple(out)
    return ()


def _int(q: Mapping[str, Any], *keys: str, default: int | None = None) -> int | None:
    for k in keys:
        v = q.get(k)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    return default


def _fmt(base: Format, name: str, label: str, source: str, **kw: Any) -> Format:
    return replace(base, name=name, label=label, source=source, aliases=(), **kw)


def _group(bits: int, group: int | None, per_group: int, **kw: Any) -> dict[str, Any]:
    """Fields of a layout with ``per_group`` bits per group of inputs (group -1 or None: per row)."""
    if group is None or group <= 0:
        return {"weight_bits": bits, "group_size": None, "group_overhead_bits": 0, "row_overhead_bits": per_group,
                **kw}
    return {"weight_bits": bits, "group_size": group, "group_overhead_bits": per_group, "row_overhead_bits": 0,
            **kw}


def stored_scheme(q: Mapping[str, Any], formats: FormatTable, torch_dtype: str | None = None) -> StoredScheme:
    """The storage of a checkpoint from its quantization_config and torch_dtype (default bf16)."""
    method = str(q.get("quant_method") or q.get("quantization_method") or "").lower()
    reader = _READERS.get(method)
    if reader is None:
        raise QuantizationConfigError(f"quant_method {method or '(none)'!r} is not one vram reads")
    unq_name = {"float32": "fp32", "float16": "fp16"}.get(str(torch_dtype), "bf16")

    def base(name: str) -> Format:
        fmt = next((f for f in formats.formats if f.name == name), None)
        if fmt is None:
            raise QuantizationConfigError(f"the bundled format {name} is missing")
        return fmt

    return reader(q, base, method, base(unq_name))


Reader = Callable[[Mapping[str, Any], Callable[[str], Format], str, Format], StoredScheme]


def _fp8(q: Mapping[str, Any], base: Callable[[str], Format], method: str, unq: Format) -> StoredScheme:
    """transformers FineGrainedFP8 / DeepSeek-V3: E4M3 weights, fp32 weight_scale_inv per block."""
    block = q.get("weight_block_size")
    ignore = _names(q.get("modules_to_not_convert")) + _names(q.get("ignored_layers"))
    if isinstance(block, list) and len(block) == 2 and all(isinstance(b, int) and b > 0 for b in block):
        if block[0] != block[1]:
            raise QuantizationConfigError(f"fp8 weight_block_size {block} is not square")
        fmt = base("fp8-block")
        if block[0] != fmt.tile_size:
            fmt = _fmt(fmt, f"fp8-block{block[0]}", f"FP8 ({block[0]}x{block[0]} block scales)", fmt.source,
                       tile_size=block[0])
        return StoredScheme(method=method, fmt=fmt, unquantized=unq, ignore=ignore,
                            expert_fmt=_fp4_experts(q, base))
    return StoredScheme(method=method, fmt=base("fp8"), unquantized=unq, ignore=ignore,
                        expert_fmt=_fp4_experts(q, base))


def _fp4_experts(q: Mapping[str, Any], base: Callable[[str], Format]) -> Format | None:
    """expert_dtype "fp4" (DeepSeek-V4; transformers 5.23 integrations/finegrained_fp8.py FP8Experts): the
    routed experts pack two E2M1 values per byte with one scale per row per 32 inputs, UE8M0 with
    scale_fmt "ue8m0" (the MXFP4 layout), else fp32."""
    dtype = q.get("expert_dtype", "fp8")
    if dtype == "fp8":
        return None
    if dtype != "fp4":
        raise QuantizationConfigError(f"fp8 expert_dtype {dtype!r} is not fp8 or fp4")
    mx = base("mxfp4")
    if q.get("scale_fmt") == "ue8m0":
        return mx
    return _fmt(mx, "fp4-e2m1-fp32", "FP4 (E2M1, fp32 scale per 32)", "transformers FP8Experts with expert_dtype "
                "fp4: packed E2M1 weights + an fp32 scale per 32 inputs", group_overhead_bits=32)


def _fbgemm_fp8(q: Mapping[str, Any], base: Callable[[str], Format], method: str, unq: Format) -> StoredScheme:
    fp8 = base("fp8")
    fmt = _fmt(fp8, "fp8-row", "FP8 (per-row scale)", "transformers FbgemmFp8Linear: E4M3 weight + fp32 "
               "weight_scale per output row", tensor_overhead_bits=0, row_overhead_bits=32)
    return StoredScheme(method=method, fmt=fmt, unquantized=unq, ignore=_names(q.get("modules_to_not_convert")))


def _mxfp4(q: Mapping[str, Any], base: Callable[[str], Format], method: str, unq: Format) -> StoredScheme:
    """gpt-oss: only the experts' matrices are MXFP4 (transformers Mxfp4HfQuantizer swaps GptOssExperts)."""
    return StoredScheme(method=method, fmt=base("mxfp4"), unquantized=unq, targets="experts",
                        ignore=_names(q.get("modules_to_not_convert")))


def _gptq(q: Mapping[str, Any], base: Callable[[str], Format], method: str, unq: Format) -> StoredScheme:
    """AutoGPTQ / GPTQModel QuantLinear: qweight (bits), fp16 scales and packed zeros per group, int32 g_idx."""
    bits = _int(q, "bits", "w_bit", default=4) or 4
    group = _int(q, "group_size", "q_group_size", default=128)
    fmt = _fmt(base("int4"), f"gptq-{bits}bit", f"INT{bits} (GPTQ g{group})",
               "AutoGPTQ QuantLinear: packed qweight, fp16 scales + packed zeros per group, int32 g_idx per input",
               **_group(bits, group, 16 + bits, column_overhead_bits=32))
    only = _names(q.get("modules_in_block_to_quantize"))
    return StoredScheme(method=method, fmt=fmt, unquantized=unq,
                        only=tuple(f"*.{n}" for n in only), head=bool(q.get("lm_head")),
                        ignore=_names(q.get("modules_to_not_convert")))


def _awq(q: Mapping[str, Any], base: Callable[[str], Format], method: str, unq: Format) -> StoredScheme:
    """AutoAWQ GEMM: qweight (bits), fp16 scales per group and packed zeros when zero_point."""
    bits = _int(q, "bits", "w_bit", default=4) or 4
    group = _int(q, "group_size", "q_group_size", default=128)
    zeros = bits if q.get("zero_point", True) else 0
    fmt = _fmt(base("awq"), f"awq-{bits}bit", f"INT{bits} (AWQ g{group})", base("awq").source,
               **_group(bits, group, 16 + zeros))
    return StoredScheme(method=method, fmt=fmt, unquantized=unq,
                        ignore=_names(q.get("modules_to_not_convert")))


def _bnb(q: Mapping[str, Any], base: Callable[[str], Format], method: str, unq: Format) -> StoredScheme:
    """bitsandbytes: 4-bit (nf4/fp4 + absmax per 64, nested when double quant) or LLM.int8 (+ SCB per row)."""
    skip = _names(q.get("llm_int8_skip_modules"))
    if q.get("load_in_4bit") or str(q.get("_load_in_4bit", "")).lower() == "true":
        fmt = base("nf4-dq" if q.get("bnb_4bit_use_double_quant") else "nf4")
        kind = str(q.get("bnb_4bit_quant_type") or "nf4")
        fmt = _fmt(fmt, fmt.name, f"{kind.upper()} (bitsandbytes{', double quant' if 'dq' in fmt.name else ''})",
                   fmt.source)
    elif q.get("load_in_8bit"):
        fmt = base("int8")
    else:
        raise QuantizationConfigError("bitsandbytes quantization_config says neither load_in_4bit nor load_in_8bit")
    return StoredScheme(method=method, fmt=fmt, unquantized=unq, ignore=skip)


def _hqq(q: Mapping[str, Any], base: Callable[[str], Format], method: str, unq: Format) -> StoredScheme:
    """HQQ: packed nbits W_q + fp16 scale and zero per group (transformers HqqConfig)."""
    nested = q.get("quant_config")
    params: Mapping[str, Any] = nested if isinstance(nested, Mapping) else q
    inner = params.get("weight_quant_params")
    weight: Mapping[str, Any] = inner if isinstance(inner, Mapping) else params
    bits = _int(weight, "nbits", default=4) or 4
    group = _int(weight, "group_size", default=64)
    fmt = _fmt(base("int4"), f"hqq-{bits}bit", f"HQQ {bits}-bit g{group}",
               "HQQ (mobiusml/hqq): packed W_q + fp16 scale and zero per group",
               **_group(bits, group, 32, column_overhead_bits=0))
    return StoredScheme(method=method, fmt=fmt, unquantized=unq, ignore=_names(q.get("skip_modules")))


def _modelopt(q: Mapping[str, Any], base: Callable[[str], Format], method: str, unq: Format) -> StoredScheme:
    """NVIDIA ModelOpt: quant_algo FP8 (per-tensor weight and input scales) or NVFP4."""
    algo = str(q.get("quant_algo") or "").upper()
    ignore = _names(q.get("exclude_modules")) + _names(q.get("ignore"))
    if algo == "MIXED_PRECISION":
        layers = q.get("quantized_layers")
        if not isinstance(layers, Mapping) or not layers:
            raise QuantizationConfigError("modelopt MIXED_PRECISION quantization_config lists no quantized_layers")
        per: dict[str, Format] = {}
        for name, entry in layers.items():
            if not isinstance(entry, Mapping):
                raise QuantizationConfigError(f"modelopt quantized_layers entry {name!r} is not an object")
            per[str(name)] = _modelopt({**entry, "quant_method": method}, base, method, unq).fmt
        kinds = sorted({f.label for f in per.values()})
        fmt = _fmt(next(iter(per.values())), "modelopt-mixed", f"mixed ({' + '.join(kinds)})",
                   "NVIDIA ModelOpt MIXED_PRECISION: a quant_algo per module in quantized_layers")
        return StoredScheme(method=method, fmt=fmt, unquantized=unq, per_module=per, head="lm_head" in per)
    if "NVFP4" in algo:
        fmt = base("nvfp4")
        group = _int(q, "group_size")
        if group and group != fmt.group_size:
            fmt = _fmt(fmt, f"nvfp4-g{group}", f"NVFP4 (scale per {group})", fmt.source, group_size=group)
        return StoredScheme(method=method, fmt=fmt, unquantized=unq, ignore=ignore)
    if algo.startswith("FP8"):
        fp8 = base("fp8")
        fmt = _fmt(fp8, "fp8-tensor", "FP8 (per-tensor scales)", "ModelOpt FP8: E4M3 weight + fp32 weight_scale and "
                   "input_scale per tensor", tensor_overhead_bits=64)
        return StoredScheme(method=method, fmt=fmt, unquantized=unq, ignore=ignore)
    raise QuantizationConfigError(f"modelopt quant_algo {algo or '(none)'!r} is not one vram reads")


def _compressed(q: Mapping[str, Any], base: Callable[[str], Format], method: str, unq: Format) -> StoredScheme:
    """compressed-tensors (llm-compressor): one config group's weights scheme, its targets and ignore list."""
    groups = q.get("config_groups")
    if not isinstance(groups, Mapping) or not groups:
        raise QuantizationConfigError("compressed-tensors quantization_config has no config_groups")
    if len(groups) > 1:
        raise QuantizationConfigError("compressed-tensors with several config_groups (mixed schemes) is not read yet")
    group: Any = next(iter(groups.values()))
    w = group.get("weights") if isinstance(group, Mapping) else None
    if not isinstance(w, Mapping):
        raise QuantizationConfigError("compressed-tensors config group has no weights scheme")
    bits = _int(w, "num_bits", default=8) or 8
    kind = str(w.get("type") or "int")
    strategy = str(w.get("strategy") or "tensor")
    scale = unq.weight_bits
    zeros = 0 if w.get("symmetric", True) else bits
    packed = bits < 8
    extra = 128 if packed else 0  # weight_shape: two int64 per packed tensor
    fields: dict[str, Any]
    if kind == "float" and bits == 4:
        group_size = _int(w, "group_size", default=16) or 16
        fmt = _fmt(base("nvfp4"), "nvfp4", f"NVFP4 g{group_size}", "compressed-tensors nvfp4-pack-quantized: packed "
                   "E2M1 + F8_E4M3 scale per group + fp32 global scales", group_size=group_size)
        return _ct_scheme(q, group, method, fmt, unq)
    if strategy == "group" or strategy == "tensor_group":
        fields = _group(bits, _int(w, "group_size", default=128), scale + zeros)
    elif strategy == "channel":
        fields = _group(bits, None, scale + zeros)
    elif strategy == "block":
        shape = w.get("block_structure")
        side = shape[0] if isinstance(shape, list) and shape and isinstance(shape[0], int) else 128
        fields = {"weight_bits": bits, "group_size": None, "group_overhead_bits": 0, "row_overhead_bits": 0,
                  "tile_size": side, "tile_overhead_bits": 32}
    else:
        fields = {"weight_bits": bits, "group_size": None, "group_overhead_bits": 0, "row_overhead_bits": 0,
                  "tensor_overhead_bits": 32}
    if str(w.get("actorder") or "").lower() == "group":
        fields["column_overhead_bits"] = 32
    fields["tensor_overhead_bits"] = fields.get("tensor_overhead_bits", 0) + extra
    inputs = group.get("input_activations")
    if isinstance(inputs, Mapping) and not inputs.get("dynamic", False):
        fields["tensor_overhead_bits"] += 32  # a static input_scale per Linear
    name = f"{'fp' if kind == 'float' else 'int'}{bits}-{strategy}"
    label = (f"{'FP' if kind == 'float' else 'INT'}{bits} {strategy}"
             + (f" g{fields['group_size']}" if fields.get("group_size") else ""))
    fmt = _fmt(base("w4a16"), name, label, "compressed-tensors: weight (packed when under 8 bits), weight_scale "
               "(and weight_zero_point when asymmetric) per tensor, channel, group or block", **fields)
    return _ct_scheme(q, group, method, fmt, unq)


def _ct_scheme(q: Mapping[str, Any], group: Mapping[str, Any], method: str, fmt: Format, unq: Format) -> StoredScheme:
    targets = _names(group.get("targets"))
    only = tuple(t for t in targets if t != "Linear")
    return StoredScheme(method=method, fmt=fmt, unquantized=unq, only=only, ignore=_names(q.get("ignore")))


_READERS: dict[str, Reader] = {
    "fp8": _fp8, "fbgemm_fp8": _fbgemm_fp8, "mxfp4": _mxfp4, "gptq": _gptq, "awq": _awq,
    "bitsandbytes": _bnb, "hqq": _hqq, "modelopt": _modelopt, "compressed-tensors": _compressed,
}
