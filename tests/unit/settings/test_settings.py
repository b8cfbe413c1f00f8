"""Option parsing: lists of APIs and efforts, ini headers, `first`, and a repr without the token."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.models import APIS, EFFORTS
from harness.settings.values import (
    Settings,
    first,
    parse_apis,
    parse_efforts,
    parse_headers,
    parse_list,
)

ALLOWED = ("a", "b", "c")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(None, None, id="unset"),
        pytest.param("", None, id="empty"),
        pytest.param("   ", None, id="blank"),
        pytest.param("a", ("a",), id="one"),
        pytest.param("c,a", ("c", "a"), id="order-kept"),
        pytest.param(" a , b ,c ", ("a", "b", "c"), id="whitespace"),
        pytest.param("a,b,a,b", ("a", "b"), id="deduped"),
        pytest.param("a,,b,", ("a", "b"), id="empty-parts-skipped"),
    ],
)
def test_parse_list(text: str | None, expected: tuple[str, ...] | None) -> None:
    assert parse_list(text, ALLOWED, "--opt") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("a,x", "--opt: x not allowed (allowed: a, b, c)", id="one-bad"),
        pytest.param("x, a, y", "--opt: x, y not allowed (allowed: a, b, c)", id="every-bad"),
        pytest.param("A", "--opt: A not allowed (allowed: a, b, c)", id="case-sensitive"),
        pytest.param(" , ,", "--opt: ' , ,' not allowed (allowed: a, b, c)", id="only-commas"),
    ],
)
def test_parse_list_errors_name_the_option_and_allowed_values(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_list(text, ALLOWED, "--opt")
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(None, None, id="unset"),
        pytest.param("chat", ("chat",), id="chat"),
        pytest.param("responses, chat", ("responses", "chat"), id="both"),
        pytest.param("chat,chat", ("chat",), id="deduped"),
    ],
)
def test_parse_apis(text: str | None, expected: tuple[str, ...] | None) -> None:
    assert parse_apis(text) == expected


def test_parse_apis_error() -> None:
    with pytest.raises(ConfigError, match=r"^--glm-api: completions not allowed") as info:
        parse_apis("chat,completions")
    assert f"(allowed: {', '.join(APIS)})" in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("low,medium,high", ("low", "medium", "high"), id="three"),
        pytest.param("none", ("none",), id="thinking-off"),
        pytest.param("default, high , default", ("default", "high"), id="dedupe-whitespace"),
        pytest.param(",".join(EFFORTS), EFFORTS, id="every-effort"),
    ],
)
def test_parse_efforts(text: str, expected: tuple[str, ...]) -> None:
    assert parse_efforts(text) == expected


def test_parse_efforts_error() -> None:
    with pytest.raises(ConfigError, match=r"^--glm-effort: maximum not allowed") as info:
        parse_efforts("low,maximum")
    assert f"(allowed: {', '.join(EFFORTS)})" in str(info.value)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param([], {}, id="none"),
        pytest.param(
            ["azureml-model-deployment: glm-flash-1"],
            {"azureml-model-deployment": "glm-flash-1"},
            id="one",
        ),
        pytest.param(
            ["", "  X-A :  1 ", "   ", "X-B: a:b:c"],
            {"X-A": "1", "X-B": "a:b:c"},
            id="blank-lines-whitespace-and-colons-in-value",
        ),
        pytest.param(["X-Empty:"], {"X-Empty": ""}, id="empty-value"),
    ],
)
def test_parse_headers(lines: list[str], expected: dict[str, str]) -> None:
    assert parse_headers(lines) == expected


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        pytest.param(
            ["Authorization: Bearer abc"],
            "glm_headers: set the token with GLM_API_KEY, not in the ini file",
            id="authorization",
        ),
        pytest.param(
            ["  authorization : Bearer abc"],
            "glm_headers: set the token with GLM_API_KEY, not in the ini file",
            id="authorization-any-case",
        ),
        pytest.param(
            ["X-A: 1", "no colon here"],
            "glm_headers: 'no colon here': expected 'Name: value'",
            id="no-colon",
        ),
        pytest.param([": value"], "glm_headers: '': expected 'Name: value'", id="no-name"),
    ],
)
def test_parse_headers_errors(lines: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_headers(lines)
    assert str(info.value) == message
    assert "abc" not in str(info.value)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param((), None, id="nothing"),
        pytest.param((None, None), None, id="all-unset"),
        pytest.param((None, "  ", "", "x"), "x", id="skips-unset-and-blank"),
        pytest.param(("  cli  ", "env"), "cli", id="first-wins-stripped"),
        pytest.param((None, "env", "ini"), "env", id="second"),
    ],
)
def test_first(values: tuple[str | None, ...], expected: str | None) -> None:
    assert first(*values) == expected


def test_repr_never_shows_the_token_or_headers() -> None:
    settings = Settings(
        base_url="https://example.invalid",
        model="m",
        api_key="secret-token-123",
        headers={"azureml-model-deployment": "hidden-deployment"},
    )
    text = repr(settings)
    assert "secret-token-123" not in text
    assert "hidden-deployment" not in text
    assert "https://example.invalid" in text
    assert settings.api_key == "secret-token-123"
