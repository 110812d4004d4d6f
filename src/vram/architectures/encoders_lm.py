"""BERT-descended models whose language-model heads or embeddings differ from the BERT layout.

Their layers are BERT's (``models/bert/modeling_bert.py``: query, key, value and output projections
with biases and a LayerNorm, a two-layer MLP with biases and a LayerNorm), run bidirectionally, or
causally with a K/V cache when the config says ``is_decoder`` (their ...ForCausalLM classes, and
transformers' causal-LM mapping for ``bert-generation``). With ``add_cross_attention`` each layer also
holds a BERT cross-attention (its weights are counted; the encoder it reads is not part of the model).
What differs, per transformers 5.23 ``models/<type>/modeling_<type>.py``:

- ``bert-generation`` (BertGenerationDecoder): word and position embeddings only (no token types), no
  pooler; its LM head is one linear layer to the vocabulary, tied to the word embeddings, and a bias
  (the decoder's own bias too when untied).
- ``rembert`` (RemBertForMaskedLM): embeddings of ``input_embedding_size`` mapped into the width
  (``embedding_hidden_mapping_in``); the head maps the width to ``output_embedding_size``, LayerNorms it
  and projects to the vocabulary with an untied decoder.
- ``roc_bert`` (RoCBertForMaskedLM): pronunciation and shape embeddings beside the word embeddings
  (both tables always built; ``enable_pronunciation`` / ``enable_shape`` choose which are concatenated
  and mapped into the width by ``map_inputs_layer`` when ``concat_input``); the BERT masked-LM head, tied
  (untied, the decoder's bias besides the head's).
- ``xlm`` (XLMWithLMHeadModel): ``emb_dim`` wide with a 4 x ``emb_dim`` MLP, language embeddings
  when ``n_langs`` > 1 and ``use_lang_emb``; the prediction layer is the tied word embeddings and a
  bias; causal (a K/V cache) when ``causal``. Its adaptive-softmax head (``asm``) is refused.
- ``xlnet`` (XLNetLMHeadModel): relative attention layers of their own (:func:`build_xlnet`).
"""

from __future__ import annotations

from vram.architectures._config import Cfg
from vram.architectures.decoders import _Defaults, _positive_float
from vram.architectures.encoders import _spec
from vram.errors import ConfigError
from vram.model import Attention, Block, Linear, ModelSpec, TextDims

_DEFAULTS: dict[str, dict[str, object]] = {
    "bert-generation": {"vocab_size": 50358, "hidden_size": 1024, "num_hidden_layers": 24,
                        "num_attention_heads": 16, "intermediate_size": 4096, "max_position_embeddings": 512},
    "rembert": {"vocab_size": 250300, "hidden_size": 1152, "num_hidden_layers": 32, "num_attention_heads": 18,
                "input_embedding_size": 256, "output_embedding_size": 1664, "intermediate_size": 4608,
                "max_position_embeddings": 512, "type_vocab_size": 2},
    "roc_bert": {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                 "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2,
                 "pronunciation_embed_dim": 768, "pronunciation_vocab_size": 910, "shape_embed_dim": 512,
                 "shape_vocab_size": 24858},
    "xlm": {"vocab_size": 30145, "emb_dim": 2048, "n_layers": 12, "n_heads": 16, "max_position_embeddings": 512,
            "n_langs": 1},
}


def _lin(name: str, n_in: int, n_out: int) -> Linear:
    return Linear(name=name, in_features=n_in, out_features=n_out, bias=True)


def _layers(c: Cfg, h: int, inter: int, heads: int, n: int, *, causal: bool) -> Block:
    """n BERT layers; with add_cross_attention (a decoder only) a cross-attention block in each."""
    if h % heads:
        raise ConfigError(f"config field 'hidden_size' ({h}) is not divisible by the heads ({heads})")
    hd = h // heads
    lins: tuple[Linear, ...] = (_lin("query", h, h), _lin("key", h, h), _lin("value", h, h), _lin("attn.dense", h, h),
            _lin("intermediate.dense", h, inter), _lin("output.dense", inter, h))
    other = 4 * h
    if causal and c.bool("add_cross_attention", False):
        lins += tuple(_lin(f"crossattention.{n}", h, h) for n in ("query", "key", "value", "dense"))
        other += 2 * h
    return Block(name="encoder_layer", count=n, linears=lins, other_params=other,
                 attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=hd, v_head_dim=hd),
                 mlp_width=inter, gated_mlp=False)


