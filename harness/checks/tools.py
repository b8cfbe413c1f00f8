"""Checks on the tool calls a model made (``Completion.tool_calls``).

- ``tool_call: {name, arguments, index}``: the first call (or the one at ``index``) is to
  ``name`` and its arguments hold the given values: each key a value (JSON equality:
  ``1 == 1.0``, ``true != 1``) or a check on the value (``{city: {icontains: paris}}``);
  other arguments may be there too.
- ``tool_calls: [{name, arguments}, ...]`` (or ``{calls, order}``): the calls as a whole.
  ``order: exact`` (default): as many calls as listed, each matching in turn; ``any``: each
  listed call matched by a different call made, in any order, others allowed.
- ``no_tool_call: true``: no call was made; ``tool_call_count: {min, max}``.

A call is also checked against what was offered: a call to a tool the case did not offer,
arguments that are not JSON, or arguments that do not validate against the tool's
``parameters`` schema fail the check saying so. Every result observes the calls as made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from jsonschema.protocols import Validator

from harness.checks.base import CheckContext, check_range, short
from harness.checks.jsontext import as_text, pointer_of
from harness.checks.schemas import SchemaRefused, compile_schema
from harness.checks.text import same
from harness.errors import CheckSpecError
from harness.models import Check, CheckResult, Completion, Subject, ToolCall, Usage

Matcher = Callable[[ToolCall], str | None]  # why a call does not match, or None
_NO_COMPLETION = Completion("", "", Usage(), "stop", False, 0.0, 200)  # an argument's subject


def shown(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    """The calls as made, for a check's observed value and the failure report."""
    return [
        {"name": c.name, "arguments": c.arguments if c.error is None else c.raw}
        | ({"error": c.error} if c.error else {})
        for c in calls
    ]


def call_text(call: ToolCall) -> str:
    """``get_weather({"city": "Paris"})``."""
    arguments = call.raw if call.error is not None else as_text(call.arguments)
    return f"{call.name}({arguments if len(arguments) <= 200 else arguments[:197] + '...'})"


def _validators(ctx: CheckContext) -> dict[str, Validator]:
    """A validator per offered tool's ``parameters`` (every ``$ref`` inside the schema)."""
    out = {}
    for name, schema in ctx.tools.items():
        try:
            out[name] = compile_schema(
                dict(schema), source=f"parameters of tool {name!r}", uri="", load=_no_files
            )
        except SchemaRefused as exc:  # the loader checked them; say so if one slips by
            raise CheckSpecError("", str(exc)) from None
    return out


def _no_files(name: str) -> Mapping[str, Any]:
    raise CheckSpecError("", f"a tool's parameters may not refer to a file ({name!r})")


def _well_formed(call: ToolCall, validators: Mapping[str, Validator]) -> str | None:
    """Why a call is not one the case could take: a tool not offered, arguments that are
    not JSON or do not fit the tool's parameters. None: it is fine."""
    if validators and call.name not in validators:
        offered = ", ".join(sorted(validators))
        return f"{call.name!r} was not offered (offered: {offered})"
    if call.error is not None:
        return f"the arguments of {call.name!r} cannot be read: {call.error}"
    validator = validators.get(call.name)
    if validator is not None:
        try:
            errors = sorted(validator.iter_errors(call.arguments), key=lambda e: list(e.path))
        except RecursionError:
            return f"the arguments of {call.name!r} are nested too deeply"
        if errors:
            where = pointer_of(list(errors[0].absolute_path))
            more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
            first = f"{where}: {errors[0].message}{more}"
            return f"the arguments of {call.name!r} do not fit its parameters: {first}"
    return None


def _expected(
    name: str, arguments: Mapping[str, Any] | None, ctx: CheckContext, at: str
) -> Matcher:
    """A matcher for one expected call: its name, and each argument a value or a check."""
    if not isinstance(name, str) or not name:
        raise CheckSpecError(f"{at}name", "must be a tool name")
    if ctx.tools and name not in ctx.tools:
        offered = ", ".join(sorted(ctx.tools))
        raise CheckSpecError(f"{at}name", f"{name!r} is not offered to the model ({offered})")
    checks: dict[str, Check] = {}
    values: dict[str, Any] = {}
    for key, spec in (arguments or {}).items():
        if _is_check(spec, ctx):
            if ctx.build is None:
                raise CheckSpecError(f"{at}arguments.{key}", "nested checks cannot be built here")
            try:
                checks[key] = ctx.build(spec, ctx)
            except CheckSpecError as exc:
                path = f"{at}arguments.{key}" + (f".{exc.path}" if exc.path else "")
                raise CheckSpecError(path, exc.message) from None
        else:
            values[key] = spec

    def match(call: ToolCall) -> str | None:
        if call.name != name:
            return f"called {call.name!r}, not {name!r}"
        given = call.arguments if isinstance(call.arguments, dict) else {}
        for key, value in values.items():
            if key not in given:
                return f"{name}: no argument {key!r}"
            if not same(given[key], value):
                return f"{name}: {key} is {short(given[key])}, not {short(value)}"
        for key, check in checks.items():
            if key not in given:
                return f"{name}: no argument {key!r}"
            text = as_text(given[key])
            result = check(Subject(text=text, value=given[key], completion=_NO_COMPLETION))
            if not result.passed:
                return f"{name}: {key}: {result.name}: {result.detail}"
        return None

    return match


