"""The convolutional VQ-VAE image tokenizer (the "Make-a-Scene" / taming-transformers layout) that
image-generating vision-language models carry beside their language model.

File followed: transformers 5.23 ``models/janus/modeling_janus.py`` (JanusVQVAE: JanusVQVAEEncoder,
JanusVQVAEVectorQuantizer, JanusVQVAEDecoder and their ResNet, attention, down- and upsampling blocks).

- A ResNet block (in -> out channels): GroupNorm, 3x3 conv, GroupNorm, 3x3 conv (convolutions with
  bias; GroupNorms affine), and a 1x1 shortcut conv when the channels change.
- An attention block: GroupNorm and four 1x1 convs with bias (q, k, v, proj_out).
- The encoder: a 3x3 conv_in into ``base_channels``; per resolution level ``num_res_blocks`` ResNet
  blocks into base x ``channel_multiplier[level]`` (an attention block after each at the last level) and,
  except at the last level, a stride-2 3x3 conv; a middle block (ResNet, attention, ResNet); a
  GroupNorm and a 3x3 conv_out into ``latent_channels`` (twice that when ``double_latent``).
- The quantizer's codebook (``num_embeddings`` x ``embed_dim``), 1x1 quant_conv and post_quant_conv.
- The decoder mirrors it: conv_in, middle block, per level (highest first) ``num_res_blocks`` + 1 ResNet
  blocks (attention at the last level) and, except at level 0, an upsampling 3x3 conv; GroupNorm and
  conv_out into ``out_channels``.
"""

from __future__ import annotations

from vram.architectures._config import Cfg
from vram.model import Block, Component


def _conv(n_in: int, n_out: int, k: int) -> int:
    return n_in * n_out * k * k + n_out


def _resnet(n_in: int, n_out: int) -> int:
    return 2 * n_in + _conv(n_in, n_out, 3) + 2 * n_out + _conv(n_out, n_out, 3) + (
        _conv(n_in, n_out, 1) if n_in != n_out else 0)


def _attn(c: int) -> int:
    return 2 * c + 4 * _conv(c, c, 1)


def _mid(c: int) -> int:
    return 2 * _resnet(c, c) + _attn(c)


def vq_vae_params(q: Cfg) -> tuple[int, int, int]:
    """(encoder, quantizer with its 1x1 convs, decoder) parameters of the VQ-VAE."""
    mult = q.int_list("channel_multiplier", [1, 1, 2, 2, 4], minimum=1)
    base, blocks = q.int("base_channels", 128), q.int("num_res_blocks", 2)
    latent, embed = q.int("latent_channels", 256), q.int("embed_dim", 8)
    last = len(mult) - 1
    enc = _conv(q.int("in_channels", 3), base, 3)
    block_in = base
    for level, m in enumerate(mult):
        for _ in range(blocks):
            enc += _resnet(block_in, base * m)
            block_in = base * m
            enc += _attn(block_in) if level == last else 0
        enc += _conv(block_in, block_in, 3) if level != last else 0
    latent_out = 2 * latent if q.bool("double_latent", False) else latent
    enc += _mid(block_in) + 2 * block_in + _conv(block_in, latent_out, 3)
    quant = q.int("num_embeddings", 16384) * embed + _conv(latent, embed, 1) + _conv(embed, latent, 1)
    block_in = base * mult[-1]
    dec = _conv(latent, block_in, 3) + _mid(block_in)
    for level in reversed(range(len(mult))):
        for _ in range(blocks + 1):
            dec += _resnet(block_in, base * mult[level])
            block_in = base * mult[level]
            dec += _attn(block_in) if level == last else 0
        dec += _conv(block_in, block_in, 3) if level != 0 else 0
    dec += 2 * block_in + _conv(block_in, q.int("out_channels", 3), 3)
    return enc, quant, dec


def vq_vae(q: Cfg, *, name: str = "vqmodel") -> Component:
    enc, quant, dec = vq_vae_params(q)
    return Component(name=name, kind="vision", blocks=(
        Block(name="vq_encoder", other_params=enc), Block(name="vq_quantizer", other_params=quant),
        Block(name="vq_decoder", other_params=dec)))
