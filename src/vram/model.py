"""The model description the core works on: parameters by component, layer by layer.

A :class:`ModelSpec` is built from a config.json by :mod:`vram.architectures` (or from a bare size
literal). It records every weight matrix of a layer with its shape, so that weights in any format,
LoRA adapters, Hessians and per-layer memory can all be computed from the same description.
All classes are frozen dataclasses that check their own values (a negative size is a ValueError).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from vram._data import check_positive
from vram.imagetokens import anyres_tokens, smart_resize
from vram.quantization import StoredScheme

ComponentKind = Literal["embedding", "decoder", "head", "vision", "projector", "mtp", "encoder", "other"]
AttentionKind = Literal["full", "sliding", "chunked", "mla", "cross"]


@dataclass(frozen=True)
class Linear:
    """A weight matrix y = x W^T (+ b); ``copies`` > 1 for stacked experts."""

    name: str
    in_features: int
    out_features: int
    bias: bool = False
    copies: int = 1
    active_copies: int | None = None

    def __post_init__(self) -> None:
        check_positive(self, "in_features", "out_features", "copies")
        check_positive(self, "active_copies", allow_zero=True)

    @property
    def params(self) -> int:
        return self.copies * (self.in_features * self.out_features + (self.out_features if self.bias else 0))

    @property
    def active_params(self) -> int:
        n = self.copies if self.active_copies is None else self.active_copies
        return n * (self.in_features * self.out_features + (self.out_features if self.bias else 0))


@dataclass(frozen=True)
class Attention:
    """What one layer's attention caches and computes."""

    kind: AttentionKind
    num_heads: int
    num_kv_heads: int
    head_dim: int
    v_head_dim: int
    window: int | None = None
    latent_dim: int | None = None
    """MLA: elements cached per token (kv_lora_rank + qk_rope_head_dim)."""
    cross_tokens: int | None = None
    """Cross-attention: tokens cached per image (fixed by the vision encoder), or per sequence for an
    encoder-decoder (None there: as many as the input has)."""
    cross_source: Literal["image", "encoder"] = "image"
    """Cross-attention: what it attends to, images (Mllama) or an encoder's output (Whisper, T5)."""
    index_dim: int | None = None
    """DSA (DeepSeek-V3.2, GLM-5): the lightning indexer's key elements also cached per token."""
    kv_shared: bool = False
    """The layer reads the K/V an earlier layer cached (Gemma 3n's KV-sharing layers): it caches nothing."""
    same_kv: bool = False
    """K and V are one tensor (DeepSeek-V4's shared-KV MQA): a token caches head_dim per KV head, once."""
    compress_rate: int | None = None
    """Compressed attention (DeepSeek-V4's CSA / HCA): beside the window, one compressed entry of
    ``compressed_dim`` elements is kept for every ``compress_rate`` tokens of the whole sequence."""
    compressed_dim: int = 0
    """Elements of one compressed entry (the compressor's key, plus the DSA indexer's key in CSA)."""
    state_elements: int = 0
    """Elements kept per sequence whatever its length (a compressor's pending window and overlap)."""

    def __post_init__(self) -> None:
        check_positive(self, "num_heads", "num_kv_heads", "head_dim", "v_head_dim", "window", "latent_dim",
                       "index_dim", "compress_rate")
        check_positive(self, "cross_tokens", "compressed_dim", "state_elements", allow_zero=True)
        if self.kind in ("sliding", "chunked") and self.window is None:
            raise ValueError(f"{self.kind} attention needs a window")
        if self.compress_rate is not None and not self.compressed_dim:
            raise ValueError("compressed attention needs compressed_dim")

    @property
    def kv_dims(self) -> int:
        """Elements one KV head caches per token: K and V, or one tensor when they are the same."""
        return self.head_dim if self.same_kv else self.head_dim + self.v_head_dim

    @property
    def elements_per_token(self) -> int:
        """Cache elements one token adds to this layer (K and V, the MLA latent, the DSA index key)."""
        base = self.latent_dim if self.latent_dim is not None else self.num_kv_heads * self.kv_dims
        return base + (self.index_dim or 0)


