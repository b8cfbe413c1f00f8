"""The catastrophic-backtracking guard: the known exponential shapes are refused, common
patterns are not."""

from __future__ import annotations

import pytest

from harness.regexes import MAX_PATTERN, UnsafePattern, backtracking_risk, compile_safe


@pytest.mark.parametrize(
    "pattern",
    [
        pytest.param(r"Answer:\s*(.+)", id="extract-line"),
        pytest.param(r"^\d{1,3}(,\d{3})*$", id="thousands"),
        pytest.param(r"(\d+,)*\d+", id="mandatory-separator"),
        pytest.param(r"(cat|dog)+", id="distinct-branches"),
        pytest.param(r"(?:[a-z]+\.)+com", id="domain"),
        pytest.param(r"((ab)*c)*", id="nested-with-required-c"),
        pytest.param(r"[A-Z][a-z]+ [A-Z][a-z]+", id="names"),
        pytest.param(r"(?i)\bparis\b", id="word"),
    ],
)
def test_common_patterns_compile(pattern: str) -> None:
    assert compile_safe(pattern).pattern == pattern
    assert backtracking_risk(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        pytest.param(r"(a+)+$", "only a variable-length repeat", id="a-plus-plus"),
        pytest.param(r"(a*)*", "only a variable-length repeat", id="a-star-star"),
        pytest.param(r"(\w+\s?)+$", "only a variable-length repeat", id="word-optional-space"),
        pytest.param(r"(x{2,})*", "only a variable-length repeat", id="counted"),
        pytest.param(r"(\s+|x)+", "branches overlap", id="overlapping-branches"),
        pytest.param(r"prefix((a+)+)suffix", "only a variable-length repeat", id="nested-deeper"),
        pytest.param(r"(?=(a+)+)b", "only a variable-length repeat", id="in-lookahead"),
    ],
)
def test_exponential_shapes_are_refused(pattern: str, why: str) -> None:
    with pytest.raises(UnsafePattern, match="catastrophic backtracking") as info:
        compile_safe(pattern)
    assert why in str(info.value)


def test_invalid_and_huge_patterns_are_refused() -> None:
    with pytest.raises(UnsafePattern, match="invalid regular expression"):
        compile_safe("(")
    with pytest.raises(UnsafePattern, match=f"longer than {MAX_PATTERN}"):
        compile_safe("a" * (MAX_PATTERN + 1))
