"""Checks on values in the answer: numbers, JSON validated by a JSON Schema, an answer that
is JSON (and perhaps valid against a schema), JSON equal to a value."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from typing import Any

from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from referencing.exceptions import Unresolvable

from harness.checks.base import (
    NO_JSON,
    CheckContext,
    check_float_sized,
    check_pointer,
    json_document,
    select,
    short,
)
from harness.checks.jsontext import parse_json, pointer_of, resolve_pointer
from harness.checks.schemas import SchemaRefused, compile_schema
from harness.errors import CheckSpecError, TemplateError
from harness.models import Check, CheckResult, Subject

PICKS = ("first", "last", "any")

# A number in prose: optional sign (ASCII or Unicode minus) and '$', digits with optional
# comma thousands separators, optional decimals and exponent. The lookbehind keeps digits
# inside words ("GPT4", "v1.2") and after a dot ("1.2.3" -> 1.2 only) from counting.
_NUMBER = re.compile(
    r"""(?<![\w.])
    (?=[-+\u2212]?\$?\.?\d)
    [-+\u2212]?\$?
    (?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)?
    (?:\.\d+)?
    (?:[eE][-+]?\d+)?""",
    re.VERBOSE,
)


def find_numbers(text: str) -> list[int | float]:
    """Every number in ``text``, in order (ints stay ints; '$' and '%' are ignored)."""
    numbers: list[int | float] = []
    for match in _NUMBER.finditer(text):
        token = match.group(0).replace(",", "").replace("$", "").replace("\u2212", "-")
        try:
            numbers.append(int(token))
        except ValueError:
            # Decimals, exponents, and ints too long for int(): float, possibly inf.
            numbers.append(float(token))
    return numbers


def _in_float_range(n: int | float) -> int | float:
    """``n``, or an infinity for an int beyond float's range (which would overflow in the
    float arithmetic and formatting of ``number``)."""
    if not isinstance(n, int) or abs(n) <= sys.float_info.max:
        return n
    return math.inf if n > 0 else -math.inf


def number(
    *,
    value: float,
    tolerance: float = 0,
    rel_tolerance: float = 0,
    pick: str = "last",
    pointer: str | None = None,
) -> Check:
    """A number in the answer is within ``tolerance`` (absolute) or ``rel_tolerance``
    (relative to ``value``) of ``value``. ``pick`` chooses the ``last`` number (default),
    the ``first``, or passes if ``any`` is close enough. A JSON number selected by a
    pointer is used as is."""
    check_float_sized("value", value)
    check_float_sized("tolerance", tolerance)
    check_float_sized("rel_tolerance", rel_tolerance)
    if isinstance(value, bool) or not math.isfinite(value):
        raise CheckSpecError("value", f"{value!r} is not a finite number")
    for key, bound in (("tolerance", tolerance), ("rel_tolerance", rel_tolerance)):
        if bound < 0:
            raise CheckSpecError(key, f"{bound} is negative; it must be 0 or more")
    if pick not in PICKS:
        raise CheckSpecError("pick", f"unknown pick {pick!r}; allowed: {', '.join(PICKS)}")
    if pointer is not None:
        check_pointer(pointer)
    allowed = max(tolerance, rel_tolerance * abs(value))

    def close(found: float) -> bool:
        return abs(found - value) <= allowed

    def run(subject: Subject) -> CheckResult:
        selected: Any = subject.value
        if pointer is not None:
            found, selected, why = select(subject, pointer)
            if not found:
                return CheckResult("number", False, None, why)
        if isinstance(selected, int | float) and not isinstance(selected, bool):
            candidates: list[int | float] = [selected]
        else:
            candidates = find_numbers(selected if isinstance(selected, str) else subject.text)
        candidates = [_in_float_range(n) for n in candidates]
        if not candidates:
            return CheckResult("number", False, None, "no number in answer")
        expected = f"expected {value:g} ± {allowed:g}"
        if pick == "any":
            matching = [n for n in candidates if close(n)]
            if matching:
                return CheckResult("number", True, matching[0])
            nearest = min(candidates, key=lambda n: abs(n - value))
            return CheckResult(
                "number", False, nearest, f"{expected}, no number within (nearest {nearest:g})"
            )
        picked = candidates[0] if pick == "first" else candidates[-1]
        passed = close(picked)
        return CheckResult(
            "number", passed, picked, "" if passed else f"{expected}, found {picked:g}"
        )

    return run


def _load(schema: str | Mapping[str, Any], ctx: CheckContext) -> Validator:
    """The validator of a ``json_schema`` check: a file under evals/ or an inline schema,
    with every ``$ref`` resolved now, under evals/ only (:mod:`harness.checks.schemas`)."""
    if not isinstance(schema, str):
        loaded = schema
    else:
        try:
            loaded = ctx.load_schema(schema)
        except TemplateError as exc:
            raise CheckSpecError("schema", exc.message) from None
    if not isinstance(loaded, Mapping):
        raise CheckSpecError("schema", "a JSON Schema must be a JSON object")
    source = f"{schema}" if isinstance(schema, str) else "inline schema"
    try:
        return compile_schema(
            dict(loaded),
            source=source,
            uri=schema if isinstance(schema, str) else "",
            load=ctx.load_schema,
        )
    except SchemaRefused as exc:
        raise CheckSpecError("schema", str(exc)) from None


def _error_key(error: ValidationError) -> tuple[tuple[tuple[int, int, str], ...], str]:
    # Sort by path (indices numerically, before keys), then message.
    path = tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.absolute_path)
    return path, error.message


def _errors(validator: Validator, doc: Any) -> tuple[list[str], str]:
    """Every error of ``doc`` as ``"<json path>: <message>"`` (sorted), and the detail."""
    try:
        errors = sorted(validator.iter_errors(doc), key=_error_key)
    except RecursionError:
        return ["/: too deeply nested"], "too deeply nested"
    except Unresolvable as exc:  # found only when validation reaches the $ref
        why = f"the schema's $ref {exc.ref!r} cannot be resolved"
        return [f"/: {why}"], why
    observed = [f"{pointer_of(list(e.absolute_path))}: {e.message}" for e in errors]
    if len(observed) > 1:
        return observed, f"{observed[0]} (+{len(observed) - 1} more)"
    return observed, observed[0] if observed else ""


def json_schema(
    *, ctx: CheckContext, schema: str | Mapping[str, Any], pointer: str | None = None
) -> Check:
    """The JSON in the answer (or the value at ``pointer`` in it) is valid against
    ``schema`` (a path under evals/ or an inline schema); observed lists every error as
    ``"<json path>: <message>"``."""
    validator = _load(schema, ctx)
    if pointer is not None:
        check_pointer(pointer)

    def run(subject: Subject) -> CheckResult:
        found, doc = json_document(subject)
        if not found:
            return CheckResult("json_schema", False, [NO_JSON], NO_JSON)
        if pointer is not None:
            found, doc = resolve_pointer(doc, pointer)
            if not found:
                missing = f"no value at {pointer}"
                return CheckResult("json_schema", False, [missing], missing)
        observed, detail = _errors(validator, doc)
        return CheckResult("json_schema", not observed, observed, detail)

    return run


def whole_json(subject: Subject) -> tuple[bool, Any]:
    """``(True, value)`` for the JSON a subject is: its value when a pointer selected one,
    else its whole text (stripped), which must parse; ``(False, why)`` when it does not."""
    if not isinstance(subject.value, str):
        return True, subject.value
    return parse_json(subject.text)


def is_json(*, ctx: CheckContext, schema: str | Mapping[str, Any] | None = None) -> Check:
    """The whole answer, stripped, is JSON (no fence, no prose around it) and, with
    ``schema``, valid against it as for ``json_schema``. Observed is the parse error, the
    schema errors, or the value."""
    validator = None if schema is None else _load(schema, ctx)

    def run(subject: Subject) -> CheckResult:
        parsed, value = whole_json(subject)
        if not parsed:
            return CheckResult("is_json", False, value, f"the answer is not JSON: {value}")
        if validator is None:
            return CheckResult("is_json", True, value)
        errors, detail = _errors(validator, value)
        return CheckResult("is_json", not errors, errors if errors else value, detail)

    return run


def _difference(got: Any, expected: Any, path: list[str | int]) -> str | None:
    """Where and how ``got`` first differs from ``expected`` as JSON (key order ignored,
    ``1 == 1.0``, ``true != 1``): ``/items/2/name: 'a' != 'b'``; ``None`` when equal."""
    where = pointer_of(path)
    if isinstance(got, dict) and isinstance(expected, dict):
        for key in expected:
            if key not in got:
                return f"{pointer_of([*path, key])}: missing"
            found = _difference(got[key], expected[key], [*path, key])
            if found is not None:
                return found
        extra = next((k for k in got if k not in expected), None)
        return None if extra is None else f"{pointer_of([*path, extra])}: not expected"
    if isinstance(got, list) and isinstance(expected, list):
        for index, (a, b) in enumerate(zip(got, expected, strict=False)):
            found = _difference(a, b, [*path, index])
            if found is not None:
                return found
        if len(got) != len(expected):
            return f"{where}: {len(got)} items != {len(expected)}"
        return None
    same_kind = isinstance(got, bool) == isinstance(expected, bool)
    comparable = not isinstance(got, dict | list) and not isinstance(expected, dict | list)
    if same_kind and comparable and got == expected:
        return None
    return f"{where}: {short(got)} != {short(expected)}"


def _finite(value: Any) -> bool:
    """No NaN or infinity anywhere in ``value`` (JSON holds neither)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            return False
        if isinstance(node, dict | list):
            stack.extend(node.values() if isinstance(node, dict) else node)
    return True


def json_equals(*, value: Any) -> Check:
    """The answer's JSON (the whole answer, stripped, as for ``is_json``; or the value a
    ``json`` pointer selected) equals ``value`` structurally: key order ignored, ``1 ==
    1.0``, ``true != 1``. Observed is the parsed value; the detail names the first
    difference."""
    if not _finite(value):
        raise CheckSpecError("value", f"{short(value)} holds NaN or infinity, which JSON cannot")
    if isinstance(value, Mapping) and not isinstance(value, dict):
        value = dict(value)

    def run(subject: Subject) -> CheckResult:
        parsed, got = whole_json(subject)
        if not parsed:
            return CheckResult("json_equals", False, None, f"the answer is not JSON: {got}")
        difference = _difference(got, value, [])
        return CheckResult("json_equals", difference is None, got, difference or "")

    return run
