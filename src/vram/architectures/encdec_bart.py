"""Encoder-decoders of the BART layout: post-norm (or pre-norm) layers with biases, an MLP of two
linear layers, and the decoder's self- and cross-attention, each as transformers 5.23 builds it.

One builder follows these modeling files (``models/<dir>/modeling_<dir>.py``), which differ only in
the rows of ``_LAYOUTS``: ``bart``, ``mbart``, ``plbart``, ``mvp`` (its prompt modules when
``use_prompt``, the decoder's only), ``marian`` (MarianMTModel; separate encoder and decoder vocabularies unless
``share_encoder_decoder_embeddings``), ``pegasus``, ``blenderbot``, ``blenderbot-small``,
``m2m_100``, ``led`` (Longformer self-attention in the encoder, with global q/k/v projections),
``bigbird_pegasus`` (BigBird block-sparse attention in the encoder; biases only where
``use_bias``) and ``fsmt`` (source and target vocabularies, an output projection).

The rows: how positions are stored (a learned table of ``max_position_embeddings`` rows, BART's
with 2 extra; a sinusoidal table kept as a parameter (Marian, Pegasus); a buffer, no parameter
(M2M-100)); a LayerNorm after the embeddings; a final LayerNorm per stack (the pre-norm ones).

Tying (transformers 5.x ``_tied_weights_keys``): with ``tie_word_embeddings`` (the default) the shared
token table, the encoder's and the decoder's, and the lm_head are one tensor; without it each is its own
(four tables where the class has ``shared``). ``final_logits_bias`` is a buffer, not a parameter.

Caches: the decoder's self-attention per generated token, its cross-attention K/V of the encoder
output once per sequence (as long as the input). The encoder caches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from vram.architectures._config import Cfg
from vram.architectures.decoders import _Defaults, _dtype, _positive_float
from vram.architectures.layers import lm_head
from vram.model import Attention, Block, Component, Linear, ModelSpec, TextDims


@dataclass(frozen=True)
class _Layout:
    modeling: str
    defaults: dict[str, object]
    positions: str = "offset2"  # offset2 | learned | sinusoidal | buffer | fsmt | led
    embed_norm: bool = True
    final_norm: bool = False
    bias_key: str | None = None


def _d(vocab: int, d: int, layers: tuple[int, int], heads: int, ffn: int, positions: int | None) -> dict[str, object]:
    out: dict[str, object] = {"vocab_size": vocab, "d_model": d, "encoder_layers": layers[0],
                              "decoder_layers": layers[1], "encoder_attention_heads": heads,
                              "decoder_attention_heads": heads, "encoder_ffn_dim": ffn, "decoder_ffn_dim": ffn,
                              "tie_word_embeddings": True}
    if positions is not None:
        out["max_position_embeddings"] = positions
    return out


_BART = _d(50265, 1024, (12, 12), 16, 4096, 1024)
_LAYOUTS: dict[str, _Layout] = {
    "bart": _Layout("bart", _BART),
    "mbart": _Layout("mbart", _BART, final_norm=True),
    "plbart": _Layout("plbart", _d(50005, 768, (6, 6), 12, 3072, 1024)),
    "mvp": _Layout("mvp", {**_BART, "vocab_size": 50267, "use_prompt": False, "prompt_length": 100,
                           "prompt_mid_dim": 800}),
    "marian": _Layout("marian", {**_d(58101, 1024, (12, 12), 16, 4096, 1024), "share_encoder_decoder_embeddings": True},
                      positions="sinusoidal", embed_norm=False),
    "pegasus": _Layout("pegasus", _BART, positions="sinusoidal", embed_norm=False, final_norm=True),
    "blenderbot": _Layout("blenderbot", _d(8008, 2560, (2, 24), 32, 10240, 128), positions="learned",
                          embed_norm=False, final_norm=True),
    "blenderbot-small": _Layout("blenderbot_small", _d(50265, 512, (8, 8), 16, 2048, 512), positions="learned"),
    "m2m_100": _Layout("m2m_100", _d(128112, 1024, (12, 12), 16, 4096, 1024), positions="buffer",
                       embed_norm=False, final_norm=True),
    "led": _Layout("led", {**_d(50265, 1024, (12, 12), 16, 4096, None), "max_encoder_position_embeddings": 16384,
                           "max_decoder_position_embeddings": 1024}, positions="led"),
    "bigbird_pegasus": _Layout("bigbird_pegasus", {**_d(96103, 1024, (16, 16), 16, 4096, 4096), "use_bias": False},
                               positions="learned", bias_key="use_bias"),
    "fsmt": _Layout("fsmt", {**_d(42024, 1024, (12, 12), 16, 4096, 1024), "tie_word_embeddings": False,
                             "pad_token_id": 1}, positions="fsmt", embed_norm=False),
}


def _attn(prefix: str, d: int, *, bias: bool) -> tuple[Linear, ...]:
    return tuple(Linear(name=f"{prefix}{n}", in_features=d, out_features=d, bias=bias)
                 for n in ("q_proj", "k_proj", "v_proj", "out_proj"))


def _prompt(c: Cfg, d: int, layers: int) -> int:
    """MvpPrompt: a prompt table and a two-layer MLP to every layer's prefix keys and values."""
    length, mid = c.int("prompt_length"), c.int("prompt_mid_dim")
    return length * d + d * mid + mid + mid * layers * 2 * d + layers * 2 * d


