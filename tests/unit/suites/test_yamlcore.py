"""Suites are read as YAML 1.2 core schema (as promptfoo's js-yaml reads them): YAML 1.1's
``yes``/``no``/``on``/``off`` and sexagesimal ``12:30`` stay strings; booleans, numbers and
null are the 1.2 core forms, with the loader's line marks and limits unchanged."""

from __future__ import annotations

import math
from typing import Any

import pytest

from harness.suites import source
from harness.suites.source import load_yaml

NAN = object()  # a marker: the value must be a float NaN


def value_of(scalar: str) -> Any:
    located = load_yaml(f"v: {scalar}\n", "s.yaml")
    assert located.problems == []
    return located.data["v"]


@pytest.mark.parametrize(
    ("scalar", "expected"),
    [
        # YAML 1.1 booleans are plain strings in 1.2 core, in every case
        *[
            pytest.param(word, word, id=f"str-{word}")
            for word in (
                "yes",
                "Yes",
                "YES",
                "no",
                "No",
                "NO",
                "on",
                "On",
                "ON",
                "off",
                "Off",
                "OFF",
                "y",
                "Y",
                "n",
                "N",
                "yEs",
                "tRUE",
                "fAlse",
            )
        ],
        # 1.2 core booleans
        *[pytest.param(w, True, id=f"bool-{w}") for w in ("true", "True", "TRUE")],
        *[pytest.param(w, False, id=f"bool-{w}") for w in ("false", "False", "FALSE")],
        # null: ~, null in three cases, and the empty value
        *[
            pytest.param(w, None, id=f"null-{w or 'empty'}")
            for w in ("~", "null", "Null", "NULL", "")
        ],
        pytest.param("nULL", "nULL", id="str-nULL"),
        # sexagesimal numbers (1.1) stay strings; so do times and dates
        pytest.param("12:30", "12:30", id="str-sexagesimal"),
        pytest.param("1:30:00", "1:30:00", id="str-sexagesimal-3"),
        pytest.param("-1:30", "-1:30", id="str-neg-sexagesimal"),
        pytest.param("190:20:30.15", "190:20:30.15", id="str-float-sexagesimal"),
        pytest.param("2024-01-31", "2024-01-31", id="str-date"),
        pytest.param("2024-02-30", "2024-02-30", id="str-impossible-date"),
        pytest.param("2001-12-14t21:59:43.10-05:00", "2001-12-14t21:59:43.10-05:00", id="str-ts"),
        # ints: decimal (a leading zero is still decimal), 0o octal, 0x hex
        pytest.param("0", 0, id="int-0"),
        pytest.param("42", 42, id="int"),
        pytest.param("-17", -17, id="int-neg"),
        pytest.param("+17", 17, id="int-plus"),
        pytest.param("007", 7, id="int-leading-zero-decimal"),
        pytest.param("0o17", 15, id="int-octal"),
        pytest.param("0x1F", 31, id="int-hex"),
        pytest.param("0xff", 255, id="int-hex-lower"),
        # 1.1-only integer forms are strings
        pytest.param("1_000", "1_000", id="str-underscore"),
        pytest.param("0b101", "0b101", id="str-binary"),
        pytest.param("-0x1F", "-0x1F", id="str-signed-hex"),
        pytest.param("0o8", "0o8", id="str-bad-octal"),
        # floats
        pytest.param("1.5", 1.5, id="float"),
        pytest.param("-0.25", -0.25, id="float-neg"),
        pytest.param("+.5", 0.5, id="float-dot"),
        pytest.param("1.", 1.0, id="float-trailing-dot"),
        pytest.param("1e3", 1000.0, id="float-exp-no-dot"),
        pytest.param("6.02E+23", 6.02e23, id="float-exp"),
        pytest.param("1.5e-3", 0.0015, id="float-neg-exp"),
        *[pytest.param(w, math.inf, id=f"inf-{w}") for w in (".inf", ".Inf", ".INF", "+.inf")],
        *[pytest.param(w, -math.inf, id=f"-inf-{w}") for w in ("-.inf", "-.Inf", "-.INF")],
        *[pytest.param(w, NAN, id=f"nan-{w}") for w in (".nan", ".NaN", ".NAN")],
        pytest.param(".iNf", ".iNf", id="str-odd-inf"),
        pytest.param("1_000.5", "1_000.5", id="str-underscore-float"),
        pytest.param("1e", "1e", id="str-bare-e"),
        pytest.param(".", ".", id="str-dot"),
        # quoted scalars are always strings
        pytest.param("'true'", "true", id="quoted-true"),
        pytest.param('"12"', "12", id="quoted-int"),
        pytest.param("'~'", "~", id="quoted-null"),
    ],
)
def test_every_scalar_form_reads_as_yaml_1_2_core(scalar: str, expected: Any) -> None:
    got = value_of(scalar)
    if expected is NAN:
        assert isinstance(got, float)
        assert math.isnan(got)
        return
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "{body: Yes, code: NO, t: 12:30}",
            {"body": "Yes", "code": "NO", "t": "12:30"},
            id="flow",
        ),
        pytest.param("[on, off, 1, 1.0, true, ~]", ["on", "off", 1, 1.0, True, None], id="list"),
        pytest.param("{yes: 1, 2: no}", {"yes": 1, 2: "no"}, id="keys"),
    ],
)
def test_collections_and_keys_read_the_same_way(text: str, expected: Any) -> None:
    located = load_yaml(f"v: {text}\n", "s.yaml")
    assert located.data["v"] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("!!str 12", "12", id="str"),
        pytest.param("!!int '0o17'", 15, id="int-octal"),
        pytest.param("!!float '1'", 1.0, id="float"),
        pytest.param("!!bool 'True'", True, id="bool"),
    ],
)
def test_explicit_tags_still_construct(text: str, expected: Any) -> None:
    assert value_of(text) == expected


@pytest.mark.parametrize("text", ["!!bool yes", "!!int 12:30", "!!int 1_000", "!!float 1:30"])
def test_an_explicit_tag_on_a_1_1_form_is_refused(text: str) -> None:
    located = load_yaml(f"v: {text}\n", "s.yaml")
    assert [p.message.startswith("invalid value") for p in located.problems] == [True]


def test_the_c_parser_is_kept_when_pyyaml_has_it() -> None:
    import yaml

    if hasattr(yaml, "CSafeLoader"):
        assert issubclass(source._Loader, yaml.CSafeLoader)


def test_line_marks_survive_the_resolver() -> None:
    located = load_yaml("a: yes\nb:\n  - 12:30\n  - on\nc: {d: 0o17}\n", "s.yaml")
    assert located.data == {"a": "yes", "b": ["12:30", "on"], "c": {"d": 15}}
    assert located.lines[("a",)] == 1
    assert located.lines[("b", 0)] == 3
    assert located.lines[("b", 1)] == 4
    assert located.lines[("c", "d")] == 5
    assert located.key_lines[("c",)] == 5


def test_a_long_integer_is_still_refused() -> None:
    located = load_yaml(f"v: {'9' * 5000}\n", "s.yaml")
    assert [p.message for p in located.problems] == [
        "invalid value: integer of more than 4000 digits"
    ]


def test_merge_keys_still_merge() -> None:
    located = load_yaml("base: &b {x: yes}\nv:\n  <<: *b\n  y: 1\n", "s.yaml")
    assert located.data["v"] == {"x": "yes", "y": 1}


def test_pyyaml_s_own_loaders_are_left_as_they_are() -> None:
    import yaml

    assert yaml.safe_load("v: yes") == {"v": True}  # other code in the process keeps 1.1
