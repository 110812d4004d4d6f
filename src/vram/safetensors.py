"""Safetensors headers -> tensor counts by dtype, never reading the weights.

A safetensors file starts with an 8-byte little-endian header length and a JSON header mapping
each tensor name to its dtype, shape and byte range (https://github.com/huggingface/safetensors,
format description). This module is pure: it parses bytes it is given.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

from vram.errors import ModelResolutionError

MAX_HEADER_BYTES = 100 * 2**20

DTYPE_BITS = {"F64": 64, "F32": 32, "F16": 16, "BF16": 16, "I64": 64, "I32": 32, "I16": 16, "I8": 8, "U8": 8,
              "U16": 16, "U32": 32, "U64": 64, "BOOL": 8, "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8, "F4": 4,
              "F6_E2M3": 6, "F6_E3M2": 6, "I4": 4, "U4": 4}


@dataclass
class TensorCounts:
    """Values and bytes stored, by safetensors dtype, plus the tensor names seen."""

    values: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    tensors: int = 0

    def add(self, dtype: str, n_values: int, n_bytes: int) -> None:
        self.values[dtype] = self.values.get(dtype, 0) + n_values
        self.bytes[dtype] = self.bytes.get(dtype, 0) + n_bytes
        self.tensors += 1

    def merge(self, other: TensorCounts) -> None:
        for k, v in other.values.items():
            self.values[k] = self.values.get(k, 0) + v
        for k, v in other.bytes.items():
            self.bytes[k] = self.bytes.get(k, 0) + v
        self.tensors += other.tensors

    @property
    def total_values(self) -> int:
        return sum(self.values.values())

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())


def header_length(prefix: bytes, where: str) -> int:
    if len(prefix) < 8:
        raise ModelResolutionError(f"{where}: not a safetensors file (shorter than 8 bytes)")
    (n,) = struct.unpack("<Q", prefix[:8])
    if n <= 0 or n > MAX_HEADER_BYTES:
        raise ModelResolutionError(f"{where}: not a safetensors file (header length {n})")
    return int(n)


def parse_header(header: bytes, where: str) -> TensorCounts:
    """Count the tensors of one safetensors JSON header."""
    try:
        data: Any = json.loads(header.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelResolutionError(f"{where}: safetensors header is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ModelResolutionError(f"{where}: safetensors header is not a JSON object")
    counts = TensorCounts()
    for name, info in data.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict):
            raise ModelResolutionError(f"{where}: tensor {name!r} has no dtype/shape")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if (not isinstance(dtype, str) or not isinstance(shape, list)
                or not all(isinstance(d, int) and d >= 0 for d in shape)):
            raise ModelResolutionError(f"{where}: tensor {name!r} has an invalid dtype or shape")
        n = 1
        for d in shape:
            n *= d
        if isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets):
            n_bytes = offsets[1] - offsets[0]
        else:
            n_bytes = -(-n * DTYPE_BITS.get(dtype, 16) // 8)
        counts.add(dtype, n, n_bytes)
    return counts
