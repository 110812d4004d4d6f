import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vram import units
from vram.errors import UsageError


def test_doctests() -> None:
    assert doctest.testmod(units).failed == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [("13B", 13_000_000_000), ("7.5b", 7_500_000_000), ("72e9", 72_000_000_000), ("405B", 405_000_000_000),
     ("350M", 350_000_000), ("1.5T", 1_500_000_000_000), ("124439808", 124_439_808), (" 7b ", 7_000_000_000)],
)
def test_parse_parameter_count(text: str, expected: int) -> None:
    assert units.parse_parameter_count(text) == expected


@pytest.mark.parametrize("text", ["", "B", "7X", "-7B", "0B", "1.5", "seven", "7BB", "1e-3"])
def test_parse_parameter_count_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        units.parse_parameter_count(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("24GiB", 24 * 2**30), ("80GB", 80 * 10**9), ("512MiB", 512 * 2**20), ("1.5 TB", 1_500_000_000_000)],
)
def test_parse_memory(text: str, expected: int) -> None:
    assert units.parse_memory(text) == expected


@pytest.mark.parametrize("text", ["80", "80G", "GiB", "-1GiB", "0GB"])
def test_parse_memory_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        units.parse_memory(text)


def test_gib_and_gb_are_labelled_and_different() -> None:
    assert units.format_bytes(72 * 10**9 * 2, "gb") == "144.00 GB"
    assert units.format_bytes(72 * 10**9 * 2, "gib") == "134.11 GiB"


@given(st.text(max_size=12))
def test_parse_parameter_count_never_crashes(text: str) -> None:
    try:
        n = units.parse_parameter_count(text)
    except UsageError:
        return
    assert n > 0
