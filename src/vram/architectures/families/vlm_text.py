"""Language models that transformers builds only inside a vision-language composite.

- ``molmo2_text``: transformers 5.23 ``models/molmo2/modeling_molmo2.py`` (Molmo2TextModel): a qwen3-style
  decoder whose q/k RMSNorms run per head (``qk_norm_type`` "qwen3") or over the whole projection
  ("olmo"), q/k/v biases by ``attention_bias`` but a bias-free o_proj, and an input table of
  ``vocab_size`` + ``additional_vocab_size`` rows (lm_head covers ``vocab_size``). The class declares no
  tied weights: lm_head is its own whatever ``tie_word_embeddings`` says. Defaults from Molmo2TextConfig.
"""

from __future__ import annotations

from vram.architectures.generic import Family
from vram.architectures.reader import Basics, Reading
from vram.errors import ConfigError
from vram.model import Block, Component


def _molmo2_qk_norms(r: Reading, b: Basics, kind: str, moe: bool) -> int:
    how = r.str("qk_norm_type", "qwen3")
    if how not in ("qwen3", "olmo"):
        raise ConfigError(f"config field '{r._path('qk_norm_type')}' has an unknown value {how!r}")
    return 2 * b.head_dim if how == "qwen3" else (b.heads + b.kv_heads) * b.head_dim


def _molmo2_extra_vocab(r: Reading, b: Basics) -> tuple[Component, ...]:
    extra = r.int("additional_vocab_size", 128, minimum=0)
    return (Component(name="additional_embeddings", kind="embedding", blocks=(
        Block(name="embed_tokens.additional", embedding_params=extra * b.hidden),)),) if extra else ()


FAMILIES: dict[str, Family] = {
    "molmo2_text": Family(modeling="transformers models/molmo2/modeling_molmo2.py", o_bias=False, never_tied=True,
                          layer_other=_molmo2_qk_norms, extra=_molmo2_extra_vocab,
                          defaults={"head_dim": 128, "num_key_value_heads": 8, "additional_vocab_size": 128,
                                    "qk_norm_type": "qwen3", "attention_bias": False}),
}
