"""Bytes of one weight matrix in each format, checked by hand."""

import pytest

from vram import presets

F = presets.formats()


def fmt(name: str):  # type: ignore[no-untyped-def]
    found = F.find(name)
    assert found is not None
    return found


N = 4096


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("fp32", N * N * 4),
        ("bf16", N * N * 2),
        # LLM.int8: 1 byte per weight + fp32 scale per output row
        ("int8", N * N + 4 * N),
        # NF4: half a byte per weight + fp32 absmax per 64 weights
        ("nf4", N * N // 2 + 4 * (N * N // 64)),
        # NF4 double quant: 8-bit absmax per 64 + fp32 per 256 blocks
        ("nf4-dq", N * N // 2 + (N * N // 64) + 4 * (N * N // 64 // 256)),
        # GPTQ g128: packed int4, fp16 scale + 4-bit zero per group of 128 inputs per output, int32 g_idx
        ("int4", N * N // 2 + (N // 128) * N * 20 // 8 + 4 * N),
        ("awq", N * N // 2 + (N // 128) * N * 20 // 8),
        # GGUF blocks: q8_0 34 bytes per 32, q4_0 18 per 32, q4_k 144 per 256, q6_k 210 per 256
        ("q8_0", N * N // 32 * 34),
        ("q4_0", N * N // 32 * 18),
        ("q4_k", N * N // 256 * 144),
        ("q6_k", N * N // 256 * 210),
        ("q2_k", N * N // 256 * 84),
        # FP8: one byte per weight and an fp32 scale per tensor
        ("fp8", N * N + 4),
    ],
)
def test_matrix_bytes(name: str, expected: int) -> None:
    assert fmt(name).matrix_bytes(N, N) == expected


def test_nf4_bits_per_weight_is_qlora_paper_value() -> None:
    assert fmt("nf4").nominal_bits == pytest.approx(4.5)
    assert fmt("nf4-dq").nominal_bits == pytest.approx(4.127, abs=1e-3)


@pytest.mark.parametrize("alias", ["BF16", "bfloat16", "Q4_K_M", "gptq", "float16", "NF4", "fp8-e4m3"])
def test_aliases_are_case_insensitive(alias: str) -> None:
    assert F.find(alias) is not None


def test_unknown_format() -> None:
    assert F.find("int3") is None


def test_flat_bytes_rounds_up() -> None:
    assert fmt("q8_0").flat_bytes(64) == 2 * 34
    assert fmt("nf4").flat_bytes(3) == 2 + 4
