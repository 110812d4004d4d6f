"""ProphetNet and PEGASUS-X (encoder-decoders) and TrOCR (the decoder of a vision encoder-decoder), as built by
transformers 5.23.

- ``prophetnet``: ``models/prophetnet/modeling_prophetnet.py`` (ProphetNetForConditionalGeneration):
  post-norm layers with biases; both stacks have a learned position table of
  ``max_position_embeddings`` rows and a LayerNorm after the embeddings; the decoder's self-attention
  is the n-gram attention (one extra linear layer of ``num_buckets x num_decoder_attention_heads``
  relative-position logits) with ``ngram`` stream embeddings, then cross-attention (when
  ``add_cross_attention``) and the MLP. With ``tie_word_embeddings`` (the default) the shared table,
  both stacks' tables and lm_head are one tensor; without it, four.
- ``pegasus_x``: ``models/pegasus_x/modeling_pegasus_x.py`` (PegasusXForConditionalGeneration): no
  attention biases anywhere; the encoder's block-local attention with ``num_global_tokens`` global
  tokens (their embedding table, a LayerNorm for the global stream in every layer); sinusoidal
  positions kept as buffers; pre-norm layers with a final LayerNorm per stack; tied as ProphetNet.
- ``trocr``: ``models/trocr/modeling_trocr.py`` (TrOCRForCausalLM, the causal-LM mapping's class): the
  decoder alone, fed by an image encoder outside this config; its cross-attention keys and values
  project from ``cross_attention_hidden_size`` (the width when unset) and exist when ``is_decoder``
  (the class default); learned positions with BART's 2 extra rows (or a sinusoidal buffer), an
  optional LayerNorm after the embeddings, the output projection tied to the token table by default.

Caches: the decoder's self-attention per token (ProphetNet caches its main stream only), its
cross-attention K/V of the encoder output once per sequence. TrOCR's encoder output length is not in
its config: its cross cache is counted at the sequence length.
"""

from __future__ import annotations

from vram.architectures._config import Cfg
from vram.architectures.decoders import _Defaults, _dtype, _positive_float
from vram.architectures.layers import lm_head
from vram.model import Attention, Block, Component, Linear, ModelSpec, TextDims

_PROPHETNET = {"vocab_size": 30522, "hidden_size": 1024, "encoder_ffn_dim": 4096, "num_encoder_layers": 12,
               "num_encoder_attention_heads": 16, "decoder_ffn_dim": 4096, "num_decoder_layers": 12,
               "num_decoder_attention_heads": 16, "max_position_embeddings": 512, "ngram": 2, "num_buckets": 32,
               "add_cross_attention": True, "tie_word_embeddings": True}
_PEGASUS_X = {"vocab_size": 96103, "d_model": 1024, "encoder_layers": 16, "decoder_layers": 16,
              "encoder_ffn_dim": 4096, "decoder_ffn_dim": 4096, "encoder_attention_heads": 16,
              "decoder_attention_heads": 16, "max_position_embeddings": 16384, "num_global_tokens": 32,
              "tie_word_embeddings": True}
_TROCR = {"vocab_size": 50265, "d_model": 1024, "decoder_layers": 12, "decoder_attention_heads": 16,
          "decoder_ffn_dim": 4096, "max_position_embeddings": 512, "use_learned_position_embeddings": True,
          "layernorm_embedding": True, "is_decoder": True, "tie_word_embeddings": True}


def _attn(prefix: str, d: int, kv_in: int | None = None, bias: bool = True) -> tuple[Linear, ...]:
    k_in = kv_in or d
    return (Linear(name=f"{prefix}q_proj", in_features=d, out_features=d, bias=bias),
            Linear(name=f"{prefix}k_proj", in_features=k_in, out_features=d, bias=bias),
            Linear(name=f"{prefix}v_proj", in_features=k_in, out_features=d, bias=bias),
            Linear(name=f"{prefix}out_proj", in_features=d, out_features=d, bias=bias))


def _mlp(d: int, ff: int) -> tuple[Linear, ...]:
    return (Linear(name="fc1", in_features=d, out_features=ff, bias=True),
            Linear(name="fc2", in_features=ff, out_features=d, bias=True))


def _full(heads: int, hd: int) -> Attention:
    return Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=hd, v_head_dim=hd)


