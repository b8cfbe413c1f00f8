"""The registry of answer checks: a check spec from a suite -> a built ``Check``.

A spec is a one-key mapping ``{name: value}``. The value is either the check's parameters
(``{fuzzy: {value: Ada, min: 85}}``) or a shorthand for its main parameter
(``{fuzzy: Ada}``, ``{all: [...]}``). Each check is a keyword-only factory in ``CHECKS``
that validates its parameters once, raising ``CheckSpecError`` with a path relative to
the spec, and returns a closure that grades a ``Subject``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from harness.checks import data as checks_data
from harness.checks import judge, similarity
from harness.checks import run as checks_run
from harness.checks import text as checks_text
from harness.checks import tools as checks_tools
from harness.checks import user as checks_user
from harness.checks.base import CheckContext, Factory, check_pointer, join_path, select
from harness.checks.jsontext import as_text
from harness.checks.signatures import check_types, signature_of
from harness.checks.templated import marked, render_params
from harness.errors import CheckSpecError
from harness.models import Check, CheckResult, Subject

__all__ = ["CHECKS", "CheckContext", "Factory", "build_check", "has_markup"]


def _build_list(checks: Sequence[Mapping[str, Any]], ctx: CheckContext) -> list[Check]:
    if not checks:
        raise CheckSpecError("checks", "is empty; list at least one check")
    built = []
    ctx = replace(ctx, nested=True)
    for index, spec in enumerate(checks):
        try:
            built.append(build_check(spec, ctx)[1])
        except CheckSpecError as exc:
            raise CheckSpecError(join_path(f"checks[{index}]", exc.path), exc.message) from None
    return built


def _build_one(spec: Mapping[str, Any], ctx: CheckContext, key: str) -> Check:
    try:
        return build_check(spec, replace(ctx, nested=True))[1]
    except CheckSpecError as exc:
        raise CheckSpecError(join_path(key, exc.path), exc.message) from None


def _failures(results: Sequence[CheckResult]) -> str:
    return "; ".join(f"{r.name}: {r.detail}" for r in results if not r.passed)


def _tally(results: Sequence[CheckResult]) -> str:
    return f"{sum(r.passed for r in results)}/{len(results)} passed"


def all_(*, ctx: CheckContext, checks: Sequence[Mapping[str, Any]]) -> Check:
    """Every nested check passes (all are run, for the report)."""
    built = _build_list(checks, ctx)

    def run(subject: Subject) -> CheckResult:
        results = tuple(check(subject) for check in built)
        passed = all(r.passed for r in results)
        return CheckResult("all", passed, _tally(results), _failures(results), children=results)

    return run


def any_(*, ctx: CheckContext, checks: Sequence[Mapping[str, Any]]) -> Check:
    """At least one nested check passes (all are run, for the report)."""
    built = _build_list(checks, ctx)

    def run(subject: Subject) -> CheckResult:
        results = tuple(check(subject) for check in built)
        passed = any(r.passed for r in results)
        detail = "" if passed else f"none passed: {_failures(results)}"
        return CheckResult("any", passed, _tally(results), detail, children=results)

    return run


def not_(*, ctx: CheckContext, check: Mapping[str, Any]) -> Check:
    """The nested check fails; observed is the nested check's observed value."""
    built = _build_one(check, ctx, "check")

    def run(subject: Subject) -> CheckResult:
        inner = built(subject)
        detail = "" if not inner.passed else f"{inner.name} passed but must not"
        return CheckResult("not", not inner.passed, inner.observed, detail, children=(inner,))

    return run


def reasoning(
    *, ctx: CheckContext, checks: Mapping[str, Any] | Sequence[Mapping[str, Any]]
) -> Check:
    """One check, or a list that must all pass, on the reasoning text instead of the answer."""
    if isinstance(checks, Mapping):
        built = [_build_one(checks, ctx, "checks")]
    else:
        built = _build_list(checks, ctx)

    def run(subject: Subject) -> CheckResult:
        text = subject.completion.reasoning
        on_reasoning = replace(subject, text=text, value=text)
        results = tuple(check(on_reasoning) for check in built)
        passed = all(r.passed for r in results)
        detail = "" if passed else f"in reasoning: {_failures(results)}"
        return CheckResult("reasoning", passed, _tally(results), detail, children=results)

    return run


