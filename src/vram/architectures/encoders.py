"""Bidirectional encoders: no KV cache, a head chosen by the config's ``architectures``.

- ``modernbert``: transformers ``models/modernbert/modeling_modernbert.py`` (fused Wqkv, gated Wi,
  LayerNorms without bias by default, alternating global / local attention, no attention norm in
  layer 0).
- ``xlm-roberta``: ``models/xlm_roberta/modeling_xlm_roberta.py`` (the BERT layout: absolute
  positions, token types, post-norm layers with biases). The same layout, with the same count,
  is built by ``bert`` (``models/bert/modeling_bert.py``; its classifier is the pooler and one
  linear layer, as many parameters as RoBERTa's two-layer classification head), ``roberta``,
  ``camembert``, ``data2vec-text``, ``ibert`` and ``ernie`` (its
  ``task_type_embeddings`` when ``use_task_id``), and by the pre-norm ``xlm-roberta-xl`` and
  ``megatron-bert`` (no embedding LayerNorm, a final one instead); ``roberta-prelayernorm``
  keeps both; ``big_bird`` (block-sparse attention, same weights; its masked-LM class keeps the
  pooler), ``yoso``, ``mra`` (two more position rows) and ``nystromformer`` (and a depthwise
  convolution of ``conv_kernel_size`` per head), and ``xmod`` (a bottleneck adapter per language in
  every layer), and ``esm`` (ESM-2: pre-norm, rotary or absolute positions, a contact head).
  Files: ``models/<type>/modeling_<type>.py`` of transformers 5.23.

A config that is an encoder (its model_type is an encoder-only type of transformers' masked-LM
mapping, or its ``architectures`` names a ``...ForMaskedLM`` class) and has no builder here is
refused (:func:`encoder_refusal`): it is never read as a decoder.

The head follows ``architectures[0]``: ``...ForMaskedLM`` (the masked-LM mapping's class, also used
when the field is absent or names another head), ``...ForSequenceClassification`` or the bare
``...Model``. Masked-LM decoders share the word embeddings unless ``tie_word_embeddings`` is false.
"""

from __future__ import annotations

from vram.architectures._config import Cfg
from vram.architectures.decoders import _Defaults, _dtype, _positive_float
from vram.architectures.generic import merge
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, ModelSpec, TextDims


def _head_kind(c: Cfg) -> str:
    names = c.str_list("architectures") or []
    first = names[0] if names else ""
    if first.endswith("ForSequenceClassification"):
        return "classifier"
    if first.endswith("Model"):
        return "base"
    return "mlm"


def _labels(c: Cfg) -> int:
    return len(c.raw("id2label") or {}) or c.int("num_labels", 2)


def _spec(cfg: Cfg, c: Cfg, model_type: str, *, model_id: str, embed: Block, layers: tuple[Block, ...],
          head: tuple[Block, ...], tied: bool, text: TextDims, notes: list[str],
          shared: tuple[Component, ...] = ()) -> ModelSpec:
    """``shared``: weights that several layers run (ALBERT's layer group), outside the layer count."""
    components = [Component(name="embeddings", kind="embedding", blocks=(embed,)), *shared,
                  Component(name="decoder", kind="decoder", blocks=layers)]
    if head:
        components.append(Component(name="lm_head", kind="head", blocks=head))
    return ModelSpec(id=model_id, model_type=model_type, components=tuple(components), text=text,
                     tied_embeddings=tied, checkpoint_dtype=_dtype(cfg), notes=tuple(notes),
                     config_keys=tuple(sorted(c.used)))


