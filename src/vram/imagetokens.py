"""Visual tokens: how many tokens one image of a given size adds, by each processor's own arithmetic.

Pure functions over integers, each following one public implementation (docs/math.md lists them):

- :func:`select_best_resolution`: transformers ``image_processing_utils.select_best_resolution``
  (pinpoints as (height, width)); the LLaVA-NeXT repository's ``llava/mm_utils.py`` has the same
  rule with (width, height) pairs, which its builder swaps before calling.
- :func:`unpadded_grid`: transformers ``LlavaNextProcessor._get_unpadded_features`` (rounds the
  scaled side to 7 decimals before truncating); LLaVA-NeXT ``llava_arch.py`` ``unpad_image``
  (truncates directly).
- :func:`anyres_tokens`: transformers ``LlavaNextProcessor._get_number_of_features`` and
  ``LlavaOnevisionProcessor._get_unpadded_features`` (``anyres_max_N``: features larger than N
  tiles by more than 10% are downscaled), which match ``llava_arch.py``.
- :func:`smart_resize`: transformers ``qwen2_vl/image_processing_qwen2_vl.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from vram.errors import UsageError


def select_best_resolution(height: int, width: int, pinpoints: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """The (height, width) pinpoint that keeps the most of the image, then wastes the fewest pixels."""
    best = pinpoints[0]
    most_kept, least_wasted = 0, math.inf
    for ph, pw in pinpoints:
        scale = min(pw / width, ph / height)
        kept = min(int(width * scale) * int(height * scale), width * height)
        wasted = pw * ph - kept
        if kept > most_kept or (kept == most_kept and wasted < least_wasted):
            best, most_kept, least_wasted = (ph, pw), kept, wasted
    return best


def unpadded_grid(height: int, width: int, rows: int, cols: int, *, rounded: bool) -> tuple[int, int]:
    """Rows and columns of a ``rows`` x ``cols`` feature grid left after removing the padding that
    fitting a ``width`` x ``height`` image into it added (the same number of rows or columns on
    each side)."""
    if width / height > cols / rows:
        scaled = height * (cols / width)
        kept = int(round(scaled, 7)) if rounded else int(scaled)
        return rows - (rows - kept) // 2 * 2, cols
    scaled = width * (rows / height)
    kept = int(round(scaled, 7)) if rounded else int(scaled)
    return rows, cols - (cols - kept) // 2 * 2


def anyres_grid(height: int, width: int, *, tile: int, grid: int, pinpoints: Sequence[tuple[int, int]],
                max_tiles: int | None, unpad: bool, rounded: bool) -> tuple[int, int, int]:
    """(rows, columns, tiles) of the features an AnyRes image keeps besides its base view.

    The image is fitted to the best pinpoint and cut into ``tile`` x ``tile`` tiles of ``grid`` x
    ``grid`` features each; ``unpad`` removes the padding; ``anyres_max_N`` (``max_tiles``)
    downscales the grid when it is more than 1.1 times the area of N tiles.
    """
    ph, pw = select_best_resolution(height, width, pinpoints)
    tiles_h, tiles_w = ph // tile, pw // tile
    rows, cols = grid * tiles_h, grid * tiles_w
    if unpad:
        rows, cols = unpadded_grid(height, width, rows, cols, rounded=rounded)
        if max_tiles:
            ratio = math.sqrt(rows * cols / (max_tiles * grid * grid))
            if ratio > 1.1:
                rows, cols = int(rows // ratio), int(cols // ratio)
    return rows, cols, tiles_h * tiles_w


def anyres_tokens(height: int, width: int, *, tile: int, grid: int, base: int,
                  pinpoints: Sequence[tuple[int, int]], max_tiles: int | None, unpad: bool,
                  rounded: bool) -> tuple[int, int]:
    """(language-model tokens, views the encoder runs over) for one AnyRes image.

    Tokens: the base view's ``base`` features, plus the tiles' features, plus (when unpadded) one
    newline token per row.
    """
    rows, cols, tiles = anyres_grid(height, width, tile=tile, grid=grid, pinpoints=pinpoints,
                                    max_tiles=max_tiles, unpad=unpad, rounded=rounded)
    return base + rows * cols + (rows if unpad else 0), 1 + tiles


def smart_resize(height: int, width: int, *, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """(height, width) the Qwen2-VL image processor resizes an image to: sides multiples of
    ``factor``, pixels kept between ``min_pixels`` and ``max_pixels``, aspect ratio nearly kept."""
    if max(height, width) / min(height, width) > 200:
        raise UsageError(f"--image-size {width}x{height}: the Qwen2-VL processor refuses aspect ratios above 200")
    h = round(height / factor) * factor
    w = round(width / factor) * factor
    if max_pixels and h * w > max_pixels:  # 0: the model states no bound
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w