@dataclass(frozen=True)
class StateCache:
    """The fixed state a linear-attention or state-space layer keeps per sequence, whatever its length.

    Gated DeltaNet (Qwen3-Next, Qwen3.5), Kimi Delta Attention and Mamba / Mamba-2 keep a short
    convolution window over their inputs and a recurrent (SSM) state. transformers 5.23 keeps the
    convolution state in the activations' dtype (cache_utils.LinearAttentionLayer: kernel_size
    positions of every convolved channel) and the recurrent state as the layer computes it, in
    float32 (the torch paths of modeling_qwen3_next / modeling_kimi_linear cast to float32;
    Nemotron-H's config says mamba_ssm_cache_dtype "float32").
    """

    kind: Literal["linear", "mamba", "conv"]
    conv_elements: int
    """Convolution state per sequence: channels x kernel size."""
    recurrent_elements: int
    """Recurrent / SSM state per sequence."""
    recurrent_fp32: bool = True
    projected: int = 0
    """Activations: elements per token out of the layer's input projections (in_proj...)."""
    channels: int = 0
    """Activations: convolved channels per token (conv_elements / kernel)."""
    inner: int = 0
    """Activations: the mixer's output width per token (out_proj's input)."""
    work_fp32: int = 0
    """Activations: float32 elements per token of the intermediates the transformers torch path
    materialises for the whole sequence (vram.architectures.layers names them per mixer)."""
    mixer: Literal["gated_deltanet", "kda", "mamba1", "mamba2", "short_conv", "rwkv", "rg_lru", "mlstm"] | None = None
    """Which mixer keeps the state: serving engines lay out and type each one's state differently
    (vram.engines._state)."""
    ssm_cache_dtype: str | None = None
    """The config's own dtype for the recurrent state (Nemotron-H's mamba_ssm_cache_dtype), if it names one."""

    def __post_init__(self) -> None:
        check_positive(self, "conv_elements", "recurrent_elements", "projected", "channels", "inner", "work_fp32",
                       allow_zero=True)


@dataclass(frozen=True)
class Block:
    """``count`` identical layers (or one module when count is 1)."""

    name: str
    count: int = 1
    linears: tuple[Linear, ...] = ()
    embedding_params: int = 0
    """Parameters in embedding tables (matrices looked up, not multiplied)."""
    other_params: int = 0
    """Norms, gates, positional vectors, convolution kernels: never quantized."""
    attention: Attention | None = None
    state: StateCache | None = None
    """Linear-attention / SSM layers: the fixed state they keep per sequence instead of a KV cache."""
    mlp_width: int = 0
    """Width of the dense MLP's hidden activation (for MoE layers: the shared experts', or 0)."""
    gated_mlp: bool = True
    experts_per_token: int = 0
    """MoE: routed experts each token visits (0 for a dense layer)."""
    expert_width: int = 0
    """MoE: hidden width of one routed expert."""
    within_layers: bool = False
    """One of these sits inside each of ``count`` decoder layers, listed apart for what it caches (an
    encoder-decoder's cross-attention): it adds to their parameters and activations but is not a layer
    of its own (:attr:`is_layer`)."""
    indices: tuple[int, ...] = field(default=(), compare=False)
    """The decoder layer index of each of the ``count`` layers, when they are not consecutive (hybrid
    stacks grouped by kind); empty when the layers follow the previous block's."""

    def __post_init__(self) -> None:
        check_positive(self, "count")
        check_positive(self, "embedding_params", "other_params", "mlp_width", "experts_per_token", "expert_width",
                       allow_zero=True)

    @property
    def is_layer(self) -> bool:
        """A decoder layer that computes something (attention, a state mixer, an MLP or any weight
        matrix): the unit that activations, pipeline stages and layer-by-layer runtimes count. A
        final norm, a Nemotron-NAS layer whose parts are all no-ops, or a part inside other layers
        (:attr:`within_layers`) is not one."""
        return not self.within_layers and bool(self.attention is not None or self.state is not None
                                                  or self.mlp_width or self.experts_per_token or self.linears)

    @property
    def computes(self) -> bool:
        """A layer, or a part of one: what activations are computed for."""
        return self.is_layer or self.within_layers

    @property
    def params_per_layer(self) -> int:
        return sum(lin.params for lin in self.linears) + self.embedding_params + self.other_params

    @property
    def active_params_per_layer(self) -> int:
        return sum(lin.active_params for lin in self.linears) + self.embedding_params + self.other_params

    @property
    def params(self) -> int:
        return self.count * self.params_per_layer

    @property
    def active_params(self) -> int:
        return self.count * self.active_params_per_layer


@dataclass(frozen=True)
class Component:
    """A named part of the model: embeddings, decoder layers, lm_head, vision tower, projector."""

    name: str
    kind: ComponentKind
    blocks: tuple[Block, ...]
    loaded: bool = True
    """False for stored parts that the runtime does not build (DeepSeek's MTP layer)."""
    layer_path: str = "model.layers"
    """Module path of the list holding the layers in transformers (``model.language_model.layers`` inside
    most vision-language models): PEFT's full names and regexes match below it."""

    @property
    def params(self) -> int:
        return sum(b.params for b in self.blocks)

    @property
    def active_params(self) -> int:
        return sum(b.active_params for b in self.blocks)


