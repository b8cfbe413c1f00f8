"""The suite schema's parameters of each check are the check factory's own keywords, so a
parameter added to a check (``fuzzy.normalize``) cannot be missing from the schema."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from harness.checks.registry import CHECKS
from harness.suites.problems import schema_errors, suite_schema

# Checks whose object form is not a plain parameter mapping of the factory's keywords, and
# checks the schema takes in their shorthand form only.
NOT_PLAIN = {"reasoning", "not", "all", "any", "json"}
SHORTHAND_ONLY = {"contains", "icontains", "contains_any", "contains_all", "finished"}


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
