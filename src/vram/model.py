"""The model description the core works on: parameters by component, layer by layer.

A :class:`ModelSpec` is built from a config.json by :mod:`vram.architectures` (or from a bare size
literal). It records every weight matrix of a layer with its shape, so that weights in any format,
LoRA adapters, Hessians and per-layer memory can all be computed from the same description.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ComponentKind = Literal["embedding", "decoder", "head", "vision", "projector", "mtp", "other"]
AttentionKind = Literal["full", "sliding", "mla", "cross"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Linear(_Frozen):
    """A weight matrix y = x W^T (+ b); ``copies`` > 1 for stacked experts."""

    name: str
    in_features: int = Field(gt=0)
    out_features: int = Field(gt=0)
    bias: bool = False
    copies: int = Field(default=1, gt=0)
    active_copies: int | None = Field(default=None, ge=0)

    @property
    def params(self) -> int:
        return self.copies * (self.in_features * self.out_features + (self.out_features if self.bias else 0))

    @property
    def active_params(self) -> int:
        n = self.copies if self.active_copies is None else self.active_copies
        return n * (self.in_features * self.out_features + (self.out_features if self.bias else 0))


class Attention(_Frozen):
    """What one layer's attention caches and computes."""

    kind: AttentionKind
    num_heads: int = Field(gt=0)
    num_kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    v_head_dim: int = Field(gt=0)
    window: int | None = Field(default=None, gt=0)
    latent_dim: int | None = Field(default=None, gt=0)
    """MLA: elements cached per token (kv_lora_rank + qk_rope_head_dim)."""
    cross_tokens: int | None = Field(default=None, ge=0)
    """Cross-attention: tokens cached per image (fixed by the vision encoder)."""


class Block(_Frozen):
    """``count`` identical layers (or one module when count is 1)."""

    name: str
    count: int = Field(default=1, gt=0)
    linears: tuple[Linear, ...] = ()
    embedding_params: int = Field(default=0, ge=0)
    """Parameters in embedding tables (matrices looked up, not multiplied)."""
    other_params: int = Field(default=0, ge=0)
    """Norms, gates, positional vectors, convolution kernels: never quantized."""
    attention: Attention | None = None
    mlp_width: int = Field(default=0, ge=0)
    """Width of the dense MLP's hidden activation (for MoE layers: the shared experts', or 0)."""
    gated_mlp: bool = True
    experts_per_token: int = Field(default=0, ge=0)
    """MoE: routed experts each token visits (0 for a dense layer)."""
    expert_width: int = Field(default=0, ge=0)
    """MoE: hidden width of one routed expert."""

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


class Component(_Frozen):
    """A named part of the model: embeddings, decoder layers, lm_head, vision tower, projector."""

    name: str
    kind: ComponentKind
    blocks: tuple[Block, ...]
    loaded: bool = True
    """False for stored parts that the runtime does not build (DeepSeek's MTP layer)."""

    @property
    def params(self) -> int:
        return sum(b.params for b in self.blocks)

    @property
    def active_params(self) -> int:
        return sum(b.active_params for b in self.blocks)


class TextDims(_Frozen):
    """Dimensions of the language model that the activation model needs."""

    hidden_size: int = Field(gt=0)
    num_layers: int = Field(gt=0)
    num_heads: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    max_position_embeddings: int | None = Field(default=None, gt=0)


class VisionDims(_Frozen):
    """Dimensions of a vision encoder, for visual tokens and its activations."""

    hidden_size: int = Field(gt=0)
    num_layers: int = Field(gt=0)
    num_heads: int = Field(gt=0)
    intermediate_size: int = Field(gt=0)
    image_size: int = Field(gt=0)
    patch_size: int = Field(gt=0)
    patches_per_image: int = Field(gt=0)
    """Tokens the encoder runs over for one image (or one tile / frame)."""
    llm_tokens_per_image: int = Field(ge=0)
    """Tokens one image adds to the language model's sequence."""
    llm_tokens_per_frame: int = Field(ge=0)
    """Tokens one video frame adds (after pooling)."""
    tiles_per_image: int = Field(default=1, gt=0)


class ModelSpec(_Frozen):
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

    def decoder_blocks(self) -> list[Block]:
        return [b for c in self.components if c.kind == "decoder" and c.loaded for b in c.blocks]

    @property
    def has_architecture(self) -> bool:
        """False for a bare size literal: no layers, so no KV cache or activations."""
        return self.text is not None