def _positions(layout: _Layout, c: _Defaults, d: int) -> tuple[int, int]:
    """(encoder, decoder) position-table parameters."""
    if layout.positions == "led":
        return c.int("max_encoder_position_embeddings") * d, c.int("max_decoder_position_embeddings") * d
    if layout.positions == "buffer":
        return 0, 0
    rows = c.int("max_position_embeddings")
    if layout.positions == "offset2":
        rows += 2
    elif layout.positions == "fsmt":
        rows += c.int("pad_token_id", minimum=0) + 1
    return rows * d, rows * d


def build_bart_like(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    layout = _LAYOUTS[model_type]
    c = _Defaults(cfg, layout.defaults)
    d = c.int("d_model")
    e_layers, d_layers = c.int("encoder_layers"), c.int("decoder_layers")
    e_heads, d_heads = c.int("encoder_attention_heads"), c.int("decoder_attention_heads")
    e_ffn, d_ffn = c.int("encoder_ffn_dim"), c.int("decoder_ffn_dim")
    e_hd = c.divides("d_model", d, "encoder_attention_heads", e_heads)
    d_hd = c.divides("d_model", d, "decoder_attention_heads", d_heads)
    bias = c.bool(layout.bias_key, False) if layout.bias_key else True
    tied = c.bool("tie_word_embeddings", True)
    # Token tables: (encoder rows, decoder rows, a separate shared table?)
    if model_type == "fsmt":
        src, tgt = c.int("src_vocab_size", c.int("vocab_size")), c.int("tgt_vocab_size", c.int("vocab_size"))
        # tied: the encoder's table and the output projection are the decoder's table
        tables, out_rows = (tgt * d if tied else src * d + tgt * d), tgt
    elif model_type == "marian" and not c.bool("share_encoder_decoder_embeddings", True):
        vocab = c.int("vocab_size")
        out_rows = c.int("decoder_vocab_size", vocab)
        tables = vocab * d + out_rows * d
    else:
        vocab = c.int("vocab_size")
        out_rows = vocab
        # shared, the encoder's and the decoder's tables (Marian's decoder table has decoder_vocab_size rows)
        dec_rows = c.int("decoder_vocab_size", vocab) if model_type == "marian" else vocab
        tables = vocab * d if tied else (2 * vocab + dec_rows) * d
    e_pos, d_pos = _positions(layout, c, d)
    norm = 2 * d

    def mlp(width: int) -> tuple[Linear, ...]:
        return (Linear(name="fc1", in_features=d, out_features=width, bias=True),
                Linear(name="fc2", in_features=width, out_features=d, bias=True))

    e_attn = _attn("self_attn.", d, bias=bias)
    if model_type == "led":  # Longformer attention: global q/k/v beside the local ones
        e_attn = e_attn[:3] + tuple(Linear(name=f"self_attn.{n}_global", in_features=d, out_features=d, bias=True)
                                    for n in ("query", "key", "value")) + e_attn[3:]
    use_prompt = model_type == "mvp" and c.bool("use_prompt", False)
    enc_blocks = [Block(name="encoder_layer", count=e_layers, linears=e_attn + mlp(e_ffn), other_params=2 * norm,
                        attention=Attention(kind="full", num_heads=e_heads, num_kv_heads=e_heads, head_dim=e_hd,
                                            v_head_dim=e_hd), mlp_width=e_ffn, gated_mlp=False)]
    stack_norms = (norm if layout.embed_norm else 0) + (norm if layout.final_norm else 0)
    # MvpModel hands use_prompt to MvpEncoder's embed_tokens argument, so the encoder builds no prompt
    # (transformers 5.23); the decoder builds its self- and cross-attention prompts.
    enc_blocks.append(Block(name="encoder_norms", other_params=stack_norms))
    att = Attention(kind="full", num_heads=d_heads, num_kv_heads=d_heads, head_dim=d_hd, v_head_dim=d_hd)
    self_layer = Block(name="decoder_layer", count=d_layers, linears=_attn("self_attn.", d, bias=bias) + mlp(d_ffn),
                       other_params=2 * norm, attention=att, mlp_width=d_ffn, gated_mlp=False)
    cross = Block(name="cross_attention", within_layers=True,
                  count=d_layers, linears=_attn("encoder_attn.", d, bias=bias),
                  other_params=norm, attention=Attention(kind="cross", num_heads=d_heads, num_kv_heads=d_heads,
                                                         head_dim=d_hd, v_head_dim=d_hd, cross_source="encoder"))
    dec_extra = stack_norms + (2 * _prompt(c, d, d_layers) if use_prompt else 0)
    components = [Component(name="embeddings", kind="embedding", blocks=(
                      Block(name="embed_tokens", embedding_params=tables + e_pos + d_pos),)),
                  Component(name="encoder", kind="encoder", blocks=tuple(enc_blocks)),
                  Component(name="decoder", kind="decoder", blocks=(self_layer, cross, Block(
                      name="decoder_norms", other_params=dec_extra)))]
    if not tied:
        components.append(lm_head(d, out_rows))
    text = TextDims(hidden_size=d, num_layers=d_layers, num_heads=d_heads, vocab_size=out_rows,
                    max_position_embeddings=c.opt_int("max_position_embeddings")
                    or c.opt_int("max_decoder_position_embeddings"),
                    attention_dropout=_positive_float(c, "attention_dropout"),
                    hidden_dropout=_positive_float(c, "dropout"))
    notes = [f"encoder-decoder ({layout.modeling}): {e_layers} encoder layers over the input; the decoder's "
             f"{d_layers} cross-attention layers cache the encoded input once per sequence"]
    if tied:
        notes.append("lm_head and the encoder's and decoder's token tables are one tied tensor: counted once")
    if layout.positions == "sinusoidal":
        notes.append("the sinusoidal position tables are parameters (frozen) in this class: counted")
    return ModelSpec(id=model_id, model_type=model_type, components=tuple(components), text=text,
                     tied_embeddings=tied, checkpoint_dtype=_dtype(cfg), notes=tuple(notes),
                     config_keys=tuple(sorted(c.used)))


BUILDERS = {name: build_bart_like for name in _LAYOUTS}
