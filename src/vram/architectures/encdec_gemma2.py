"""T5Gemma 2: an encoder-decoder of Gemma 3 layers whose encoder also reads images (a SigLIP tower).

File followed: transformers 5.23 ``models/t5gemma2/modeling_t5gemma2.py`` (T5Gemma2ForConditionalGeneration),
defaults from ``configuration_t5gemma2.py`` (T5Gemma2TextConfig / EncoderConfig / DecoderConfig: Gemma 3
2B's shape, 262,208 tokens, five sliding layers to one full).

- Encoder (``encoder.text_config``): a token table plus an ``eoi_embedding`` vector, layers of Gemma 3's
  attention (q/k/v/o, biases by ``attention_bias``, per-head q/k RMSNorms), a gated MLP and four RMSNorms,
  a final RMSNorm; ``encoder.vision_config``: a SigLIP vision model (its head when ``vision_use_head``);
  the projector: a ``mm_input_projection_weight`` matrix (vision width x text width) and an RMSNorm of
  the vision width.
- Decoder (``decoder``): the same layers, but each attention is merged: one set of q/k/v/o reads the
  decoder's tokens and the encoder's output together, so a layer caches its own tokens' K/V (a
  ``sliding_window`` on sliding layers) and the encoded input's K/V once per sequence.
- With the composite's ``tie_word_embeddings`` (default true) the decoder's table (and its eoi vector)
  and lm_head are the encoder's table, counted once; otherwise each is its own.
- An image becomes ``mm_tokens_per_image`` encoder tokens (the SigLIP grid average-pooled).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from vram.architectures._config import Cfg
from vram.architectures.decoders import _Defaults, _dtype, _positive_float
from vram.architectures.encdec_gemma import _stack
from vram.architectures.multimodal import siglip_or_clip_tower
from vram.model import Attention, Block, Component, Linear, ModelSpec, TextDims

_TEXT: dict[str, Any] = {"vocab_size": 262208, "hidden_size": 2304, "intermediate_size": 9216,
                         "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
                         "attention_bias": False, "sliding_window": 4096}


def _gemma3_stack(c: Cfg, name: str) -> tuple[int, tuple[Block, ...], int, int, int]:
    """A stack of Gemma 3 layers: T5Gemma's layer plus per-head q/k RMSNorms; layer_types by default
    every sixth layer full (the config class's sliding_window_pattern)."""
    n = c.int("num_hidden_layers")
    if not c.has("layer_types"):
        c = Cfg({**c._data, "layer_types": ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention"
                                            for i in range(n)]}, where=c._where, used=c.used)
    h, blocks, n, heads, vocab = _stack(c, name, cross_from=None)
    hd = c.int("head_dim")
    return h, tuple(replace(b, other_params=b.other_params + 2 * hd) for b in blocks), n, heads, vocab


def build_t5gemma2(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    enc = cfg.sub("encoder") if cfg.has("encoder") else Cfg({}, where="encoder", used=cfg.used)
    et = _Defaults(enc.sub("text_config") if enc.has("text_config") else Cfg({}, where="encoder.text_config",
                                                                               used=cfg.used), _TEXT)
    dec = _Defaults(cfg.sub("decoder") if cfg.has("decoder") else Cfg({}, where="decoder", used=cfg.used), _TEXT)
    eh, e_blocks, n_enc, _, e_vocab = _gemma3_stack(et, "encoder.text_config")
    dh, d_blocks, n_dec, d_heads, d_vocab = _gemma3_stack(dec, "decoder")
    v = enc.sub("vision_config") if enc.has("vision_config") else Cfg({}, where="encoder.vision_config", used=cfg.used)
    tower, dims = siglip_or_clip_tower(v, "siglip")
    vh = dims.hidden_size
    tokens = enc.int("mm_tokens_per_image", 256)
    kv, hd = dec.int("num_key_value_heads"), dec.int("head_dim")
    merged_cross = Block(name="merged_attention.encoder_kv", within_layers=True, count=n_dec, attention=Attention(
        kind="cross", num_heads=d_heads, num_kv_heads=kv, head_dim=hd, v_head_dim=hd, cross_source="encoder"))
    tied = cfg.bool("tie_word_embeddings", True)
    components = [Component(name="encoder", kind="other", blocks=(
                      Block(name="encoder.embed_tokens", embedding_params=e_vocab * eh, other_params=eh),) + e_blocks
                      + (Block(name="encoder.norm", other_params=eh),)),
                  replace(tower, kind="other"),
                  Component(name="multi_modal_projector", kind="other", blocks=(Block(
                      name="mm_input_projection", linears=(Linear(name="mm_input_projection_weight",
                                                                  in_features=vh, out_features=eh),),
                      other_params=vh),)),
                  Component(name="embeddings", kind="embedding", blocks=(
                      Block(name="decoder.embed_tokens", embedding_params=0 if tied else d_vocab * dh + dh),)),
                  Component(name="decoder", kind="decoder", blocks=d_blocks + (
                      merged_cross, Block(name="decoder.norm", other_params=dh)))]
    if not tied:
        components.append(Component(name="lm_head", kind="head", blocks=(Block(name="lm_head", linears=(
            Linear(name="lm_head.out_proj", in_features=dh, out_features=d_vocab),)),)))
    text = TextDims(hidden_size=dh, num_layers=n_dec, num_heads=d_heads, vocab_size=d_vocab,
                    max_position_embeddings=dec.opt_int("max_position_embeddings"),
                    attention_dropout=_positive_float(cfg, "attention_dropout"),
                    hidden_dropout=_positive_float(cfg, "dropout_rate"))
    notes = [f"encoder-decoder of Gemma 3 layers: {n_enc} encoder layers over the input (an image adds {tokens} "
             f"encoder tokens); each of the decoder's {n_dec} merged attentions caches the encoded input once per "
             "sequence beside its own tokens"]
    if tied:
        notes.append("the decoder's token table and lm_head are the encoder's table: counted once")
    return ModelSpec(id=model_id, model_type=model_type, components=tuple(components), text=text,
                     tied_embeddings=tied, checkpoint_dtype=_dtype(cfg), notes=tuple(notes),
                     config_keys=tuple(sorted(cfg.used)))


BUILDERS = {"t5gemma2": build_t5gemma2}
