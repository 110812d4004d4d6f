"""Bundled data under presets/: formats, runtime constants, GPUs, model and vision-tower configs.

Every file is validated strictly (unknown keys are errors). The folder ships inside the wheel as
``vram/presets``; in a source checkout the top-level ``presets/`` folder is used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from vram._data import DataError, check_positive, from_dict
from vram.errors import PresetError
from vram.precision import Format, FormatTable
from vram.workload import Runtime

if TYPE_CHECKING:
    from vram.capacity import GpuCatalog
    from vram.engines.constants import EnginesFile
    from vram.engines.llamacpp_alloc import LlamaCppData
    from vram.frameworks import FrameworksFile
    from vram.gguf import GGMLType


@dataclass(frozen=True, eq=False)
class ModelPreset:
    schema_version: Literal[1]
    id: str
    parameters: int
    source: str
    config: dict[str, Any]

    def __post_init__(self) -> None:
        check_positive(self, "parameters")


@dataclass(frozen=True, eq=False)
class TowerPreset:
    schema_version: Literal[1]
    id: str
    source: str
    config: dict[str, Any]


@dataclass(frozen=True, eq=False)
class _FormatsFile:
    schema_version: Literal[1]
    formats: tuple[Format, ...]


@dataclass(frozen=True, eq=False)
class _RuntimeFile:
    schema_version: Literal[1]
    cuda_context_bytes: int
    allocator_reserve_fraction_inference: float
    allocator_reserve_fraction_training: float
    multi_gpu_comm_bytes: int
    source: str


@cache
def presets_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "presets", here.parent.parent / "presets"):
        if (candidate / "precisions.json").is_file():
            return candidate
    raise PresetError("the bundled presets folder is missing from this installation")


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PresetError(f"bundled preset {path.name} cannot be read: {exc}") from exc


def _validate(model: type[Any], path: Path) -> Any:
    try:
        return from_dict(model, _read(path))
    except DataError as exc:
        raise PresetError(f"bundled preset {path.name} is invalid: {exc}") from exc


@cache
def gpus() -> GpuCatalog:
    from vram.capacity import GpuCatalog, GpusFile

    data: GpusFile = _validate(GpusFile, presets_dir() / "gpus.json")
    keys = [k.lower() for g in data.gpus for k in (g.name, *g.aliases)]
    if len(set(keys)) != len(keys):
        raise PresetError("gpus.json names a GPU or alias twice")
    return GpuCatalog(gpus=data.gpus)


@cache
def formats() -> FormatTable:
    data: _FormatsFile = _validate(_FormatsFile, presets_dir() / "precisions.json")
    names = [f.name for f in data.formats]
    if len(set(names)) != len(names):
        raise PresetError("precisions.json names a format twice")
    return FormatTable(formats=data.formats)


@cache
def runtime() -> Runtime:
    data: _RuntimeFile = _validate(_RuntimeFile, presets_dir() / "runtime.json")
    try:
        return Runtime(cuda_context_bytes=data.cuda_context_bytes,
                       allocator_reserve_fraction_inference=data.allocator_reserve_fraction_inference,
                       allocator_reserve_fraction_training=data.allocator_reserve_fraction_training,
                       multi_gpu_comm_bytes=data.multi_gpu_comm_bytes, source=data.source)
    except ValueError as exc:
        raise PresetError(f"bundled preset runtime.json is invalid: {exc}") from exc


def _key(model_id: str) -> str:
    return model_id.strip().strip("/").lower().replace("/", "__")


@cache
def _model_files() -> dict[str, Path]:
    return {p.stem.lower(): p for p in sorted((presets_dir() / "models").glob("*.json"))}


def model_location(name: str) -> str:
    """Where the preset ``name`` is bundled: its file, relative to the folder that holds the presets
    (``presets/`` in a checkout, ``vram/presets/`` in an installed package)."""
    path = _model_files().get(_key(name))
    if path is None:
        raise PresetError(f"no bundled preset {name!r}")
    return path.relative_to(presets_dir().parent).as_posix()


def find_model(name: str) -> ModelPreset | None:
    """The bundled preset whose Hugging Face id is ``name`` (case-insensitive), if any."""
    path = _model_files().get(_key(name))
    if path is None:
        return None
    preset: ModelPreset = _validate(ModelPreset, path)
    if _key(preset.id) != path.stem.lower():
        raise PresetError(f"bundled preset {path.name} holds id {preset.id!r}, which does not match its file name")
    return preset


def model_ids() -> list[str]:
    return [p.stem.replace("__", "/") for p in _model_files().values()]


def all_models() -> list[ModelPreset]:
    out = []
    for stem in _model_files():
        preset = find_model(stem)
        assert preset is not None
        out.append(preset)
    return out


def find_tower(name: str) -> dict[str, Any] | None:
    path = presets_dir() / "towers" / f"{_key(name)}.json"
    if not path.is_file():
        for p in (presets_dir() / "towers").glob("*.json"):
            if p.stem.lower() == _key(name):
                path = p
                break
        else:
            return None
    tower: TowerPreset = _validate(TowerPreset, path)
    return tower.config


@dataclass(frozen=True, eq=False)
class _GgmlType:
    id: int
    name: str
    block_size: int
    type_size: int


@dataclass(frozen=True, eq=False)
class CudaBuffers:
    """How ggml's CUDA backend sizes a tensor in its buffers (presets/ggml_types.json)."""

    buffer_alignment: int
    matrix_row_padding: int
    source: str


