"""What resolving MODEL yields: a ModelSpec and where it came from, with the checkpoint's storage:
its tensors as counted from safetensors headers when they were read, and the storage its
quantization_config describes (for presets and bare configs too)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from vram import presets
from vram.architectures import spec_from_size
from vram.errors import UnsupportedModelError
from vram.model import ModelSpec
from vram.quantization import QuantizationConfigError, StoredScheme, stored_scheme
from vram.safetensors import TensorCounts


@dataclass(frozen=True, eq=False)
class Resolved:
    spec: ModelSpec
    source: str  # "size" | "preset" | "local" | "hub"
    location: str
    expected_parameters: int | None = None
    gguf: Any = None
    """The GGUF files' headers (vram.gguf_model.GGUFModel) when MODEL is a GGUF model."""


def quantization_method(config: Mapping[str, Any] | None) -> str | None:
    if not config:
        return None
    q = _quantization_config(config)
    if q is not None:
        method = q.get("quant_method") or q.get("quantization_method") or "unknown"
        return str(method)
    return None


def _quantization_config(config: Mapping[str, Any]) -> Mapping[str, Any] | None:
    q = config.get("quantization_config")
    if not isinstance(q, dict):
        text = config.get("text_config")
        q = text.get("quantization_config") if isinstance(text, dict) else None
    return q if isinstance(q, dict) else None


def with_modelopt_sidecar(config: dict[str, Any], sidecar: Any) -> dict[str, Any] | None:
    """The config with the quantization that NVIDIA ModelOpt wrote beside it in hf_quant_config.json
    (``{"quantization": {"quant_algo": ..., "group_size": ..., "exclude_modules": [...]}}``), when the
    config itself has no quantization_config, as vLLM reads such checkpoints (its modelopt quantization
    config names hf_quant_config.json as its file); None when there is nothing to add."""
    if _quantization_config(config) is not None or not isinstance(sidecar, dict):
        return None
    q = sidecar.get("quantization")
    if not isinstance(q, dict) or not q.get("quant_algo"):
        return None
    return {**config, "quantization_config": {"quant_method": "modelopt", **q}}


def with_quantization(spec: ModelSpec, config: Mapping[str, Any] | None) -> ModelSpec:
    """The spec with the storage its config's quantization_config describes, and a note saying so."""
    method = quantization_method(config)
    if method is None or config is None:
        return spec
    q = _quantization_config(config)
    assert q is not None
    if "expert_dtype" in config and "expert_dtype" not in q:
        # DeepSeek-V4 writes expert_dtype beside quantization_config; DeepseekV4Config folds it in
        q = {**q, "expert_dtype": config["expert_dtype"]}
    dtype = config.get("torch_dtype") or config.get("dtype")
    try:
        scheme = stored_scheme(q, presets.formats(), str(dtype) if dtype else None)
    except QuantizationConfigError as exc:
        note = f"pre-quantized ({method}), but {exc}: weights follow --dtype"
        return replace(spec, quantization=method, notes=spec.notes + (note,))
    experts = f", routed experts in {scheme.expert_fmt.label}" if scheme.expert_fmt else ""
    note = (f"pre-quantized ({method}): with --dtype auto, weights as stored: {_scope(scheme)} in "
            f"{scheme.fmt.label}{experts}, the rest in {scheme.unquantized.name}")
    return replace(spec, quantization=method, stored_scheme=scheme, notes=spec.notes + (note,))


def _scope(scheme: StoredScheme) -> str:
    if scheme.per_module is not None:
        return f"the {len(scheme.per_module)} modules its quantized_layers lists"
    what = "routed experts' matrices" if scheme.targets == "experts" else "decoder Linear weights"
    if scheme.only:
        what += f" matching {', '.join(scheme.only)}"
    if scheme.ignore:
        shown = ", ".join(scheme.ignore[:4]) + (f" (+{len(scheme.ignore) - 4} more)" if len(scheme.ignore) > 4 else "")
        what += f" except {shown}"
    return what


def with_stored_weights(builder: Callable[[], ModelSpec] | None, counts: TensorCounts | None, *, model_id: str,
                        source: str, location: str, config: Mapping[str, Any] | None,
                        notes: Sequence[str] = ()) -> Resolved:
    """Build the spec from the config and reconcile it with the checkpoint's stored tensors."""
    notes = list(notes)
    spec: ModelSpec | None = None
    if builder is not None:
        try:
            spec = builder()
        except UnsupportedModelError as exc:
            if counts is None:
                raise
            notes.append(f"{exc.message}; counted from the safetensors totals instead (no KV cache or "
                         "activations without an architecture)")
    if spec is None:
        assert counts is not None
        spec = spec_from_size(counts.total_values, model_id=model_id)
        spec = replace(spec, model_type="safetensors", stored_weight_bytes=counts.total_bytes,
                       stored_weight_values=counts.total_values,
                       quantization=None if counts.all_float else "stored",
                       notes=tuple(notes) + (f"{counts.tensors} tensors stored: {_dtypes(counts)}",))
        return Resolved(spec=spec, source=source, location=location)
    spec = with_quantization(spec, config)
    method = spec.quantization
    if counts is not None:
        values, stored = counts.total_values, counts.total_bytes
        unbuilt = [c for c in spec.components if not c.loaded]
        if unbuilt and spec.text is not None and counts.layer_values:
            extra_values, extra_bytes = counts.layers_from(spec.text.num_layers)
            if extra_values:
                values, stored = values - extra_values, stored - extra_bytes
                notes.append(f"{extra_values:,} stored values ({extra_bytes:,} bytes) of layers "
                             f"{spec.text.num_layers} and later are not built by the runtime: left out")
        expected = spec.parameters
        differs = abs(values - expected) > max(1, expected // 1000)
        if method or differs:
            why = f"pre-quantized ({method})" if method else (
                f"the checkpoint stores {values:,} values against {expected:,} parameters from the config")
            notes.append(f"{why}: weights counted as stored, tensor by tensor ({_dtypes(counts)})")
            spec = replace(spec, stored_weight_bytes=stored, stored_weight_values=values)
        else:
            notes.append(f"safetensors total {values:,} agrees with the config count")
    spec = replace(spec, notes=spec.notes + tuple(notes))
    return Resolved(spec=spec, source=source, location=location)


def _dtypes(counts: TensorCounts) -> str:
    return ", ".join(f"{k} {v:,} values / {counts.bytes.get(k, 0):,} bytes" for k, v in sorted(counts.values.items()))
