"""Models on disk: a folder with config.json (and safetensors files), a config.json, or one
.safetensors file. Reads JSON and safetensors headers only; never loads weights or runs code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vram import presets
from vram.architectures import spec_from_config
from vram.errors import ConfigError, ModelResolutionError
from vram.resolved import Resolved, with_stored_weights
from vram.safetensors import TensorCounts, header_length, parse_header


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelResolutionError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc


def read_safetensors_header(path: Path) -> TensorCounts:
    try:
        with path.open("rb") as f:
            n = header_length(f.read(8), str(path))
            header = f.read(n)
    except OSError as exc:
        raise ModelResolutionError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(header) < n:
        raise ModelResolutionError(f"{path}: safetensors header is truncated")
    return parse_header(header, str(path))


def count_folder(folder: Path) -> TensorCounts | None:
    """Tensor counts of every safetensors shard in a folder (listed by the index when there is one)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        data = read_json(index)
        weight_map = data.get("weight_map") if isinstance(data, dict) else None
        if not isinstance(weight_map, dict):
            raise ModelResolutionError(f"{index} has no weight_map")
        files = sorted({str(v) for v in weight_map.values()})
    else:
        files = sorted(p.name for p in folder.glob("*.safetensors"))
    if not files:
        return None
    total = TensorCounts()
    for name in files:
        shard = folder / name
        if not shard.is_file():
            raise ModelResolutionError(f"{index.name} names {name}, which is not in {folder}")
        total.merge(read_safetensors_header(shard))
    return total


def resolve_local(path: Path) -> Resolved:
    path = path.resolve()
    if path.is_dir():
        config_path = path / "config.json"
        if not config_path.is_file():
            raise ModelResolutionError(f"{path} has no config.json")
        counts = count_folder(path)
    elif path.suffix == ".safetensors":
        config_path = path.parent / "config.json"
        counts = read_safetensors_header(path)
        if not config_path.is_file():
            return with_stored_weights(None, counts, model_id=path.name, source="local", location=str(path),
                                       config=None)
    elif path.suffix == ".json":
        config_path = path
        counts = None
    else:
        raise ModelResolutionError(f"{path}: expected a folder, a config.json or a .safetensors file")
    config = read_json(config_path)
    if not isinstance(config, dict):
        raise ConfigError(f"{config_path} is not a JSON object")
    model_id = str(config.get("_name_or_path") or (path.name if path.is_dir() else path.parent.name))
    return with_stored_weights(
        lambda: spec_from_config(config, model_id=model_id, towers=presets.find_tower),
        counts, model_id=model_id, source="local", location=str(path), config=config)