@dataclass(frozen=True)
class TextDims:
    """Dimensions of the language model that the activation model needs."""

    hidden_size: int
    num_layers: int
    num_heads: int
    vocab_size: int
    max_position_embeddings: int | None = None
    causal: bool = True
    """False for encoders (BERT): no KV cache."""
    logits_width: int | None = None
    """Width of the output layer when it is not the vocabulary (a classification head)."""
    attention_dropout: bool = False
    """Dropout on the attention probabilities in training (the config's attention dropout > 0)."""
    hidden_dropout: bool = False
    """Dropout after attention and MLP in training (the config's residual/hidden dropout > 0)."""

    def __post_init__(self) -> None:
        check_positive(self, "hidden_size", "num_layers", "num_heads", "vocab_size", "max_position_embeddings",
                       "logits_width")


@dataclass(frozen=True)
class VisionDims:
    """Dimensions of a vision encoder, and how its processor turns an image into tokens.

    The arithmetic per kind is in :mod:`vram.imagetokens`; docs/math.md cites each processor.
    """

    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    image_size: int
    patch_size: int
    patches_per_image: int
    """Tokens the encoder runs over for one view (one image, tile or frame)."""
    llm_tokens_per_image: int
    """Tokens one image adds to the language model's sequence at ``default_size``."""
    llm_tokens_per_frame: int
    """Tokens one video frame adds (after pooling)."""
    tiles_per_image: int = 1
    """Views the encoder runs over for one image at ``default_size``."""
    resize: Literal["fixed", "native", "anyres"] = "fixed"
    """How an image of a given size becomes tokens: fixed (resized to image_size), native (Qwen2-VL:
    any size in steps of patch x merge), anyres (LLaVA-NeXT: a base view plus tiles)."""
    merge: int = 1
    """Patches merged into one language-model token (Qwen2-VL: 2 x 2 = 4)."""
    pinpoints: tuple[tuple[int, int], ...] = ()
    """AnyRes grid resolutions the image is fitted to, as (height, width) pixels."""
    max_tiles: int | None = None
    """AnyRes-Max-N: features larger than N tiles' worth (by more than 10%) are downscaled."""
    view_tokens: int = 0
    """AnyRes: tokens of the base view (the patch grid, plus the CLS token where the feature
    selection keeps it)."""
    unpad: bool = False
    """AnyRes: the padding added to fit the pinpoint is removed and each row ends with a newline token."""
    unpad_rounded: bool = True
    """Unpadding rounds the scaled side to 7 decimals first (transformers) or truncates (LLaVA-NeXT repo)."""
    multi_image_tokens: int = 0
    """Tokens of each image when a sequence has several (LLaVA-OneVision: base view + newline); 0: as one."""
    tokens_per_video: int = 0
    """Tokens added once per video besides its frames (a closing newline)."""
    min_pixels: int = 0
    max_pixels: int = 0
    """Native resolution: the pixel range the processor resizes into."""
    default_size: tuple[int, int] | None = None
    """(width, height) of the image that ``llm_tokens_per_image`` counts, when it depends on the size."""

    def __post_init__(self) -> None:
        check_positive(self, "hidden_size", "num_layers", "num_heads", "intermediate_size", "image_size",
                       "patch_size", "patches_per_image", "tiles_per_image", "merge", "max_tiles")
        check_positive(self, "llm_tokens_per_image", "llm_tokens_per_frame", "view_tokens", "multi_image_tokens",
                       "tokens_per_video", "min_pixels", "max_pixels", allow_zero=True)

    def image_tokens(self, width: int, height: int) -> tuple[int, int]:
        """(tokens the language model sees, patches the encoder runs over) for one image of that size."""
        if self.resize == "native":
            h, w = smart_resize(height, width, factor=self.patch_size * math.isqrt(self.merge),
                                min_pixels=self.min_pixels, max_pixels=self.max_pixels)
            patches = (w // self.patch_size) * (h // self.patch_size)
            return patches // self.merge, patches
        if self.resize == "anyres" and self.pinpoints:
            tokens, views = anyres_tokens(height, width, tile=self.image_size, grid=self.image_size // self.patch_size,
                                          base=self.view_tokens, pinpoints=self.pinpoints, max_tiles=self.max_tiles,
                                          unpad=self.unpad, rounded=self.unpad_rounded)
            return tokens, views * self.patches_per_image
        return self.llm_tokens_per_image, self.tiles_per_image * self.patches_per_image

    def per_image(self, images: int, size: tuple[int, int] | None) -> tuple[int, int]:
        """(tokens, encoder patches) of each of ``images`` images in one sequence."""
        if images > 1 and self.multi_image_tokens:
            return self.multi_image_tokens, self.patches_per_image
        if size is not None:
            return self.image_tokens(*size)
        return self.llm_tokens_per_image, self.tiles_per_image * self.patches_per_image

    def sequence_tokens(self, images: int, frames: int, size: tuple[int, int] | None) -> int:
        """Tokens ``images`` images and ``frames`` video frames add to one sequence."""
        video = frames * self.llm_tokens_per_frame + (self.tokens_per_video if frames else 0)
        return images * self.per_image(images, size)[0] + video

    def encoder_patches(self, images: int, frames: int, size: tuple[int, int] | None) -> int:
        """Patches the vision encoder runs over for one sequence."""
        return images * self.per_image(images, size)[1] + frames * self.patches_per_image

    def describe(self, images: int, frames: int, size: tuple[int, int] | None) -> str:
        """One line saying how many tokens the images and frames of one sequence were counted at."""
        parts = []
        if images:
            tokens = self.per_image(images, size)[0]
            if images > 1 and self.multi_image_tokens:
                at = " (several per sequence: base view only)"
            elif self.resize == "fixed":
                at = " (a fixed count, whatever the size)" if size is not None else ""
            elif size is not None:
                at = f" at {size[0]}x{size[1]}"
            elif self.default_size is not None:
                at = f" at {self.default_size[0]}x{self.default_size[1]} (the default; --image-size sets the size)"
            else:
                at = ""
            parts.append(f"{images} image{'s' if images > 1 else ''}{at}: {tokens:,} token{'s' if tokens != 1 else ''}"
                         " each")
        if frames:
            video = f"{frames} frame{'s' if frames > 1 else ''}: {self.llm_tokens_per_frame:,} tokens each"
            if self.tokens_per_video:
                video += f" + {self.tokens_per_video} per video"
            parts.append(video)
        return "visual tokens: " + "; ".join(parts)


@dataclass(frozen=True)
class ModelSpec:
    """Everything the estimator knows about a model."""

    id: str
    model_type: str
    components: tuple[Component, ...]
    text: TextDims | None = None
    vision: VisionDims | None = None
    tied_embeddings: bool = False
    checkpoint_dtype: str | None = None
    notes: tuple[str, ...] = ()
    config_keys: tuple[str, ...] = ()
    """Config fields the parser read (for --explain)."""
    stored_weight_bytes: int | None = None
    """Bytes of the checkpoint's tensors as stored (pre-quantized repos), when they were counted."""
    quantization: str | None = None
    """quant_method of a pre-quantized checkpoint (gptq, awq, fp8, bitsandbytes, ...)."""
    stored_weight_values: int | None = None
    """Values the stored_weight_bytes hold (the denominator of their bits per value)."""
    stored_scheme: StoredScheme | None = None
    """Which matrices a pre-quantized checkpoint stores in which format, from its quantization_config."""
    encoder_cache: tuple[Block, ...] = ()
    """K/V that an encoder keeps while the decoder generates (Voxtral Realtime's streaming audio
    encoder): weightless blocks whose cross-kind attention caches a fixed number of encoder positions
    per sequence. Counted in the KV cache, never as layers."""

    @property
    def parameters(self) -> int:
        """Parameters as the runtime builds them, tied weights counted once."""
        return sum(c.params for c in self.components if c.loaded)

    @property
    def active_parameters(self) -> int:
        """Parameters used per token (MoE: only the routed experts that fire)."""
        return sum(c.active_params for c in self.components if c.loaded)

    @property
    def stored_parameters(self) -> int:
        """Parameters in the checkpoint, including parts the runtime does not build."""
        return sum(c.params for c in self.components)

    def params_by_component(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.components:
            if c.loaded:
                out[c.name] = out.get(c.name, 0) + c.params
        return out

    def largest_layer(self, size: Callable[[Block], int]) -> int:
        """The largest decoder layer by ``size`` (per layer of a block): the largest layer block's, plus
        the parts inside every layer (:attr:`Block.within_layers`, an encoder-decoder's cross-attention)."""
        blocks = self.decoder_blocks()
        inside = sum(size(b) for b in blocks if b.within_layers)
        return max((size(b) for b in blocks if b.is_layer), default=0) + inside

    def decoder_blocks(self) -> list[Block]:
        return [b for c in self.components if c.kind == "decoder" and c.loaded for b in c.blocks]

    def encoder_blocks(self) -> list[Block]:
        """An encoder-decoder's encoder layers (run over the encoder input, once per sequence)."""
        return [b for c in self.components if c.kind == "encoder" and c.loaded for b in c.blocks if b.is_layer]

    def cache_blocks(self) -> list[Block]:
        """The blocks whose attention the KV cache holds: the decoder's and an encoder's streaming cache."""
        return self.decoder_blocks() + list(self.encoder_cache)

    @property
    def has_architecture(self) -> bool:
        """False for a bare size literal: no layers, so no KV cache or activations."""
        return self.text is not None