@dataclass(frozen=True, eq=False)
class _GgmlTypesFile:
    schema_version: Literal[1]
    source: str
    cuda: CudaBuffers
    types: tuple[_GgmlType, ...]


@cache
def _ggml_file() -> _GgmlTypesFile:
    data: _GgmlTypesFile = _validate(_GgmlTypesFile, presets_dir() / "ggml_types.json")
    ids = [t.id for t in data.types]
    names = [t.name.lower() for t in data.types]
    if len(set(ids)) != len(ids) or len(set(names)) != len(names):
        raise PresetError("ggml_types.json names a type twice")
    if any(t.block_size <= 0 or t.type_size <= 0 for t in data.types):
        raise PresetError("ggml_types.json has a type without a positive block and size")
    return data


def ggml_types() -> dict[int, GGMLType]:
    """ggml tensor types by id: block size and bytes per block (ggml's type_traits)."""
    from vram.gguf import GGMLType

    return {t.id: GGMLType(id=t.id, name=t.name, block_size=t.block_size, type_size=t.type_size)
            for t in _ggml_file().types}


def ggml_cuda() -> CudaBuffers:
    return _ggml_file().cuda


@cache
def llamacpp() -> LlamaCppData:
    """llama.cpp's and Ollama's defaults and sliding-window rules (presets/llamacpp.json)."""
    from vram.engines.llamacpp_alloc import LlamaCppData

    data: LlamaCppData = _validate(LlamaCppData, presets_dir() / "llamacpp.json")
    return data


@cache
def frameworks() -> FrameworksFile:
    """Training frameworks' defaults (presets/frameworks.json)."""
    from vram.frameworks import FrameworksFile

    data: FrameworksFile = _validate(FrameworksFile, presets_dir() / "frameworks.json")
    names = [f.name for f in data.frameworks]
    if len(set(names)) != len(names):
        raise PresetError("frameworks.json names a framework twice")
    return data


def engines() -> EnginesFile:
    """Serving engines' constants (presets/engines.json)."""
    from vram.engines.constants import EnginesFile

    data: EnginesFile = _validate(EnginesFile, presets_dir() / "engines.json")
    return data


@dataclass(frozen=True, eq=False)
class RemoteClass:
    model_type: str
    source: str


@dataclass(frozen=True, eq=False)
class _ClassesFile:
    schema_version: Literal[1]
    source: str
    classes: dict[str, Any]
    remote_code: dict[str, Any]


@cache
def class_table() -> dict[str, str]:
    """Class name of a config's ``architectures`` -> model_type (presets/architectures.json, written by
    scripts/class_table.py from transformers' auto mappings, plus remote-code classes with their source).
    Read only when a config's model_type is one vram does not know."""
    data: _ClassesFile = _validate(_ClassesFile, presets_dir() / "architectures.json")
    table: dict[str, str] = {}
    for name, model_type in data.classes.items():
        if not isinstance(model_type, str):
            raise PresetError(f"architectures.json: classes.{name} must be a model_type string")
        table[name] = model_type
    for name, entry in data.remote_code.items():
        try:
            remote = from_dict(RemoteClass, entry, f"remote_code.{name}")
        except DataError as exc:
            raise PresetError(f"architectures.json: {exc}") from exc
        table[name] = remote.model_type
    return table


def find_class(name: str) -> str | None:
    """The model_type whose class is ``name``, or None."""
    return class_table().get(name)