def build_bert_lm(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    c = _Defaults(cfg, _DEFAULTS[model_type])
    xlm = model_type == "xlm"
    h = c.int("emb_dim" if xlm else "hidden_size")
    n = c.int("n_layers" if xlm else "num_hidden_layers")
    heads = c.int("n_heads" if xlm else "num_attention_heads")
    inter = 4 * h if xlm else c.int("intermediate_size")
    vocab, positions = c.int("vocab_size"), c.int("max_position_embeddings")
    causal = c.bool("causal", False) if xlm else c.bool("is_decoder", False)
    tie = c.bool("tie_word_embeddings", model_type != "rembert")
    notes = [f"{'decoder (causal, K/V cached per token)' if causal else 'encoder: no KV cache'}"]
    embed_linears: tuple[Linear, ...] = ()
    if model_type == "bert-generation":
        table, norm = (vocab + positions) * h, 2 * h
        # lm_head.bias is its own parameter; tied, the decoder's weight and bias are the embeddings and it.
        head = Block(name="lm_head", linears=() if tie else (_lin("lm_head.decoder", h, vocab),), other_params=vocab)
    elif model_type == "rembert":
        e = c.int("input_embedding_size")
        table, norm = (vocab + positions + c.int("type_vocab_size", minimum=0)) * e, 2 * e
        embed_linears = (_lin("embedding_hidden_mapping_in", e, h),)
        out = c.int("output_embedding_size")
        head = Block(name="lm_head", linears=(_lin("predictions.dense", h, out),
                                              _lin("predictions.decoder", out, vocab)), other_params=2 * out)
        tie = False  # the decoder reads output_embedding_size features: RemBERT never ties it
    elif model_type == "roc_bert":
        table, norm = (vocab + positions + c.int("type_vocab_size", minimum=0)) * h, 2 * h
        width = h
        for part in ("pronunciation", "shape"):  # both tables are built; the flags choose what is concatenated
            dim = c.int(f"{part}_embed_dim")
            table += c.int(f"{part}_vocab_size") * dim
            width += dim if c.bool(f"enable_{part}", True) else 0
        if c.bool("concat_input", True):
            embed_linears = (_lin("map_inputs_layer", width, h),)
        head = Block(name="lm_head", linears=(_lin("predictions.transform.dense", h, h),) + (
            () if tie else (_lin("predictions.decoder", h, vocab),)), other_params=2 * h + vocab)
    else:  # xlm
        if c.bool("asm", False):
            raise ConfigError("config field 'asm' is true: XLM's adaptive-softmax head is not modelled")
        langs = c.int("n_langs", minimum=1)
        norm = 2 * h
        table = (vocab + positions + (langs if langs > 1 and c.bool("use_lang_emb", True) else 0)) * h
        head = Block(name="lm_head", linears=() if tie else (_lin("pred_layer.proj", h, vocab),),
                     other_params=vocab if tie else 0)
    embed = Block(name="embeddings", linears=embed_linears, embedding_params=table, other_params=norm)
    text = TextDims(hidden_size=h, num_layers=n, num_heads=heads, vocab_size=vocab, max_position_embeddings=positions,
                    causal=causal, attention_dropout=_positive_float(c, "attention_dropout" if xlm else
                                                                       "attention_probs_dropout_prob"),
                    hidden_dropout=_positive_float(c, "dropout" if xlm else "hidden_dropout_prob"))
    return _spec(cfg, c, model_type, model_id=model_id, embed=embed, layers=(_layers(c, h, inter, heads, n,
                                                                                     causal=causal),),
                 head=(head,), tied=tie, text=text, notes=notes)


def build_xlnet(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """XLNet (``models/xlnet/modeling_xlnet.py``, XLNetLMHeadModel): two-stream relative attention whose
    q, k, v, o and r (position) projections are d_model x n_head x d_head parameters without biases,
    three relative biases (r_w, r_r, r_s) and segment embeddings per layer, a LayerNorm after attention and
    after the two-layer feed-forward (with biases); a mask embedding; the LM head is the tied word
    embeddings and a bias. Bidirectional: the segment memory (``mems``, hidden states of up to
    ``mem_len`` earlier tokens per layer) is not modelled as a cache."""
    c = _Defaults(cfg, {"vocab_size": 32000, "d_model": 1024, "n_layer": 24, "n_head": 16, "d_inner": 4096})
    h, n, heads, inner, vocab = (c.int(k) for k in ("d_model", "n_layer", "n_head", "d_inner", "vocab_size"))
    hd = c.divides("d_model", h, "n_head", heads)
    tie = c.bool("tie_word_embeddings", True)
    att = heads * hd
    layer = Block(name="xlnet_layer", count=n, linears=tuple(
        Linear(name=f"rel_attn.{p}", in_features=h, out_features=att) for p in ("q", "k", "v", "r"))
        + (Linear(name="rel_attn.o", in_features=att, out_features=h), _lin("ff.layer_1", h, inner),
           _lin("ff.layer_2", inner, h)),
        other_params=3 * att + 2 * att + 4 * h,
        attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=hd, v_head_dim=hd),
        mlp_width=inner, gated_mlp=False)
    head = Block(name="lm_loss", linears=() if tie else (Linear(name="lm_loss", in_features=h, out_features=vocab),),
                 other_params=vocab)
    text = TextDims(hidden_size=h, num_layers=n, num_heads=heads, vocab_size=vocab, causal=False,
                    attention_dropout=_positive_float(c, "dropout"), hidden_dropout=_positive_float(c, "dropout"))
    return _spec(cfg, c, model_type, model_id=model_id,
                 embed=Block(name="word_embedding", embedding_params=vocab * h, other_params=h),
                 layers=(layer,), head=(head,), tied=tie, text=text,
                 notes=["XLNet: bidirectional relative attention, no KV cache; its segment memory (mems) is not "
                        "modelled"])


BUILDERS = {"bert-generation": build_bert_lm, "rembert": build_bert_lm, "roc_bert": build_bert_lm,
            "xlm": build_bert_lm, "xlnet": build_xlnet}