def json_(*, ctx: CheckContext, pointer: str = "", **nested: Any) -> Check:
    """The answer's JSON has a value at ``pointer``; with one nested check (any other key,
    e.g. ``equals: 36``), that check passes on the value. Observed is the value."""
    check_pointer(pointer)
    if len(nested) > 1:
        raise CheckSpecError("", f"takes one nested check besides pointer, got {', '.join(nested)}")
    inner = _build_one(nested, ctx, "") if nested else None

    def run(subject: Subject) -> CheckResult:
        found, value, why = select(subject, pointer)
        if not found:
            return CheckResult("json", False, why, why)
        if inner is None:
            return CheckResult("json", True, value)
        child = inner(replace(subject, text=as_text(value), value=value))
        detail = "" if child.passed else f"at {pointer or '/'}: {child.name}: {child.detail}"
        return CheckResult("json", child.passed, value, detail, children=(child,))

    return run


CHECKS: dict[str, Factory] = {
    "equals": checks_text.equals,
    "one_of": checks_text.one_of,
    "contains": checks_text.contains,
    "icontains": checks_text.icontains,
    "contains_any": checks_text.contains_any,
    "contains_all": checks_text.contains_all,
    "icontains_any": checks_text.icontains_any,
    "icontains_all": checks_text.icontains_all,
    "starts_with": checks_text.starts_with,
    "ends_with": checks_text.ends_with,
    "regex": checks_text.regex,
    "fuzzy": checks_text.fuzzy,
    "baseline": checks_text.baseline,
    "levenshtein": similarity.levenshtein,
    "f1": similarity.f1,
    "length": checks_text.length,
    "number": checks_data.number,
    "json_schema": checks_data.json_schema,
    "is_json": checks_data.is_json,
    "json_equals": checks_data.json_equals,
    "json": json_,
    "finished": checks_run.finished,
    "latency_ms": checks_run.latency_ms,
    "tokens": checks_run.tokens,
    "python": checks_user.python,
    "judge": judge.judge,
    "reasoning": reasoning,
    "tool_call": checks_tools.tool_call,
    "tool_calls": checks_tools.tool_calls,
    "no_tool_call": checks_tools.no_tool_call,
    "tool_call_count": checks_tools.tool_call_count,
    "not": not_,
    "all": all_,
    "any": any_,
}

# The parameter a shorthand value fills: ``fuzzy: Ada`` means ``fuzzy: {value: Ada}``.
_SHORTHAND: dict[str, str] = {
    "equals": "value",
    "one_of": "values",
    "contains": "value",
    "icontains": "value",
    "contains_any": "values",
    "contains_all": "values",
    "icontains_any": "values",
    "icontains_all": "values",
    "starts_with": "value",
    "ends_with": "value",
    "regex": "pattern",
    "fuzzy": "value",
    "baseline": "min",
    "number": "value",
    "json_schema": "schema",
    "json_equals": "value",
    "finished": "value",
    "latency_ms": "max",
    "python": "function",
    "judge": "rubric",
    "reasoning": "checks",
    "tool_call": "name",
    "tool_calls": "calls",
    "no_tool_call": "value",
    "not": "check",
    "all": "checks",
    "any": "checks",
}
# Checks whose value is itself a check (or checks): a mapping is still the shorthand.
_CHECK_VALUED = frozenset({"reasoning", "not", "all", "any"})
# Checks that compare with any JSON value, so a mapping is their parameters only when it
# holds `value` and nothing but these keys (`equals: {a: 1}` compares with `{a: 1}`).
_VALUE_KEYS = {
    "equals": frozenset({"value", "ignore_case"}),
    "json_equals": frozenset({"value"}),
}
# Checks whose shorthand is `true`, for "no parameters" (`is_json: true`).
_FLAGS = frozenset({"is_json"})
# Parameters build_check does not render with a case's vars: those that hold checks (each
# is built, and rendered, on its own; of `json`, every key but its pointer) and those kept
# raw. A `judge` check's are all kept: its rubric is rendered when it is bound to a case.
_NESTED = {
    "all": frozenset({"checks"}),
    "any": frozenset({"checks"}),
    "reasoning": frozenset({"checks"}),
    "not": frozenset({"check"}),
}
_RAW = {"python": frozenset({"function"})}
_UNRENDERED = frozenset({"judge"})


def _is_shorthand(name: str, raw: Any) -> bool:
    if name not in _SHORTHAND:
        return False
    if name in _CHECK_VALUED or not isinstance(raw, Mapping):
        return True
    keys = _VALUE_KEYS.get(name)
    return keys is not None and not ("value" in raw and set(raw) <= keys)


def _params(name: str, raw: Any) -> tuple[dict[Any, Any], bool] | None:
    """A check's parameters and whether they were given as a shorthand; ``None`` when
    ``raw`` is neither a shorthand nor a mapping."""
    if name in _FLAGS and raw is True:
        return {}, False
    shorthand = _is_shorthand(name, raw)
    if not shorthand and not isinstance(raw, Mapping):
        return None
    return ({_SHORTHAND[name]: raw} if shorthand else dict(raw)), shorthand


