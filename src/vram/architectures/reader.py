"""The generic reading of a decoder's config.json: the common vocabulary under its usual names.

Nearly every decoder's config says the same things under a handful of names: its width, depth,
heads and KV heads, head size, MLP width, vocabulary and tying, where its experts are and how many,
and which kind each layer is. This module reads those, and only those; a family module
(:mod:`vram.architectures.families`) says what differs, with the transformers file it follows.

The basics that set the size (width, depth, heads, vocabulary, and the MLP width where the model
has a dense MLP) are never invented: when one is missing the config is refused (exit 3) naming it.
Every other field falls back to the family's class default (the transformers config class of that
model_type), and the fallback is noted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vram.architectures._config import _MISSING as _REQUIRED
from vram.architectures._config import Cfg, Int, Str
from vram.errors import ConfigError, UnsupportedModelError

MAX_LAYERS = 10_000

WIDTH = ("hidden_size", "n_embd", "d_model", "dim", "model_dim")
DEPTH = ("num_hidden_layers", "n_layer", "n_layers", "num_layers")
HEADS = ("num_attention_heads", "n_head", "n_heads", "num_heads")
KV_HEADS = ("num_key_value_heads", "num_kv_heads", "n_kv_heads", "multi_query_group_num")
HEAD_DIM = ("head_dim", "attention_head_dim", "kv_channels")
VOCAB = ("vocab_size", "padded_vocab_size", "n_vocab")
MLP_WIDTH = ("intermediate_size", "ffn_hidden_size", "ffn_dim", "n_inner", "intermediate_dim")
EXPERTS = ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts")
EXPERTS_PER_TOKEN = ("num_experts_per_tok", "num_experts_per_token", "moe_topk", "moe_k", "top_k")
SHARED_EXPERTS = ("n_shared_experts", "num_shared_experts", "moe_num_shared_experts", "num_shared_expert")
SHARED_WIDTH = ("shared_expert_intermediate_size", "shared_intermediate_size",
                "moe_shared_expert_intermediate_size")
NESTED_TEXT = ("text_config", "llm_config", "language_config", "thinker_config")


_ABSENT = object()


def _nested(data: Mapping[str, object], path: str) -> object:
    """The value at a dotted path through nested objects, or _ABSENT."""
    value: object = data
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _ABSENT
        value = value[part]
    return value


class Reading(Cfg):
    """A Cfg over the config with the family's class defaults behind it.

    Values the config gives win (an explicit null too); a default that is used is recorded in
    ``defaults_used`` so that the answer can say which fields were not in the config.
    """

    def __init__(self, cfg: Cfg, defaults: Mapping[str, object], aliases: Mapping[str, str] | None = None) -> None:
        data = dict(cfg._data)
        for key, other in (aliases or {}).items():
            # A field under the other name the class accepts (its attribute_map, a renamed kwarg), or
            # inside a sub-config ("attn_config.kv_n_heads": DBRX keeps attention and FFN sizes there).
            if key not in data:
                found = _nested(data, other)
                if found is not _ABSENT:
                    data[key] = found
        super().__init__(data, where=cfg._where, used=cfg.used)
        self._defaults = dict(defaults)
        self.defaults_used: dict[str, object] = {}

    def _lookup(self, key: str) -> object:
        if key in self._data:
            return self._data[key]
        if key in self._defaults and self._defaults[key] is not None:
            self.defaults_used[key] = self._defaults[key]
            return self._defaults[key]
        return None

    def has(self, key: str) -> bool:
        if key in self._data:
            return self._data[key] is not None
        return self._defaults.get(key) is not None

    def given(self, key: str) -> bool:
        """Whether config.json names the field at all (an explicit null too): some classes treat null
        and absence differently (Gemma 4's per_layer_config)."""
        return key in self._data

    def raw(self, key: str, default: object = None) -> object:
        if key in self._data:
            self.used.add(self._path(key))
        value = self._lookup(key)
        return default if value is None else value

    def _get(self, key: str, default: object) -> object:
        value = self._lookup(key)
        if value is None:
            if default is _REQUIRED:
                raise ConfigError(f"config field '{self._path(key)}' is missing and is needed for this model")
            return default
        if key in self._data:
            self.used.add(self._path(key))
        return value

    def int(self, key: Str, default: Any = _REQUIRED, *, minimum: Int = 1) -> Int:
        """An integer field; a per-layer list that holds one value for every layer reads as that value
        (Hunyuan-A13B's moe_topk and num_shared_expert, which its class indexes by layer)."""
        value = self._lookup(key)
        if isinstance(value, list) and value and all(type(v) is int for v in value) and len(set(value)) == 1:
            self.used.add(self._path(key))
            first: int = value[0]
            if first < minimum:
                raise ConfigError(f"config field '{self._path(key)}' must be >= {minimum}, got {first}")
            return first
        return super().int(key, default, minimum=minimum)

    def first_key(self, keys: tuple[str, ...]) -> str | None:
        for key in keys:
            if self.has(key):
                return key
        return None


@dataclass(frozen=True)
class Basics:
    """The dimensions every decoder has."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int


def missing_basics(r: Reading, *, needs_mlp: bool, needs_heads: bool = True) -> list[str]:
    """Names of the size-setting fields the config lacks (the first name of each group).

    ``save_pretrained`` writes a top-level config in full (a diff against the base class, which has
    no sizes), so a top-level config without its sizes is incomplete. A nested config (text_config)
    is written as a diff against its own class: there an absent size is that class's default.
    """
    nested = r._where != "config.json"
    groups = [WIDTH, DEPTH + LAYER_LISTS, VOCAB] + ([HEADS] if needs_heads else []) + ([MLP_WIDTH] if needs_mlp else [])
    return [g[0] for g in groups
            if not any((key in r._data and r._data[key] is not None) or (nested and r.has(key)) for key in g)]


def require_basics(r: Reading, model_type: str, *, needs_mlp: bool, needs_heads: bool = True) -> None:
    """Refuse (exit 3) a config without the sizes, naming them. UnsupportedModelError, so that a
    folder or repository with safetensors files is still counted from their headers."""
    for group in (WIDTH, DEPTH, VOCAB) + ((HEADS,) if needs_heads else ()):
        if r.first_key(group):
            r.first_int(group)  # a size of the wrong type is named before the missing ones
    missing = missing_basics(r, needs_mlp=needs_mlp, needs_heads=needs_heads)
    if missing:
        raise UnsupportedModelError(
            f"config of model_type {model_type!r} lacks {', '.join(repr(m) for m in missing)}: its size cannot be "
            "told without it (give a local folder with safetensors files, or a size such as 7B)")


LAYER_LISTS = ("layer_types", "layers_block_type", "hybrid_override_pattern")


def depth(r: Reading) -> int:
    """The layer count, or the length of the per-layer list that stands for it (Nemotron-H)."""
    if r.first_key(DEPTH) is None:
        for key in LAYER_LISTS:
            value = r.raw(key)
            if isinstance(value, list | str) and value:
                return len(value)
    return r.first_int(DEPTH)


def read_basics(r: Reading, *, needs_heads: bool = True, floor: bool = False) -> Basics:
    h = r.first_int(WIDTH)
    n_layers = depth(r)
    if n_layers > MAX_LAYERS:
        raise ConfigError(f"config field '{r.first_key(DEPTH)}' ({n_layers}) is implausibly large")
    vocab = r.first_int(VOCAB)
    if not needs_heads:
        return Basics(hidden=h, layers=n_layers, heads=1, kv_heads=1, head_dim=h, vocab=vocab)
    head_key = r.first_key(HEADS) or HEADS[0]
    heads = r.first_int(HEADS)
    kv_key = r.first_key(KV_HEADS) or KV_HEADS[0]
    kv = r.first_int(KV_HEADS, heads)
    if heads % kv:
        raise ConfigError(f"config field '{head_key}' ({heads}) is not divisible by '{kv_key}' ({kv})")
    if r.first_key(HEAD_DIM):
        hd = r.first_int(HEAD_DIM)
    elif floor:
        hd = h // heads  # as the class computes it (transformers: hidden_size // num_attention_heads)
    else:
        hd = r.divides(r.first_key(WIDTH) or WIDTH[0], h, head_key, heads)
    return Basics(hidden=h, layers=n_layers, heads=heads, kv_heads=kv, head_dim=hd, vocab=vocab)


# ---- per-layer kinds -------------------------------------------------------------------------

LayerKind = str
"""full | sliding | chunked | linear | mamba | conv | none (a layer with no token mixer: an MLP-only layer)."""

_TYPE_NAMES: dict[str, LayerKind] = {
    "full_attention": "full", "attention": "full", "global": "full", "global_attention": "full",
    "sliding_attention": "sliding", "sliding": "sliding", "local": "sliding", "local_attention": "sliding",
    "chunked_attention": "chunked", "linear_attention": "linear", "mamba": "mamba", "mamba2": "mamba",
    "hybrid": "full", "indexed_attention": "full", "conv": "conv",
    # Legacy names transformers 5.23 still reads (configuration_utils._LEGACY_LAYER_TYPE_REMAP): DSA layers
    # as some published GLM-5.x configs spell them.
    "deepseek_sparse_attention": "full", "qwen_sparse_attention": "full",
}
# hybrid_override_pattern (NVIDIA Nemotron-H): M = Mamba-2, * = attention, - = MLP, E = MoE.
_PATTERN: dict[str, tuple[LayerKind, str]] = {"M": ("mamba", "none"), "*": ("full", "none"),
                                               "-": ("none", "dense"), "E": ("none", "moe")}


def sliding_window(r: Cfg) -> int | None:
    """The sliding window, or None; 0 also means none (configuration_qwen2_moe writes 0 when
    use_sliding_window is false)."""
    value = r.opt_int("sliding_window", minimum=0)
    return value or None


def indexer_layers(r: Reading, n_layers: int) -> list[bool]:
    """Which DSA layers run their own lightning indexer (and cache its keys). transformers 5.23
    configuration_glm_moe_dsa: indexer_types "full" or "shared" per layer, a "shared" layer reusing the
    previous full layer's top-k with no indexer of its own (modeling_glm_moe_dsa: ``indexer = None``);
    without the list, index_topk_pattern ("F"/"S" per layer), else index_topk_freq and
    index_skip_topk_offset (1 and 2: every layer full)."""
    types = r.str_list("indexer_types") if r.has("indexer_types") else None
    if types is None and r.has("index_topk_pattern"):
        raw = r.raw("index_topk_pattern")
        codes = {"F": "full", "S": "shared"}
        types = [codes.get(c, c) for c in raw] if isinstance(raw, str) else r.str_list("index_topk_pattern")
    if types is None:
        freq = max(r.int("index_topk_freq", 1), 1)
        offset = r.int("index_skip_topk_offset", 2, minimum=0)
        return [max(i - offset + 1, 0) % freq == 0 for i in range(n_layers)]
    if len(types) < n_layers or any(t not in ("full", "shared") for t in types[:n_layers]):
        raise ConfigError(f"config field 'indexer_types' must give full or shared for each of {n_layers} layers")
    return [t == "full" for t in types[:n_layers]]


def layer_kinds(r: Reading, n_layers: int, *, pattern: str = "none") -> tuple[list[LayerKind], list[str] | None]:
    """The token mixer of each layer, and (for hybrid patterns that say it) the MLP of each layer.

    ``pattern`` names the family's rule when the config has no explicit list: none (all full),
    window (all layers sliding when sliding_window is set: Mistral), qwen2 (use_sliding_window from
    max_window_layers on), alternate (even layers sliding: Gemma 2, gpt-oss), every (sliding except
    every sliding_window_pattern-th: Gemma 3, EXAONE 4, Cohere 2).
    """
    types = r.str_list("layer_types") if r.has("layer_types") and isinstance(r.raw("layer_types"), list) else None
    if types is None and r.has("layers_block_type") and isinstance(r.raw("layers_block_type"), list):
        types = r.str_list("layers_block_type")
    if types is None and r.has("hybrid_override_pattern"):
        code = r.str("hybrid_override_pattern")
        if len(code) != n_layers or any(ch not in _PATTERN for ch in code):
            raise ConfigError(f"config field 'hybrid_override_pattern' ({code!r}) does not describe {n_layers} "
                              "layers of M, *, - and E")
        return [_PATTERN[ch][0] for ch in code], [_PATTERN[ch][1] for ch in code]
    if types is not None:
        if len(types) < n_layers:
            raise ConfigError(f"config field 'layer_types' has {len(types)} entries for {n_layers} layers")
        types = types[:n_layers]
        if set(types) <= {"mamba", "attention", "moe", "mlp", "full_attention", "linear_attention"} and \
                any(t in ("moe", "mlp") for t in types):
            # Nemotron-H's layers_block_type: each layer is one of a mixer or an MLP.
            kinds = ["mamba" if t in ("mamba", "linear_attention") else "full" if "attention" in t else "none"
                     for t in types]
            return kinds, ["moe" if t == "moe" else "dense" if t == "mlp" else "none" for t in types]
        unknown = sorted({t for t in types if t not in _TYPE_NAMES})
        if unknown:
            raise ConfigError(f"config field 'layer_types' holds an unknown layer type {unknown[0]!r}")
        return [_TYPE_NAMES[t] for t in types], None
    if r.has("full_attention_interval"):
        every = r.int("full_attention_interval")
        return ["full" if (i + 1) % every == 0 else "linear" for i in range(n_layers)], None
    if r.has("attn_layer_period"):
        period, offset = r.int("attn_layer_period"), r.int("attn_layer_offset", 0, minimum=0)
        return ["full" if i % period == offset else "mamba" for i in range(n_layers)], None
    if pattern == "mamba":
        return ["mamba"] * n_layers, None
    if pattern == "llama4":
        # configuration_llama4: no_rope_layers[i] = 1 for a RoPE layer (chunked), 0 for a NoPE layer (global);
        # by default every no_rope_layer_interval-th layer is NoPE.
        if not r.has("attention_chunk_size"):
            return ["full"] * n_layers, None
        rope = r.int_list("no_rope_layers") if r.has("no_rope_layers") and r.raw("no_rope_layers") else \
            [int((i + 1) % r.int("no_rope_layer_interval", 4) != 0) for i in range(n_layers)]
        if len(rope) < n_layers:
            raise ConfigError(f"config field 'no_rope_layers' has {len(rope)} entries for {n_layers} layers")
        return ["chunked" if rope[i] else "full" for i in range(n_layers)], None
    window = sliding_window(r)
    if window is None or pattern == "none":
        return ["full"] * n_layers, None
    if pattern == "window":
        return ["sliding"] * n_layers, None
    if pattern == "qwen2":
        if not r.bool("use_sliding_window", False):
            return ["full"] * n_layers, None
        first = r.int("max_window_layers", n_layers, minimum=0)
        return ["sliding" if i >= first else "full" for i in range(n_layers)], None
    if pattern == "alternate":
        return ["sliding" if (i + 1) % 2 else "full" for i in range(n_layers)], None
    every = r.int("sliding_window_pattern", 6)
    return ["sliding" if (i + 1) % every else "full" for i in range(n_layers)], None


def moe_layers(r: Reading, n_layers: int) -> list[bool]:
    """Which layers carry routed experts, from whichever placement fields the config has."""
    if r.first_key(EXPERTS) is None or r.first_int(EXPERTS, 0, minimum=0) <= 1 and not r.has("moe_layers"):
        return [False] * n_layers
    if r.has("mlp_layer_types") and isinstance(r.raw("mlp_layer_types"), list):
        kinds = r.str_list("mlp_layer_types") or []
        return [i < len(kinds) and kinds[i] in ("sparse", "moe") for i in range(n_layers)]
    if r.has("moe_layers") and isinstance(r.raw("moe_layers"), list):
        chosen = set(r.int_list("moe_layers"))
        return [i in chosen for i in range(n_layers)]
    if r.has("interleave_moe_layer_step"):
        step = r.int("interleave_moe_layer_step")
        return [(i + 1) % step == 0 for i in range(n_layers)]
    if r.has("expert_layer_period"):
        period, offset = r.int("expert_layer_period"), r.int("expert_layer_offset", 0, minimum=0)
        return [i % period == offset for i in range(n_layers)]
    if r.has("moe_layer_start_index"):
        start = r.int("moe_layer_start_index", minimum=0)
        end = r.int("moe_layer_end_index", n_layers - 1, minimum=-1)
        step = r.int("moe_layer_interval", 1)
        end = n_layers - 1 if end < 0 else end
        return [start <= i <= end and (i - start) % step == 0 for i in range(n_layers)]
    if isinstance(r.raw("moe_layer_freq"), list):
        # A flag per layer (MiniMax-M3's moe_layer_freq): 1 for routed experts, 0 for a dense MLP.
        flags = r.int_list("moe_layer_freq")
        return [i < len(flags) and flags[i] != 0 for i in range(n_layers)]
    dense = set(r.int_list("mlp_only_layers", [])) if r.has("mlp_only_layers") else set()
    first = r.int("first_k_dense_replace", 0, minimum=0)
    freq = r.int("moe_layer_freq", 1) if isinstance(r.raw("moe_layer_freq", 1), int) else 1
    step = r.int("decoder_sparse_step", 1)
    return [i not in dense and i >= first and i % freq == 0 and (i + 1) % step == 0 for i in range(n_layers)]


def layer_override(r: Reading, i: int) -> Mapping[str, object]:
    """Layer i's entry of per_layer_config (transformers 5.x HeterogeneousConfigMixin: fields that differ
    for some layers, keyed by the layer index as a number or a zero-padded string), or nothing."""
    table = r.raw("per_layer_config")
    if not isinstance(table, Mapping):
        return {}
    for key, value in table.items():
        if str(key).isdigit() and int(str(key)) == i:
            if not isinstance(value, Mapping):
                raise ConfigError(f"config field 'per_layer_config.{key}' must be an object")
            return value
    return {}


def positive_float(r: Cfg, *keys: str) -> bool:
    """Whether any of the (dropout) fields is a number above zero."""
    for key in keys:
        value = r.raw(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return True
    return False


def text_part(cfg: Cfg) -> tuple[Cfg, str | None]:
    """The language model's config of a composite config (text_config, llm_config, ...), or the config."""
    for key in NESTED_TEXT:
        if cfg.has(key) and isinstance(cfg.raw(key), Mapping):
            sub = cfg.sub(key)
            inner = sub.str("model_type", None)
            return sub, inner
    return cfg, None


def kinds_or(rule: Callable[[Reading, int, int], LayerKind]) -> Callable[[Reading, int], tuple[list[LayerKind], None]]:
    """A family's layer kinds: the config's layer_types, else the class's own default rule
    (``rule(r, i, n)``, as the config class's __post_init__ writes layer_types)."""
    def kinds(r: Reading, n: int) -> tuple[list[LayerKind], None]:
        if r.has("layer_types"):
            return layer_kinds(r, n)[0], None
        return [rule(r, i, n) for i in range(n)], None
    return kinds
