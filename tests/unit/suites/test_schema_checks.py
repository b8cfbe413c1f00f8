"""The suite schema's parameters of each check are the check factory's own keywords, so a
parameter added to a check (``fuzzy.normalize``) cannot be missing from the schema."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

from harness.checks.registry import CHECKS
from harness.suites.problems import problems_from, schema_errors, suite_schema
from harness.suites.source import load_yaml

# Checks whose object form is not a plain parameter mapping of the factory's keywords, and
# checks the schema takes in their shorthand form only.
NOT_PLAIN = {"reasoning", "not", "all", "any", "json"}
SHORTHAND_ONLY = {
    "contains",
    "icontains",
    "contains_any",
    "contains_all",
    "icontains_any",
    "icontains_all",
    "finished",
    "no_tool_call",
}


def schema_keys(name: str) -> set[str]:
    spec: dict[str, Any] = suite_schema()["$defs"]["checks"][name]
    for part in (spec, spec.get("then", {})):
        if "properties" in part:
            return set(part["properties"])
    raise AssertionError(f"no parameters in the schema of {name}")


@pytest.mark.parametrize("name", sorted(set(CHECKS) - NOT_PLAIN - SHORTHAND_ONLY))
def test_schema_parameters_are_the_factory_keywords(name: str) -> None:
    params = inspect.signature(CHECKS[name]).parameters.values()
    keywords = {p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name != "ctx"}
    assert schema_keys(name) == keywords


@pytest.mark.parametrize(
    ("check", "ok"),
    [
        pytest.param({"fuzzy": {"value": "x", "normalize": True}}, True, id="fuzzy-normalize"),
        pytest.param({"baseline": {"normalize": False}}, True, id="baseline-normalize"),
        pytest.param({"fuzzy": {"value": "x", "normalize": "yes"}}, False, id="not-a-bool"),
    ],
)
def test_normalize_is_in_the_schema(check: dict[str, Any], ok: bool) -> None:
    errors = schema_errors({"prompt": "p", "cases": [{"id": "a", "expect": [check]}]})
    assert (not errors) is ok, [e.message for e in errors]


def unknown(check: dict[str, Any]) -> list[str]:
    text = json.dumps({"prompt": "p", "cases": [{"id": "a", "expect": [check]}]})
    located = load_yaml(text, "s.yaml")
    return [p.message for p in problems_from(schema_errors(located.data), located, "s.yaml")]


CHECK_NAMES = "all, any, baseline, contains, contains_all, contains_any, ends_with, equals, f1"


@pytest.mark.parametrize(
    ("check", "message"),
    [
        pytest.param(
            {"fuzy": "x"},
            f"unknown check 'fuzy'; did you mean 'fuzzy'? (checks: {CHECK_NAMES}, ",
            id="top-level",
        ),
        pytest.param(
            {"all": [{"fuzy": "x"}]},
            f"unknown check 'fuzy'; did you mean 'fuzzy'? (checks: {CHECK_NAMES}, ",
            id="nested",
        ),
        pytest.param(
            {"json": {"pointer": "/a", "fuzy": "x"}},
            f"unknown check 'fuzy'; did you mean 'fuzzy'? (checks: {CHECK_NAMES}, ",
            id="in-json",
        ),
        pytest.param(
            {"contains": "x", "wieght": 2},
            "unknown key 'wieght'; did you mean 'weight'? (checks: ",
            id="a-misspelt-weight",
        ),
    ],
)
def test_an_unknown_check_lists_checks_only(check: dict[str, Any], message: str) -> None:
    (found,) = [m for m in unknown(check) if m.startswith("unknown")]
    assert found.startswith(message)
    listed = found.partition("(checks: ")[2].partition(")")[0]
    names = listed.partition(";")[0].split(", ")
    assert "weight" not in names
    assert "pointer" not in names
    assert "fuzzy" in names
