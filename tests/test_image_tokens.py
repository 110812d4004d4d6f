"""Visual tokens against the processors' own numbers.

tests/data/image_tokens.json holds what transformers' processors give for a table of image sizes
(written by scripts/image_token_counts.py from blank images run through each image processor);
vram's arithmetic must give the same count for every size.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import load_config, spec_of, workload
from vram import presets
from vram.architectures import spec_from_config
from vram.errors import ConfigError, UsageError
from vram.estimate import estimate
from vram.imagetokens import unpadded_grid
from vram.options import gguf_types

REFERENCE = json.loads((Path(__file__).parent / "data" / "image_tokens.json").read_text())
SIZES = [k for k in REFERENCE["llava-hf__llava-v1.6-mistral-7b-hf"] if "x" in k and " " not in k]
# Qwen2-VL and Qwen2.5-VL share the image processor (and its preprocessor_config.json values).
PROCESSOR_OF = {"llava-hf__llava-v1.6-mistral-7b-hf": "llava-hf__llava-v1.6-mistral-7b-hf",
                "llava-hf__llava-onevision-qwen2-7b-ov-hf": "llava-hf__llava-onevision-qwen2-7b-ov-hf",
                "Qwen__Qwen2.5-VL-7B-Instruct": "Qwen__Qwen2.5-VL-7B-Instruct",
                "Qwen__Qwen2-VL-2B-Instruct": "Qwen__Qwen2.5-VL-7B-Instruct"}


def _size(key: str) -> tuple[int, int]:
    w, h = key.split("x")
    return int(w), int(h)


def est(stem: str, **kw):  # type: ignore[no-untyped-def]
    return estimate(spec_of(stem), workload(**kw), gguf_types=gguf_types())


@pytest.mark.parametrize("stem", sorted(PROCESSOR_OF))
def test_image_tokens_match_the_processor(stem: str) -> None:
    vision = spec_of(stem).vision
    assert vision is not None
    expected = REFERENCE[PROCESSOR_OF[stem]]
    got = {key: vision.image_tokens(*_size(key))[0] for key in SIZES}
    assert got == {key: expected[key] for key in SIZES}


def test_reference_table_has_the_issue_figures() -> None:
    # The numbers that the processor gives and that vram used to get wrong (1,728 and 2,880).
    ref = REFERENCE["llava-hf__llava-v1.6-mistral-7b-hf"]
    assert (ref["336x336"], ref["672x672"]) == (1176, 2928)
    assert len(SIZES) >= 80


def test_llava_next_hand_checked() -> None:
    # 336x336 fits the 336x672 pinpoint (first of the ties): base 24x24 = 576, tiles 24x48 with 12
    # padding columns on each side removed -> 24x24 = 576, plus 24 newlines: 1,176.
    e = est("llava-hf__llava-v1.6-mistral-7b-hf", images=1, image_size="336x336", seq_len=100)
    assert e.tokens_per_sequence == 100 + 576 + 576 + 24
    assert any("1 image at 336x336: 1,176 tokens each" in n for n in e.notes)
    assert not any("2,880" in n or "2,928" in n for n in e.notes)


def test_default_size_is_the_pinpoint_with_most_tokens() -> None:
    # LLaVA-1.6: 672x672 -> 576 + 48x48 + 48 = 2,928; OneVision: 768 wide, 1920 high -> 729 + 135x54 + 135.
    for stem, size, tokens in (("llava-hf__llava-v1.6-mistral-7b-hf", (672, 672), 2928),
                               ("llava-hf__llava-onevision-qwen2-7b-ov-hf", (768, 1920), 8154),
                               ("lmms-lab__LLaVA-Video-72B-Qwen2", (768, 1920), 8154)):
        e = est(stem, images=1, seq_len=100)
        assert e.tokens_per_sequence == 100 + tokens
        assert REFERENCE["llava-hf__llava-onevision-qwen2-7b-ov-hf" if "llava-v1.6" not in stem
                         else stem][f"{size[0]}x{size[1]}"] == tokens
        assert any(f"at {size[0]}x{size[1]} (the default" in n and f"{tokens:,} tokens each" in n for n in e.notes)


@pytest.mark.parametrize("stem", ["lmms-lab__LLaVA-Video-72B-Qwen2", "llava-hf__llava-onevision-qwen2-7b-ov-hf"])
def test_image_size_applies_to_llava_video_and_onevision(stem: str) -> None:
    ref = REFERENCE["llava-hf__llava-onevision-qwen2-7b-ov-hf"]
    for key in ("384x384", "1280x720", "1153x944", "4000x300"):
        e = est(stem, images=1, image_size=key, seq_len=100)
        assert e.tokens_per_sequence == 100 + ref[key]
        assert any(f"1 image at {key}: {ref[key]:,} tokens each" in n for n in e.notes)


def test_llava_video_images_follow_the_same_rule_as_onevision() -> None:
    # llava_arch.py (unpad, anyres_max_9 downscale, newline per row, base view first) is the rule that
    # transformers ported to LlavaOnevisionProcessor; with the same SigLIP-384 tower and the same 6x6
    # grid of pinpoints the counts agree wherever truncation and 7-decimal rounding agree.
    vision = spec_of("lmms-lab__LLaVA-Video-72B-Qwen2").vision
    assert vision is not None
    ref = REFERENCE["llava-hf__llava-onevision-qwen2-7b-ov-hf"]
    assert {k: vision.image_tokens(*_size(k))[0] for k in SIZES} == {k: ref[k] for k in SIZES}


def test_unpadding_rounds_like_each_implementation() -> None:
    # 49x49 into a 27x54 grid: 49 x (27/49) = 26.999999999999996. transformers rounds to 7 decimals
    # (27 columns kept, 13 padding columns each side -> 28); llava_arch.py truncates (26 -> 14 each side).
    assert unpadded_grid(49, 49, 27, 54, rounded=True) == (27, 28)
    assert unpadded_grid(49, 49, 27, 54, rounded=False) == (27, 26)


def test_onevision_several_images_use_the_base_view() -> None:
    per = REFERENCE["llava-hf__llava-onevision-qwen2-7b-ov-hf"]["two images per prompt, each"]
    assert per == 729 + 1
    e = est("llava-hf__llava-onevision-qwen2-7b-ov-hf", images=2, image_size="1280x720", seq_len=100)
    assert e.tokens_per_sequence == 100 + 2 * per
    assert any("2 images (several per sequence: base view only): 730 tokens each" in n for n in e.notes)


@pytest.mark.parametrize("frames", [1, 8, 32])
def test_onevision_video_matches_the_processor(frames: int) -> None:
    # 27x27 patches pooled 2x2 rounding up -> 14x14 per frame, one newline per video.
    expected = REFERENCE["llava-hf__llava-onevision-qwen2-7b-ov-hf video"][f"{frames} frames"]
    assert expected == frames * 196 + 1
    assert est("llava-hf__llava-onevision-qwen2-7b-ov-hf", frames=frames, seq_len=100).tokens_per_sequence == (
        100 + expected)


def test_llava_video_frames_hand_checked() -> None:
    # llava_arch.py: get_2dPool bilinear to ceil(27/2) = 14, add_token_per_grid (mm_newline_position
    # "grid") appends a newline to each of the 14 rows: 14 x 15 = 210 per frame.
    e = est("lmms-lab__LLaVA-Video-72B-Qwen2", frames=64, seq_len=1024)
    assert e.tokens_per_sequence == 1024 + 64 * 210
    assert any("64 frames: 210 tokens each" in n for n in e.notes)


def test_fixed_size_models_ignore_the_size_and_say_so() -> None:
    e = est("llava-hf__llava-1.5-7b-hf", images=3, image_size="1280x720", seq_len=100)
    assert e.tokens_per_sequence == 100 + 3 * 576
    assert any("3 images (a fixed count, whatever the size): 576 tokens each" in n for n in e.notes)


def test_qwen_refuses_extreme_aspect_ratios() -> None:
    with pytest.raises(UsageError, match="aspect ratio"):
        est("Qwen__Qwen2.5-VL-7B-Instruct", images=1, image_size="20100x100")


@pytest.mark.parametrize("points", [[[336]], "not a grid", [[0, 336]], []])
def test_malformed_pinpoints_are_a_config_error(points: object) -> None:
    cfg = load_config("llava-hf__llava-v1.6-mistral-7b-hf")
    cfg["image_grid_pinpoints"] = points
    with pytest.raises(ConfigError, match="image_grid_pinpoints"):
        spec_from_config(cfg, model_id="x/y")


def test_pinpoint_ranges_of_the_training_scripts() -> None:
    # llava/mm_utils.py expands "(1x1),...,(2x2)" to every tile count in range, times the tile size.
    cfg = load_config("lmms-lab__LLaVA-Video-72B-Qwen2")
    cfg["image_grid_pinpoints"] = "(1x1),...,(2x2)"
    vision = spec_from_config(cfg, model_id="x/y", towers=presets.find_tower).vision
    assert vision is not None
    assert set(vision.pinpoints) == {(384, 384), (384, 768), (768, 384), (768, 768)}
    assert not any("image_grid_pinpoints is not in the config" in n
                   for n in spec_from_config(cfg, model_id="x/y", towers=presets.find_tower).notes)


def test_native_resolution_without_pixel_bounds_is_not_clamped() -> None:
    # Qwen3-VL and Kimi-K2.5 state no min_pixels/max_pixels (0): vLLM's profile image divided by that bound
    from vram.imagetokens import smart_resize
    from vram.sources import resolve

    assert smart_resize(448, 448, factor=32, min_pixels=0, max_pixels=0) == (448, 448)
    v = resolve("Qwen/Qwen3-VL-32B-Instruct").spec.vision
    assert v is not None and v.max_pixels == 0
    assert v.image_tokens(448, 448) == (784 // 4, 784)  # (448 / 16)^2 patches, 2x2 merged
