"""The suite JSON Schema (``schema/suite.schema.json``), validation against it, and its errors
-> one-line problems: where, what, what is allowed."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any, Protocol

import jsonschema

from harness.errors import Problem
from harness.suites.source import Path, format_path


@cache
def suite_schema() -> dict[str, Any]:
    """The JSON Schema every suite file is validated against."""
    text = resources.files("harness.suites").joinpath("schema/suite.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(suite_schema())
    return cls(suite_schema())


@cache
def _case_validator() -> jsonschema.protocols.Validator:
    schema = suite_schema()
    cls = jsonschema.validators.validator_for(schema)
    return cls({"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": "#/$defs/case"})


@cache
def _tools_validator() -> jsonschema.protocols.Validator:
    schema = suite_schema()
    cls = jsonschema.validators.validator_for(schema)
    tools = {"type": "array", "items": {"$ref": "#/$defs/tool"}}
    return cls({"$schema": schema["$schema"], "$defs": schema["$defs"], **tools})


def tool_errors(tools: Any) -> list[jsonschema.ValidationError]:
    """Every schema error of a tools file's list (paths start at the list)."""
    return list(_tools_validator().iter_errors(tools))


_CASE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # as in the schema


def schema_errors(data: Any) -> list[jsonschema.ValidationError]:
    """Every schema error of a suite document; its cases as :func:`case_errors` finds them."""
    cases = data.get("cases") if isinstance(data, dict) else None
    if not isinstance(cases, list) or not cases:
        return list(_validator().iter_errors(data))
    errors = list(_validator().iter_errors({**data, "cases": [{"id": "placeholder"}]}))
    return errors + case_errors(cases, ("cases",))


def case_errors(cases: list[Any], at: Path) -> list[jsonschema.ValidationError]:
    """Every schema error of ``cases`` (each error's path starts ``(*at, index)``). A case
    shaped like one already found valid (same keys and values but for its id and vars,
    which the schema only requires to be a name and a mapping) is not validated again:
    suites of thousands of cases generated from one pattern load several times faster."""
    errors: list[jsonschema.ValidationError] = []
    valid_shapes: set[str] = set()
    for i, case in enumerate(cases):
        shape = None
        if isinstance(case, dict) and isinstance(case.get("vars", {}), dict):
            case_id = case.get("id")
            if isinstance(case_id, str) and _CASE_ID.match(case_id):
                shape = json.dumps({**case, "id": "", "vars": {}}, sort_keys=True, default=repr)
        if shape is not None and shape in valid_shapes:
            continue
        found = list(_case_validator().iter_errors(case))
        for error in found:
            error.path.appendleft(i)
            for part in reversed(at):
                error.path.appendleft(part)
        if not found and shape is not None:
            valid_shapes.add(shape)
        errors += found
    return errors


class Lines(Protocol):
    """Where each part of a document is: :class:`~harness.suites.source.Located`, or a
    dataset row."""

    def line_of(self, path: Path, *, key: bool = False) -> int: ...


_TYPE_NAMES = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_check(schema: Any) -> bool:
    """True for the schema of a check mapping (its properties are the check names)."""
    return isinstance(schema, dict) and "equals" in schema.get("properties", {})


def problems_from(
    errors: Iterable[jsonschema.ValidationError], located: Lines, filename: str
) -> list[Problem]:
    """One problem per error (one per unknown key), with the line of the offending node."""
    out: list[Problem] = []
    for error in errors:
        path: Path = tuple(error.absolute_path)
        schema: Any = error.schema
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = sorted(schema.get("properties", {}))
            for key in error.instance:
                if key in allowed:
                    continue
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                tip = f"; did you mean {hint[0]!r}?" if hint else ""
                line = located.line_of((*path, key), key=True)
                message = f"unknown key {key!r}{tip} (allowed: {', '.join(allowed)})"
                if _is_check(schema):
                    message = _unknown_check(str(key), hint, allowed)
                out.append(Problem(filename, line, format_path((*path, key)), message))
            continue
        out.append(Problem(filename, located.line_of(path), format_path(path), _message(error)))
    return out


# Keys of a check mapping that are not checks: a case's own check's weight, json's pointer.
_BESIDE_CHECKS = ("pointer", "weight")


def _unknown_check(key: str, hint: list[str], allowed: list[str]) -> str:
    """``unknown check 'fuzy'; did you mean 'fuzzy'? (checks: all, any, ...)``: the list
    names checks only; ``weight`` or ``pointer``, where the mapping takes them, come after."""
    checks = [k for k in allowed if k not in _BESIDE_CHECKS]
    beside = [k for k in allowed if k in _BESIDE_CHECKS]
    what = "key" if hint and hint[0] in beside else "check"
    tip = f"; did you mean {hint[0]!r}?" if hint else ""
    also = f"; besides the check: {', '.join(beside)}" if beside else ""
    return f"unknown {what} {key!r}{tip} (checks: {', '.join(checks)}{also})"


# The schema's pattern for a check parameter's template string (a number or a bool given
# as "{{ answer }}": harness/checks/templated.py).
_TEMPLATE = r"\{[{%#]"


def _not_a_template(error: jsonschema.ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    types = schema.get("type", [])
    wanted = [t for t in types if t != "string"] if isinstance(types, list) else [types]
    scalars = [_TYPE_NAMES[t] for t in wanted if t in ("number", "integer", "boolean")]
    return (
        f"expected {' or '.join(_TYPE_NAMES.get(t, t) for t in wanted)}, got a string "
        f"{_short(error.instance)} (a string here is a template, like '{{{{ n }}}}', that "
        f"renders {' or '.join(scalars)})"
    )


def _message(error: jsonschema.ValidationError) -> str:
    validator, instance = error.validator, error.instance
    value: Any = error.validator_value
    if validator == "required" and isinstance(instance, dict):
        missing = [k for k in value if k not in instance]
        return f"missing required key {missing[0]!r}" if missing else error.message
    if validator == "type":
        types = [value] if isinstance(value, str) else list(value)
        wanted = " or ".join(_TYPE_NAMES.get(t, t) for t in types)
        return f"expected {wanted}, got {_kind(instance)} {_short(instance)}"
    if validator in ("minProperties", "maxProperties") and isinstance(instance, dict):
        if "pointer" in instance:
            return "json takes a pointer and at most one nested check"
        keys = ", ".join(str(k) if str(k).isprintable() else repr(k) for k in instance)
        return (
            "a check is a mapping of exactly one check name (plus optional weight); "
            f"got: {{{keys}}}"
        )
    if validator == "oneOf" and isinstance(instance, dict) and "role" in instance:
        return "a message needs exactly one of content or template"
    if validator == "enum":
        allowed = ", ".join(map(str, value))
        return f"{_short(instance)} is not allowed (allowed: {allowed})"
    if validator == "pattern" and value == _TEMPLATE:
        return _not_a_template(error)
    if validator == "pattern":
        return f"{_short(instance)} must match {value} (letters, digits, _ . -)"
    if validator == "minItems":
        return "must not be empty" if not instance else error.message
    if validator == "maxItems" and isinstance(instance, list):
        return f"has {len(instance)} items; at most {value} allowed"
    if validator == "uniqueItems":
        return f"has duplicates: {_short(instance)}"
    return error.message if len(error.message) <= 200 else error.message[:197] + "..."