def _cross(heads: int, hd: int) -> Attention:
    return Attention(kind="cross", num_heads=heads, num_kv_heads=heads, head_dim=hd, v_head_dim=hd,
                     cross_source="encoder")


def _finish(cfg: Cfg, c: Cfg, model_type: str, model_id: str, components: list[Component], *, d: int, vocab: int,
            tied: bool, text: TextDims, notes: list[str]) -> ModelSpec:
    if not tied:
        components.append(lm_head(d, vocab))
    return ModelSpec(id=model_id, model_type=model_type, components=tuple(components), text=text,
                     tied_embeddings=tied, checkpoint_dtype=_dtype(cfg), notes=tuple(notes),
                     config_keys=tuple(sorted(c.used)))


def build_prophetnet(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    c = _Defaults(cfg, _PROPHETNET)
    d, vocab, positions = c.int("hidden_size"), c.int("vocab_size"), c.int("max_position_embeddings")
    n_enc, n_dec = c.int("num_encoder_layers"), c.int("num_decoder_layers")
    e_heads, d_heads = c.int("num_encoder_attention_heads"), c.int("num_decoder_attention_heads")
    e_hd = c.divides("hidden_size", d, "num_encoder_attention_heads", e_heads)
    d_hd = c.divides("hidden_size", d, "num_decoder_attention_heads", d_heads)
    tied = c.bool("tie_word_embeddings", True)
    rel = c.int("num_buckets") * d_heads
    encoder = Component(name="encoder", kind="encoder", blocks=(
        Block(name="encoder_embeddings", embedding_params=positions * d, other_params=2 * d),
        Block(name="encoder_layer", count=n_enc, linears=_attn("self_attn.", d) + _mlp(d, c.int("encoder_ffn_dim")),
              other_params=4 * d, attention=_full(e_heads, e_hd), mlp_width=c.int("encoder_ffn_dim"),
              gated_mlp=False)))
    d_ffn = c.int("decoder_ffn_dim")
    decoder: tuple[Block, ...] = (
        Block(name="decoder_embeddings", embedding_params=(positions + c.int("ngram")) * d, other_params=2 * d),
        Block(name="decoder_layer", count=n_dec, linears=_attn("self_attn.", d) + (
            Linear(name="relative_pos_embeddings", in_features=d, out_features=rel, bias=True),) + _mlp(d, d_ffn),
              other_params=4 * d, attention=_full(d_heads, d_hd), mlp_width=d_ffn, gated_mlp=False))
    if c.bool("add_cross_attention", True):
        decoder += (Block(name="cross_attention", within_layers=True,
                          count=n_dec, linears=_attn("cross_attn.", d), other_params=2 * d,
                          attention=_cross(d_heads, d_hd)),)
    components = [Component(name="embeddings", kind="embedding", blocks=(
                      Block(name="word_embeddings", embedding_params=(1 if tied else 3) * vocab * d),)),
                  encoder, Component(name="decoder", kind="decoder", blocks=decoder)]
    text = TextDims(hidden_size=d, num_layers=n_dec, num_heads=d_heads, vocab_size=vocab,
                    max_position_embeddings=positions, attention_dropout=_positive_float(c, "attention_dropout"),
                    hidden_dropout=_positive_float(c, "dropout"))
    notes = [f"encoder-decoder: {n_enc} encoder layers over the input; the decoder's {n_dec} cross-attention layers "
             f"cache the encoded input once per sequence; its {c.int('ngram')} predicting streams are not cached"]
    if tied:
        notes.append("lm_head and the shared, encoder and decoder word tables are one tied tensor: counted once")
    return _finish(cfg, c, model_type, model_id, components, d=d, vocab=vocab, tied=tied, text=text, notes=notes)


def build_pegasus_x(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    c = _Defaults(cfg, _PEGASUS_X)
    d, vocab = c.int("d_model"), c.int("vocab_size")
    n_enc, n_dec = c.int("encoder_layers"), c.int("decoder_layers")
    e_heads, d_heads = c.int("encoder_attention_heads"), c.int("decoder_attention_heads")
    e_hd = c.divides("d_model", d, "encoder_attention_heads", e_heads)
    d_hd = c.divides("d_model", d, "decoder_attention_heads", d_heads)
    e_ffn, d_ffn = c.int("encoder_ffn_dim"), c.int("decoder_ffn_dim")
    tied = c.bool("tie_word_embeddings", True)
    encoder = Component(name="encoder", kind="encoder", blocks=(
        Block(name="embed_global", embedding_params=c.int("num_global_tokens") * d),
        Block(name="encoder_layer", count=n_enc, linears=_attn("self_attn.", d, bias=False) + _mlp(d, e_ffn),
              other_params=6 * d, attention=_full(e_heads, e_hd), mlp_width=e_ffn, gated_mlp=False),
        Block(name="encoder_norm", other_params=2 * d)))
    decoder = Component(name="decoder", kind="decoder", blocks=(
        Block(name="decoder_layer", count=n_dec, linears=_attn("self_attn.", d, bias=False) + _mlp(d, d_ffn),
              other_params=4 * d, attention=_full(d_heads, d_hd), mlp_width=d_ffn, gated_mlp=False),
        Block(name="cross_attention", within_layers=True,
              count=n_dec, linears=_attn("encoder_attn.", d, bias=False), other_params=2 * d,
              attention=_cross(d_heads, d_hd)),
        Block(name="decoder_norm", other_params=2 * d)))
    components = [Component(name="embeddings", kind="embedding", blocks=(
                      Block(name="shared", embedding_params=(1 if tied else 3) * vocab * d),)), encoder, decoder]
    text = TextDims(hidden_size=d, num_layers=n_dec, num_heads=d_heads, vocab_size=vocab,
                    max_position_embeddings=c.int("max_position_embeddings"),
                    attention_dropout=_positive_float(c, "attention_dropout"),
                    hidden_dropout=_positive_float(c, "dropout"))
    notes = [f"encoder-decoder: {n_enc} block-local encoder layers with global tokens; the decoder's {n_dec} "
             "cross-attention layers cache the encoded input once per sequence"]
    if tied:
        notes.append("lm_head and the shared, encoder and decoder token tables are one tied tensor: counted once")
    return _finish(cfg, c, model_type, model_id, components, d=d, vocab=vocab, tied=tied, text=text, notes=notes)


def build_trocr(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    c = _Defaults(cfg, _TROCR)
    d, vocab, positions = c.int("d_model"), c.int("vocab_size"), c.int("max_position_embeddings")
    n_layers, heads, ffn = c.int("decoder_layers"), c.int("decoder_attention_heads"), c.int("decoder_ffn_dim")
    hd = c.divides("d_model", d, "decoder_attention_heads", heads)
    tied = c.bool("tie_word_embeddings", True)
    learned = c.bool("use_learned_position_embeddings", True)
    embed = Block(name="embed_tokens", embedding_params=vocab * d + ((positions + 2) * d if learned else 0),
                  other_params=2 * d if c.bool("layernorm_embedding", True) else 0)
    blocks: tuple[Block, ...] = (Block(name="decoder_layer", count=n_layers, linears=_attn("self_attn.", d)
                                       + _mlp(d, ffn), other_params=4 * d, attention=_full(heads, hd),
                                       mlp_width=ffn, gated_mlp=False),)
    notes = ["the decoder of a vision encoder-decoder: the image encoder is a separate model, not counted here"]
    if c.bool("is_decoder", True):
        source = c.opt_int("cross_attention_hidden_size")
        blocks += (Block(name="cross_attention", within_layers=True,
                         count=n_layers, linears=_attn("encoder_attn.", d, source),
                         other_params=2 * d, attention=_cross(heads, hd)),)
        notes.append("the cross-attention cache is counted at the sequence length: the encoder's output length "
                     "is not in this config")
    components = [Component(name="embeddings", kind="embedding", blocks=(embed,)),
                  Component(name="decoder", kind="decoder", blocks=blocks)]
    text = TextDims(hidden_size=d, num_layers=n_layers, num_heads=heads, vocab_size=vocab,
                    max_position_embeddings=positions, attention_dropout=_positive_float(c, "attention_dropout"),
                    hidden_dropout=_positive_float(c, "dropout"))
    if tied:
        notes.append("the output projection is tied to the token table: counted once")
    return _finish(cfg, c, model_type, model_id, components, d=d, vocab=vocab, tied=tied, text=text, notes=notes)


BUILDERS = {"prophetnet": build_prophetnet, "pegasus_x": build_pegasus_x, "trocr": build_trocr}
