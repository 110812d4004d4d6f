"""Models on disk: a folder with config.json (and safetensors files), a config.json, or one
.safetensors file. Reads JSON and safetensors headers only; never loads weights or runs code."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vram import presets
from vram.architectures import spec_from_config
from vram.errors import ConfigError, ModelResolutionError, UnsupportedModelError
from vram.resolved import Resolved, with_modelopt_sidecar, with_stored_weights
from vram.safetensors import SHARD_NAME, TensorCounts, header_length, missing_shards, parse_header


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
            size = os.fstat(f.fileno()).st_size
            n = header_length(f.read(8), str(path))
            header = f.read(n)
    except OSError as exc:
        raise ModelResolutionError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(header) < n:
        raise ModelResolutionError(f"{path}: safetensors header is truncated")
    return parse_header(header, str(path), data_bytes=size - 8 - n)


@dataclass
class FolderCounts:
    """What the safetensors files of a folder say: their counts, or the shards that are missing."""

    counts: TensorCounts | None = None
    missing: list[str] = field(default_factory=list)
    expected: int = 0
    notes: list[str] = field(default_factory=list)


def _weight_files(folder: Path) -> tuple[list[str], list[str]]:
    """The checkpoint's safetensors files in a folder without an index, and those left aside: when a
    transformers checkpoint (model.safetensors or model-*-of-*) is there, other safetensors files
    (consolidated.safetensors of the original format, adapter_model.safetensors) are not its weights."""
    names = sorted(p.name for p in folder.glob("*.safetensors"))
    main = [n for n in names if n == "model.safetensors" or ((m := SHARD_NAME.match(n)) and m["prefix"] == "model")]
    if main and len(main) < len(names):
        return main, [n for n in names if n not in main]
    return names, []


def count_folder(folder: Path) -> FolderCounts:
    """Tensor counts of every safetensors shard in a folder (listed by the index when there is one)."""
    out = FolderCounts()
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        data = read_json(index)
        weight_map = data.get("weight_map") if isinstance(data, dict) else None
        if not isinstance(weight_map, dict):
            raise ModelResolutionError(f"{index} has no weight_map")
        files = sorted({str(v) for v in weight_map.values()})
        out.missing = [name for name in files if not (folder / name).is_file()]
        out.expected = len(files)
    else:
        files, ignored = _weight_files(folder)
        if ignored:
            out.notes.append(f"not counted as the model's weights: {', '.join(ignored)}")
        gone = missing_shards(files)
        out.missing = [name for names in gone.values() for name in names]
        out.expected = len(files) + len(out.missing)
    if not files or out.missing:
        return out
    total = TensorCounts()
    for name in files:
        total.merge(read_safetensors_header(folder / name))
    out.counts = total
    return out


def resolve_local(path: Path) -> Resolved:
    path = path.resolve()
    notes: list[str] = []
    if path.suffix == ".safetensors" and path.is_file():
        m = SHARD_NAME.match(path.name)
        if m and int(m["total"]) > 1:
            notes.append(f"{path.name} is one of {int(m['total'])} shards: the whole folder was read")
            path = path.parent
    folder: FolderCounts | None = None
    if path.is_dir():
        config_path = path / "config.json"
        folder = count_folder(path)
        counts = folder.counts
        notes.extend(folder.notes)
        if folder.missing:
            shown = ", ".join(folder.missing[:3]) + (f" and {len(folder.missing) - 3} more"
                                                     if len(folder.missing) > 3 else "")
            if not config_path.is_file():
                raise ModelResolutionError(f"{path} holds {folder.expected - len(folder.missing)} of the "
                                           f"{folder.expected} safetensors shards (missing {shown}) and no "
                                           "config.json: cannot count the model")
            notes.append(f"only {folder.expected - len(folder.missing)} of {folder.expected} safetensors shards are "
                         f"here (missing {shown}): counted from config.json, not from the shards")
        elif not config_path.is_file():
            raise ModelResolutionError(f"{path} has no config.json")
    elif path.suffix == ".safetensors":
        config_path = path.parent / "config.json"
        counts = read_safetensors_header(path)
        if not config_path.is_file():
            return with_stored_weights(None, counts, model_id=path.name, source="local", location=str(path),
                                       config=None, notes=notes)
    elif path.suffix == ".json":
        config_path = path
        counts = None
    else:
        raise ModelResolutionError(f"{path}: expected a folder, a config.json or a .safetensors file")
    config = read_json(config_path)
    if not isinstance(config, dict):
        raise ConfigError(f"{config_path} is not a JSON object")
    sidecar = config_path.parent / "hf_quant_config.json"
    if sidecar.is_file():
        merged = with_modelopt_sidecar(config, read_json(sidecar))
        if merged is not None:
            config = merged
            notes.append("config.json has no quantization_config: the quantization in hf_quant_config.json "
                         "(NVIDIA ModelOpt) was read")
    model_id = str(config.get("_name_or_path") or (path.name if path.is_dir() else path.parent.name))
    try:
        return with_stored_weights(
            lambda: spec_from_config(config, model_id=model_id, towers=presets.find_tower),
            counts, model_id=model_id, source="local", location=str(path), config=config, notes=notes)
    except UnsupportedModelError as exc:
        if folder is not None and folder.missing:
            raise UnsupportedModelError(f"{exc.message}, and {len(folder.missing)} of the {folder.expected} "
                                        "safetensors shards are missing, so they cannot be counted instead") from exc
        raise