def _is_check(spec: Any, ctx: CheckContext) -> bool:
    """An argument's expected value is a check when it is a one-key mapping whose key is a
    check's name (``{icontains: paris}``); any other value is compared as JSON."""
    return (
        isinstance(spec, Mapping)
        and len(spec) == 1
        and ctx.is_check is not None
        and ctx.is_check(next(iter(spec)))
    )


def tool_call(
    *, ctx: CheckContext, name: str, arguments: Mapping[str, Any] | None = None,
    index: int | None = None,
) -> Check:  # fmt: skip
    """The first call (or the one at ``index``) is to ``name`` with these arguments."""
    if index is not None and (isinstance(index, bool) or index < 0):
        raise CheckSpecError("index", f"{index!r} is not a call's place (0, 1, ...)")
    match = _expected(name, arguments, ctx, "")
    validators = _validators(ctx)
    at = 0 if index is None else int(index)

    def run(subject: Subject) -> CheckResult:
        calls = subject.completion.tool_calls
        observed = shown(calls)
        if len(calls) <= at:
            made = f"{len(calls)} call{'s' if len(calls) != 1 else ''} made"
            what = "no tool call was made" if not calls else f"no call at index {at} ({made})"
            return CheckResult("tool_call", False, observed, what)
        why = _well_formed(calls[at], validators) or match(calls[at])
        return CheckResult("tool_call", why is None, observed, why or "")

    return run


def tool_calls(
    *, ctx: CheckContext, calls: Sequence[Mapping[str, Any]], order: str = "exact"
) -> Check:
    """The calls made, as a whole: ``exact`` as listed, ``any`` each listed one among them."""
    if order not in ("exact", "any"):
        raise CheckSpecError("order", f"{order!r} is not allowed (allowed: exact, any)")
    if not calls:
        raise CheckSpecError("calls", "is empty; use no_tool_call: true for none")
    matchers = []
    for n, spec in enumerate(calls):
        if not isinstance(spec, Mapping) or set(spec) - {"name", "arguments"}:
            raise CheckSpecError(f"calls[{n}]", "a call is {name, arguments}")
        matchers.append(_expected(spec.get("name", ""), spec.get("arguments"), ctx, f"calls[{n}]."))
    validators = _validators(ctx)

    def run(subject: Subject) -> CheckResult:
        made = subject.completion.tool_calls
        observed = shown(made)
        for call in made:
            why = _well_formed(call, validators)
            if why is not None:
                return CheckResult("tool_calls", False, observed, why)
        if order == "exact":
            if len(made) != len(matchers):
                return CheckResult(
                    "tool_calls",
                    False,
                    observed,
                    f"{len(made)} calls made, {len(matchers)} expected",
                )
            for n, (call, match) in enumerate(zip(made, matchers, strict=True)):
                why = match(call)
                if why is not None:
                    return CheckResult("tool_calls", False, observed, f"call {n}: {why}")
            return CheckResult("tool_calls", True, observed)
        free = list(range(len(made)))
        for n, match in enumerate(matchers):
            hit = next((i for i in free if match(made[i]) is None), None)
            if hit is None:
                return CheckResult("tool_calls", False, observed, f"no call matches calls[{n}]")
            free.remove(hit)
        return CheckResult("tool_calls", True, observed)

    return run


def no_tool_call(*, value: bool) -> Check:
    """``true``: the model made no tool call (``false``: it made at least one)."""

    def run(subject: Subject) -> CheckResult:
        calls = subject.completion.tool_calls
        passed = (not calls) == value
        detail = ""
        if not passed:
            detail = (
                f"{len(calls)} tool call(s) made: {', '.join(call_text(c) for c in calls[:3])}"
                if calls
                else "no tool call was made"
            )
        return CheckResult("no_tool_call", passed, shown(calls), detail)

    return run


def tool_call_count(*, min: int | None = None, max: int | None = None) -> Check:
    """The number of calls made is within ``min`` .. ``max``."""
    if min is None and max is None:
        raise CheckSpecError("", "set min, max or both")
    check_range("min", min, "max", max)

    def run(subject: Subject) -> CheckResult:
        count = len(subject.completion.tool_calls)
        low_ok = min is None or count >= min
        high_ok = max is None or count <= max
        detail = "" if low_ok and high_ok else f"{count} calls made (min {min}, max {max})"
        return CheckResult("tool_call_count", low_ok and high_ok, count, detail)

    return run