def _holds_checks(name: str, key: Any) -> bool:
    return (name == "json" and key != "pointer") or key in _NESTED.get(name, ())


def _kept(name: str, params: Mapping[Any, Any]) -> set[str]:
    """The parameters of check ``name`` that are not rendered where it is built."""
    return {k for k in params if _holds_checks(name, k) or k in _RAW.get(name, ())}


def has_markup(spec: Any) -> bool:
    """Whether building ``spec`` with a case's ``variables`` renders anything: some string
    ``build_check`` renders (in nested checks too) holds Jinja markup. A spec without any
    builds the same check for every case, so it can be built once and shared. A spec that
    is no check (``build_check`` refuses it whatever the vars) has none."""
    if not isinstance(spec, Mapping):
        return False
    for name, raw in spec.items():
        found = _params(name, raw) if name in CHECKS and name not in _UNRENDERED else None
        for key, value in (found[0] if found is not None else {}).items():
            if _holds_checks(name, key):
                specs = [{key: value}] if name == "json" else value
                specs = [specs] if isinstance(specs, Mapping) else specs
                if isinstance(specs, list) and any(has_markup(s) for s in specs):
                    return True
            elif key not in _RAW.get(name, ()) and marked(value):
                return True
    return False


def _arguments(factory: Factory, params: Mapping[Any, Any], ctx: CheckContext) -> dict[str, Any]:
    sig = signature_of(factory)
    for key in params:
        if (
            not isinstance(key, str)
            or key == "ctx"
            or (key not in sig.allowed and not sig.takes_extra)
        ):
            raise CheckSpecError(str(key), f"unknown key; allowed: {', '.join(sig.allowed)}")
    missing = sorted(sig.required - set(params))
    if missing:
        raise CheckSpecError("", f"missing required key {missing[0]!r}")
    arguments = dict(params)
    if sig.takes_ctx:
        arguments["ctx"] = ctx if ctx.build else replace(ctx, build=_nested, is_check=_named)
    return arguments


def _nested(spec: Mapping[str, Any], ctx: CheckContext) -> Check:
    """A check a factory builds inside its own (a tool call argument's)."""
    return _build_one(spec, ctx, "")


def _named(name: str) -> bool:
    return name in CHECKS


def _build(factory: Factory, params: Mapping[str, Any], ctx: CheckContext) -> Check:
    """Call ``factory``. Its own checks come first (their messages say the most); then the
    declared types, which a factory need not check: ``contains: 5`` builds, but would
    raise when it runs (a suite file's schema catches it, a spec given directly may not)."""
    arguments = _arguments(factory, params, ctx)
    try:
        check = factory(**arguments)
    except CheckSpecError:
        raise
    except Exception:
        check_types(factory, params)  # a parameter of the wrong type: say which
        raise
    check_types(factory, params)
    return check


def _strip(path: str, key: str) -> str:
    """Drop the shorthand's parameter name from an error path: the user never wrote it."""
    if path == key:
        return ""
    if path.startswith(key + ".") or path.startswith(key + "["):
        return path[len(key) :].removeprefix(".")
    return path


def build_check(spec: Mapping[str, Any], ctx: CheckContext) -> tuple[str, Check]:
    """Build one check from ``spec``, a one-key mapping without ``weight``; return its name
    and the built check. Raises ``CheckSpecError`` whose path is relative to ``spec``
    (``fuzzy.min``, ``all[1].regex``)."""
    if not isinstance(spec, Mapping):
        raise CheckSpecError("", f"a check is a mapping like {{contains: text}}, got {spec!r}")
    if "weight" in spec:
        raise CheckSpecError("weight", "is only allowed on a case's own checks, not nested ones")
    if len(spec) != 1:
        keys = ", ".join(map(str, spec)) or "none"
        raise CheckSpecError("", f"a check has exactly one key, its name; got {keys}")
    ((name, raw),) = spec.items()
    factory = CHECKS.get(name)
    if factory is None:
        raise CheckSpecError(str(name), f"unknown check; allowed: {', '.join(sorted(CHECKS))}")
    found = _params(name, raw)
    if found is None:
        what = "true or a mapping" if name in _FLAGS else "a mapping"
        raise CheckSpecError(name, f"takes {what} of parameters, got {raw!r}")
    params, shorthand = found
    try:
        if ctx.variables is not None and ctx.render is not None and name not in _UNRENDERED:
            hints = signature_of(factory).types
            params = render_params(params, hints, _kept(name, params), ctx)
        return name, _build(factory, params, ctx)
    except CheckSpecError as exc:
        path = _strip(exc.path, _SHORTHAND[name]) if shorthand else exc.path
        raise CheckSpecError(join_path(name, path), exc.message) from None
