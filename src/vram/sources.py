"""Resolve the MODEL argument to a ModelSpec.

Order of resolution (docs/cli.md):
  1. a size literal (``7B``, ``72e9``)
  2. a bundled preset, by Hugging Face id, case-insensitive (answers offline)
  3. a local path (a folder with config.json, a config.json, a .safetensors file, a .gguf file or a
     folder of .gguf files)
  4. a Hugging Face Hub id (``org/name``), through the Hub adapter (a repo of .gguf files when it has
     no config.json, or when --gguf-file names one)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vram import presets
from vram.architectures import spec_from_config, spec_from_size
from vram.errors import ModelResolutionError, clip
from vram.resolved import Resolved, with_quantization
from vram.units import looks_like_parameter_count, parse_parameter_count

__all__ = ["HubOptions", "Resolved", "resolve"]


@dataclass(frozen=True, eq=False)
class HubOptions:
    revision: str | None = None
    token: str | None = None
    refresh: bool = False


def resolve(model: str, hub: HubOptions | None = None, gguf_file: str | None = None) -> Resolved:
    """Find ``model`` and build its ModelSpec. Raises ModelResolutionError or UsageError."""
    text = model.strip()
    if not text:
        raise ModelResolutionError("no model given")
    if looks_like_parameter_count(text):
        n = parse_parameter_count(text)
        return Resolved(spec=spec_from_size(n, model_id=text), source="size", location=text)
    hub = hub or HubOptions()
    preset = None if hub.refresh or hub.revision or gguf_file else presets.find_model(text)
    if preset is not None:
        spec = with_quantization(spec_from_config(preset.config, model_id=preset.id, towers=presets.find_tower),
                                 preset.config)
        return Resolved(spec=spec, source="preset", location=presets.model_location(preset.id),
                        expected_parameters=preset.parameters)
    path = Path(text).expanduser()
    if path.exists():
        from vram.gguf_files import looks_like_gguf, resolve_gguf_local

        if gguf_file is not None or looks_like_gguf(path):
            return resolve_gguf_local(path, gguf_file)
        from vram.local import resolve_local

        return resolve_local(path)
    if looks_like_path(text):
        raise ModelResolutionError(f"no such folder or file: {clip(text)!r}" + (
            f" ({clip(str(path))})" if text.startswith("~") else "") + " does not exist")
    return resolve_hub(text, hub, gguf_file)


def looks_like_path(text: str) -> bool:
    """Whether a MODEL argument is meant as a local path, not a Hub id (org/name) or a preset: it starts
    with ./ ../ / or ~, or it has more than one /, or the platform's own separator where that is not /."""
    if text in (".", "..") or text.startswith(("./", "../", "/", "~")):
        return True
    return text.count("/") > 1 or (os.sep != "/" and os.sep in text)


def resolve_hub(model_id: str, hub: HubOptions, gguf_file: str | None = None) -> Resolved:
    """The Hugging Face Hub adapter, imported only when the Hub is asked."""
    if model_id.count("/") != 1 or model_id.startswith(("/", ".", "~")) or model_id.endswith("/"):
        raise ModelResolutionError(
            f"unknown model {clip(model_id)!r}: not a bundled preset, a size literal (e.g. 7B), a local path "
            "or a Hub id (org/name); see `vram presets`")
    from vram.hub import resolve_from_hub
    from vram.hub_gguf import NoGgufFiles, has_cached_gguf, resolve_gguf_from_hub

    if gguf_file is not None:
        return resolve_gguf_from_hub(model_id, revision=hub.revision, token=hub.token, wanted=gguf_file)
    try:
        return resolve_from_hub(model_id, revision=hub.revision, token=hub.token)
    except ModelResolutionError as exc:
        if "has no config.json" not in exc.message and not has_cached_gguf(model_id, hub.revision):
            raise
        try:
            return resolve_gguf_from_hub(model_id, revision=hub.revision, token=hub.token, wanted=None)
        except NoGgufFiles:
            raise exc from None