def build_modernbert(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    c = _Defaults(cfg, {"vocab_size": 50368, "hidden_size": 768, "intermediate_size": 1152,
                        "num_hidden_layers": 22, "num_attention_heads": 12, "max_position_embeddings": 8192,
                        "local_attention": 128, "global_attn_every_n_layers": 3})
    h, inter, vocab = c.int("hidden_size"), c.int("intermediate_size"), c.int("vocab_size")
    n_layers, heads = c.int("num_hidden_layers"), c.int("num_attention_heads")
    hd = c.divides("hidden_size", h, "num_attention_heads", heads)
    norm = 2 * h if c.bool("norm_bias", False) else h
    attn_bias, mlp_bias = c.bool("attention_bias", False), c.bool("mlp_bias", False)
    types = c.str_list("layer_types")
    every = c.int("global_attn_every_n_layers")
    if types is None:
        types = ["sliding_attention" if i % every else "full_attention" for i in range(n_layers)]
    if len(types) != n_layers:
        raise ConfigError(f"config field 'layer_types' has {len(types)} entries for {n_layers} layers")
    local = c.int("local_attention")
    lins = (Linear(name="Wqkv", in_features=h, out_features=3 * h, bias=attn_bias),
            Linear(name="attn.Wo", in_features=h, out_features=h, bias=attn_bias),
            Linear(name="Wi", in_features=h, out_features=2 * inter, bias=mlp_bias),
            Linear(name="mlp.Wo", in_features=inter, out_features=h, bias=mlp_bias))
    layers: list[Block] = []
    for i, ty in enumerate(types):
        window = local if ty == "sliding_attention" else None
        layers.append(Block(name="encoder_layer", linears=lins, other_params=norm if i == 0 else 2 * norm,
                            attention=Attention(kind="sliding" if window else "full", num_heads=heads,
                                                num_kv_heads=heads, head_dim=hd, v_head_dim=hd, window=window),
                            mlp_width=inter))
    blocks = merge(layers) + (Block(name="final_norm", other_params=norm),)
    kind = _head_kind(c)
    tied = kind == "mlm" and c.bool("tie_word_embeddings", True)
    head: tuple[Block, ...] = ()
    if kind != "base":
        dense = Linear(name="head.dense", in_features=h, out_features=h, bias=c.bool("classifier_bias", False))
        labels = _labels(c)
        out = (Linear(name="classifier", in_features=h, out_features=labels, bias=True) if kind == "classifier"
               else Linear(name="decoder", in_features=h, out_features=vocab, bias=c.bool("decoder_bias", True)))
        if tied:  # the decoder's weight is the word embedding; only its bias is new
            head = (Block(name="head", linears=(dense,), other_params=norm + (vocab if out.bias else 0)),)
        else:
            head = (Block(name="head", linears=(dense, out), other_params=norm),)
    text = TextDims(hidden_size=h, num_layers=n_layers, num_heads=heads, vocab_size=vocab,
                    max_position_embeddings=c.opt_int("max_position_embeddings"), causal=False,
                    logits_width=_labels(c) if kind == "classifier" else (None if kind == "mlm" else h),
                    attention_dropout=_positive_float(c, "attention_dropout"))
    return _spec(cfg, c, model_type, model_id=model_id, embed=Block(name="tok_embeddings",
                 embedding_params=vocab * h, other_params=norm), layers=blocks, head=head, tied=tied,
                 text=text, notes=[f"encoder ({kind} head): no KV cache"])


# Encoder-only model types of transformers 5.23's MODEL_FOR_MASKED_LM_MAPPING_NAMES (bart, mbart and
# mvp, encoder-decoders there, are left out).
MASKED_LM_ENCODERS = frozenset({
    "albert", "bert", "big_bird", "camembert", "convbert", "data2vec-text", "deberta", "deberta-v2", "distilbert",
    "electra", "ernie", "esm", "esmc", "eurobert", "flaubert", "fnet", "funnel", "gte", "ibert",
    "jina_embeddings_v3", "layoutlm", "longformer", "luke", "megatron-bert", "mobilebert", "modernbert",
    "modernvbert", "mpnet", "mra", "neomme", "nomic_bert", "nystromformer", "perceiver", "reformer", "rembert",
    "roberta", "roberta-prelayernorm", "roc_bert", "roformer", "squeezebert", "tapas", "ultrabert", "ultravbert",
    "xlm", "xlm-roberta", "xlm-roberta-xl", "xmod", "yoso"})


def encoder_refusal(c: Cfg, model_type: str) -> str | None:
    """Why a config with no builder is an encoder (and so must not be read as a decoder), or None."""
    masked = [n for n in c.str_list("architectures") or [] if n.endswith("ForMaskedLM")]
    if model_type in MASKED_LM_ENCODERS:
        why = f"{model_type!r} is an encoder-only model type (transformers' masked-LM mapping)"
    elif masked:
        why = f"its architectures class {masked[0]} is a masked-LM encoder"
    else:
        return None
    from vram.architectures.encoders_bert import BUILDERS as variants  # they import this module
    from vram.architectures.encoders_deberta import BUILDERS as deberta
    from vram.architectures.encoders_lm import BUILDERS as lms

    readable = ", ".join(sorted(set(BUILDERS) | set(variants) | set(deberta) | set(lms)))
    return (f"model_type {model_type!r} is not supported: {why}, and vram has no encoder family for it "
            f"(encoders it reads: {readable}); it is not read as a decoder. Give a local "
            "folder with safetensors files (counted exactly), or a size such as 7B")


_PRE_NORM = ("xlm-roberta-xl", "megatron-bert")
# YOSO, MRA and Nystromformer keep two more position rows than max_position_embeddings; BigBird's
# masked-LM class keeps the pooler of its base model.
_OFFSET_POSITIONS = ("yoso", "mra", "nystromformer")
_MLM_POOLER = ("big_bird",)


def build_xlm_roberta(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    c = _Defaults(cfg, {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                        "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2})
    h, inter, vocab = c.int("hidden_size"), c.int("intermediate_size"), c.int("vocab_size")
    n_layers, heads = c.int("num_hidden_layers"), c.int("num_attention_heads")
    hd = c.divides("hidden_size", h, "num_attention_heads", heads)
    positions, types = c.int("max_position_embeddings"), c.int("type_vocab_size", minimum=0)
    if model_type == "ernie" and c.bool("use_task_id", False):
        types += c.int("task_type_vocab_size", 3, minimum=0)
    rows = positions + (2 if model_type in _OFFSET_POSITIONS else 0)
    # Nystromformer: a depthwise convolution over each head's values in every attention (no bias).
    conv = heads * c.int("conv_kernel_size") if model_type == "nystromformer" and c.has("conv_kernel_size") else 0
    # Post-norm: a LayerNorm after the embeddings. Pre-norm: one after the last layer instead
    # (RoBERTa-PreLayerNorm keeps both).
    embed_norm = 0 if model_type in _PRE_NORM else 2 * h
    final_norm = 2 * h if model_type in _PRE_NORM or model_type == "roberta-prelayernorm" else 0
    contact = 0
    if model_type == "esm":
        # ESM-2 (models/esm/modeling_esm.py): pre-norm layers, no token types, positions only when absolute
        # (rotary otherwise), the embedding LayerNorm only with emb_layer_norm_before, a final
        # emb_layer_norm_after, and EsmModel's contact-prediction head (one weight per layer x head, a bias).
        if not cfg.has("vocab_size"):
            raise ConfigError("config of model_type 'esm' lacks 'vocab_size' (EsmConfig has no default)")
        types, rows = 0, positions if c.str("position_embedding_type", "absolute") == "absolute" else 0
        embed_norm = 2 * h if c.bool("emb_layer_norm_before", False) else 0
        final_norm, contact = 2 * h, n_layers * heads + 1
    if model_type == "xmod":
        # X-MOD: a bottleneck adapter per language in every layer (dense1, dense2 with biases, h /
        # adapter_reduction_factor wide), an adapter LayerNorm when adapter_layer_norm; pre_norm adds a
        # final LayerNorm after the last layer and keeps the embedding one.
        langs = c.raw("languages") or ["en_XX"]
        b = h // c.int("adapter_reduction_factor", 2)
        n_langs = len(langs) if isinstance(langs, list) else 1
        conv += n_langs * (2 * h * b + b + h) + (2 * h if c.bool("adapter_layer_norm", False) else 0)
        final_norm = 2 * h if c.bool("pre_norm", False) else 0
    layer = Block(name="encoder_layer", count=n_layers, linears=tuple(
        Linear(name=n, in_features=h, out_features=h, bias=True) for n in ("query", "key", "value", "attn.dense"))
        + (Linear(name="intermediate.dense", in_features=h, out_features=inter, bias=True),
           Linear(name="output.dense", in_features=inter, out_features=h, bias=True)),
        other_params=4 * h + conv, attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads,
                                                       head_dim=hd, v_head_dim=hd), mlp_width=inter, gated_mlp=False)
    layers: tuple[Block, ...] = (layer, Block(name="final_norm", other_params=final_norm)) if final_norm else (layer,)
    kind = _head_kind(c)
    tied = kind == "mlm" and c.bool("tie_word_embeddings", True)
    labels = _labels(c)
    if kind == "base":  # XLMRobertaModel keeps its pooler
        head: tuple[Block, ...] = (Block(name="pooler", linears=(
            Linear(name="pooler.dense", in_features=h, out_features=h, bias=True),)),)
    elif kind == "classifier":
        head = (Block(name="classifier", linears=(
            Linear(name="classifier.dense", in_features=h, out_features=h, bias=True),
            Linear(name="classifier.out_proj", in_features=h, out_features=labels, bias=True))),)
    else:
        dense = Linear(name="lm_head.dense", in_features=h, out_features=h, bias=True)
        # The head's own bias is a parameter beside the decoder; tied, the decoder's weight is the word
        # embeddings and its bias that one. Untied, the decoder keeps a bias of its own as well.
        # ESM's decoder has no bias of its own (EsmLMHead keeps one bias beside it, tied or not).
        head = ((Block(name="lm_head", linears=(dense,), other_params=2 * h + vocab),) if tied else
                (Block(name="lm_head", linears=(dense, Linear(name="lm_head.decoder", in_features=h,
                                                              out_features=vocab, bias=model_type != "esm")),
                       other_params=2 * h + vocab),))
        if model_type in _MLM_POOLER:
            head += (Block(name="pooler", linears=(
                Linear(name="pooler.dense", in_features=h, out_features=h, bias=True),)),)
    if contact:
        head += (Block(name="contact_head", other_params=contact),)
    text = TextDims(hidden_size=h, num_layers=n_layers, num_heads=heads, vocab_size=vocab,
                    max_position_embeddings=positions, causal=False,
                    logits_width=labels if kind == "classifier" else (None if kind == "mlm" else h),
                    attention_dropout=_positive_float(c, "attention_probs_dropout_prob"),
                    hidden_dropout=_positive_float(c, "hidden_dropout_prob"))
    return _spec(cfg, c, model_type, model_id=model_id,
                 embed=Block(name="embeddings", embedding_params=(vocab + rows + types) * h,
                             other_params=embed_norm),
                 layers=layers, head=head, tied=tied, text=text, notes=[f"encoder ({kind} head): no KV cache"])


BUILDERS = {"modernbert": build_modernbert, "bert": build_xlm_roberta, "xlm-roberta": build_xlm_roberta,
            "roberta": build_xlm_roberta,
            "camembert": build_xlm_roberta, "data2vec-text": build_xlm_roberta, "ibert": build_xlm_roberta,
            "ernie": build_xlm_roberta, "xlm-roberta-xl": build_xlm_roberta, "megatron-bert": build_xlm_roberta,
            "roberta-prelayernorm": build_xlm_roberta, "big_bird": build_xlm_roberta, "yoso": build_xlm_roberta,
            "mra": build_xlm_roberta, "nystromformer": build_xlm_roberta, "xmod": build_xlm_roberta,
            "esm": build_xlm_roberta}
