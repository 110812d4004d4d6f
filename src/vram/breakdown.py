"""The answer's data types: a breakdown of integer bytes by component and the terms that explain it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

Value = int | float | str


@dataclass(frozen=True, eq=False)
class Term:
    """One line of the explanation: how a component's bytes were computed."""

    component: str
    name: str
    bytes: int
    formula: str
    values: dict[str, Value] = field(default_factory=dict)
    source: str = ""
    approximate: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Breakdown:
    """Bytes by component (per GPU when the workload is sharded)."""

    weights_bytes: int = 0
    kv_cache_bytes: int = 0
    activations_bytes: int = 0
    gradients_bytes: int = 0
    optimizer_bytes: int = 0
    overhead_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return (self.weights_bytes + self.kv_cache_bytes + self.activations_bytes + self.gradients_bytes
                + self.optimizer_bytes + self.overhead_bytes)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class KvLayers:
    """Layers that hold the same cache: how many, of which kind, and what one of them holds."""

    kind: str
    """full, sliding, chunked, mla, cross (image tokens), encoder (cross-attention to an encoder's
    output), linear / mamba / conv (a fixed state per sequence), shared (layers that read an earlier
    layer's K/V and hold nothing), or compressed (a window, compressed entries and a pending window)."""
    layers: int
    bytes_per_token: int = 0
    """One layer's bytes per cached token (per image token or encoder token for cross-attention)."""
    state_bytes_per_sequence: int = 0
    """One layer's fixed state per sequence (linear attention, Mamba)."""
    window: int | None = None
    """Tokens a sliding layer keeps at most (the chunk, for chunked layers)."""
    compress_rate: int | None = None
    """compressed (DeepSeek-V4's CSA / HCA): one compressed entry kept per this many tokens, beside the window."""
    compressed_bytes: int = 0
    """compressed: one layer's bytes of one compressed entry."""

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        if self.compress_rate is None:  # only compressed layers say their rate and entry bytes
            del out["compress_rate"], out["compressed_bytes"]
        return out


@dataclass(frozen=True, eq=False)
class Estimate:
    """The answer: a breakdown, its total, and how it was reached."""

    model_id: str
    model_type: str
    parameters: int
    active_parameters: int
    trainable_parameters: int
    parameters_by_component: dict[str, int]
    weights_by_component: dict[str, int]
    bits_per_parameter: float
    kv_cache_bytes_per_token: int
    tokens_per_sequence: int
    breakdown: Breakdown
    cpu_bytes: int
    terms: tuple[Term, ...]
    notes: tuple[str, ...]
    stored_format: str | None = None
    """The checkpoint's own storage, when the weights were counted as stored (--dtype auto)."""
    kv_state_bytes_per_sequence: int = 0
    """Fixed state one sequence keeps in linear-attention / state-space layers (not per token)."""
    kv_layers: tuple[KvLayers, ...] = ()
    """Which layers hold what cache (terms.kv.kv_layers)."""

    @property
    def total_bytes(self) -> int:
        return self.breakdown.total_bytes
