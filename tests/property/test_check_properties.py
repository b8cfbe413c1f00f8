"""Property tests of the check registry: any spec builds a check or raises ``CheckSpecError``,
and a built check grades any subject without raising, observing something JSON can hold.

The spec strategies live here; the loader's properties reuse them inside suites.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import harness.checks.registry as checks_module
from harness.checks.jsontext import NestingTooDeep
from harness.checks.registry import CHECKS, CheckContext, build_check, has_markup
from harness.checks.text import SCORERS
from harness.errors import CheckSpecError, TemplateError
from harness.models import CheckResult, Completion, Subject, Usage
from harness.suites.templates import Templates

# --- values of every type --------------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
)
JSONISH: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)

# Regex patterns stay in a fixed list: arbitrary text could be a catastrophic pattern, and
# guarding against those is another change's job (even r"(\w+)\s" takes minutes on 200 kB
# of letters). Invalid ones are included.
PATTERNS = [
    "a",
    r"\d+",
    "^x$",
    r"(\w)\s",
    "(?i)yes",
    "",
    "(",
    "[",
    "*",
    "a{2,3}",
    "\\",
    "(?P<n>x)",
]
POINTERS = ["", "/", "/a", "/0", "/a/0/b", "/items/1/age", "x", "/~2", "/a~1b", "/~0", "/-"]
SCHEMA_FILES = ["schemas/ok.json", "schemas/bad.json", "schemas/list.json", "schemas/missing.json"]
INLINE_SCHEMAS: list[Any] = [
    {},
    {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}},
    {"type": "array", "items": {"type": "string"}},
    {"type": "nope"},
    {"required": "a"},
    {"$ref": "#/$defs/missing"},
    {"pattern": "("},
    [1, 2],
]


NUMBERS = st.one_of(
    st.integers(-5, 150),
    st.floats(-10, 200),
    st.sampled_from(
        [0, 0.0, -0.0, 100, math.inf, -math.inf, math.nan, 10**30, 10**400, -(10**400)]
    ),
)
# Any character, also lone surrogates, control and format characters, line separators.
ANY_TEXT = st.text(
    st.one_of(st.characters(), st.characters(categories=["Cs", "Cc", "Cf", "Zl", "Zp"]))
)
TEXTS = st.one_of(
    st.text(max_size=12), st.sampled_from(["Paris", "5", "", "a\nb", "\x00", "\ud800"])
)
STRINGS = st.lists(TEXTS, max_size=3)
BOUNDS = st.integers(-3, 60)

# Values of each parameter's own type (some still invalid: negative, NaN, unknown names).
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "value": TEXTS,
    "values": STRINGS,
    "ignore_case": st.booleans(),
    "normalize": st.booleans(),
    "multiline": st.booleans(),
    "dotall": st.booleans(),
    "pattern": st.sampled_from(PATTERNS),
    "min": NUMBERS,
    "scorer": st.sampled_from([*SCORERS, "jaro", "RATIO"]),
    "pointer": st.sampled_from(POINTERS),
    "tolerance": NUMBERS,
    "rel_tolerance": NUMBERS,
    "pick": st.sampled_from(["first", "last", "any", "middle"]),
    "schema": st.sampled_from([*SCHEMA_FILES, *INLINE_SCHEMAS]),
    "min_chars": BOUNDS,
    "max_chars": BOUNDS,
    "min_words": BOUNDS,
    "max_words": BOUNDS,
    "max": NUMBERS,
    "max_output": BOUNDS,
    "max_reasoning": BOUNDS,
    "max_input": BOUNDS,
    "min_reasoning": BOUNDS,
    "function": st.sampled_from(["checks_mod:fn", "os:system", "nope", ""]),
    "args": st.dictionaries(st.text(max_size=4), JSONISH, max_size=2),
    "rubric": TEXTS,
    "rubric_template": st.sampled_from(["rubric.j2", "nope.j2", "../x.j2", ""]),
    "min_score": NUMBERS,
    "samples": BOUNDS,
    "temperature": NUMBERS,
    "max_output_tokens": BOUNDS,
    "max_distance": BOUNDS,
    "threshold": NUMBERS,
    "name": st.sampled_from(["get_weather", "send_mail", "", "nope"]),
    "arguments": st.dictionaries(st.sampled_from(["city", "to"]), JSONISH, max_size=2),
    "index": BOUNDS,
    "calls": st.lists(
        st.fixed_dictionaries({"name": st.sampled_from(["get_weather", "x"])}), max_size=2
    ),
    "order": st.sampled_from(["exact", "any", "sorted"]),
}
# Where a check reads a parameter of the same name as another type.
PLAUSIBLE_FOR: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("equals", "value"): st.one_of(TEXTS, NUMBERS, st.booleans(), st.none(), JSONISH),
    ("one_of", "values"): st.lists(st.one_of(TEXTS, NUMBERS, st.booleans(), st.none()), max_size=3),
    ("number", "value"): NUMBERS,
    ("finished", "value"): st.booleans(),
    ("no_tool_call", "value"): st.booleans(),
    ("json_equals", "value"): st.one_of(TEXTS, NUMBERS, st.booleans(), st.none(), JSONISH),
    ("f1", "value"): st.one_of(TEXTS, STRINGS),
    ("f1", "min"): st.one_of(st.floats(0, 1), NUMBERS),
}


def _value(name: str, key: str, wild: bool) -> st.SearchStrategy[Any]:
    plausible = PLAUSIBLE_FOR.get((name, key), PLAUSIBLE[key])
    if not wild:
        return plausible
    if key == "pattern":  # never arbitrary text (see PATTERNS); any other type is fine
        return st.one_of(plausible, JSONISH.filter(lambda v: not isinstance(v, str)))
    return st.one_of(plausible, JSONISH)


COMPOSITE = ("not", "all", "any", "reasoning", "json")
# The parameter a shorthand value stands for, as the registry reads it.
SHORTHAND = {k: v for k, v in checks_module._SHORTHAND.items() if k not in COMPOSITE}

LEAF_NAMES = sorted(set(CHECKS) - set(COMPOSITE))


def _parameters(name: str, wild: bool) -> st.SearchStrategy[dict[str, Any]]:
    """A mapping of ``name``'s parameters: the required ones and some others; when ``wild``,
    of any type, perhaps without a required one or with a stray key."""
    params = inspect.signature(CHECKS[name]).parameters.values()
    keywords = [p for p in params if p.kind is p.KEYWORD_ONLY and p.name != "ctx"]
    required = {p.name: _value(name, p.name, wild) for p in keywords if p.default is p.empty}
    optional = {p.name: _value(name, p.name, wild) for p in keywords if p.name not in required}
    mapping = st.fixed_dictionaries(required, optional=optional)
    if not wild:
        return mapping
    anything = st.fixed_dictionaries({}, optional=required | optional)
    stray = st.dictionaries(
        st.sampled_from(["weight", "ctx", "nope", "Value"]), JSONISH, max_size=1
    )
    return st.one_of(mapping, anything, st.tuples(mapping, stray).map(lambda t: {**t[0], **t[1]}))


def _leaf(name: str, wild: bool) -> st.SearchStrategy[dict[str, Any]]:
    forms = [_parameters(name, wild)]
    if name in SHORTHAND:
        forms.append(_value(name, SHORTHAND[name], wild))
    if name in checks_module._FLAGS:  # `is_json: true`
        forms.append(st.booleans() if not wild else st.one_of(st.booleans(), JSONISH))
    return st.one_of(*forms).map(lambda raw: {name: raw})


_LEAVES = {(name, wild): _leaf(name, wild) for name in LEAF_NAMES for wild in (False, True)}


@st.composite
def leaf_specs(draw: st.DrawFn, wild: bool = False) -> dict[str, Any]:
    """One check that holds no other check, with plausible (or, when ``wild``, any) values."""
    # A composite strategy keeps the repr short (a repr of the whole tree is ~100 kB).
    spec: dict[str, Any] = draw(_LEAVES[draw(st.sampled_from(LEAF_NAMES)), wild])
    return spec


_MALFORMED = st.one_of(
    st.just({}),
    JSONISH,
    st.dictionaries(st.text(max_size=8), JSONISH, min_size=1, max_size=2),
    st.tuples(leaf_specs(), st.sampled_from(LEAF_NAMES), JSONISH).map(
        lambda t: {**t[0], t[1]: t[2]}
    ),
    leaf_specs().map(lambda spec: {**spec, "weight": 1}),
    st.just({5: 1}),
    st.just({None: "x"}),
)


@st.composite
def malformed_specs(draw: st.DrawFn) -> Any:
    """Not a check: no key, two keys, a stray weight, a list, a number..."""
    return draw(_MALFORMED)


POINTER_VALUES = st.one_of(st.sampled_from(POINTERS), st.sampled_from(POINTERS), JSONISH)
KINDS = ["leaf"] * 8 + ["wild", "malformed", "not", "all", "any", "reasoning", "json"]


@st.composite
def check_specs(draw: st.DrawFn, depth: int = 3) -> Any:
    """A check spec: mostly a plausible leaf, sometimes one of any values or no check at
    all, or a ``not``/``all``/``any``/``reasoning``/``json`` around further specs."""
    kind = draw(st.sampled_from(KINDS if depth else KINDS[:10]))
    if kind in ("leaf", "wild"):
        return draw(leaf_specs(wild=kind == "wild"))
    if kind == "malformed":
        return draw(malformed_specs())
    inner = check_specs(depth - 1)
    if kind == "not":
        return {"not": draw(inner)}
    if kind in ("all", "any"):
        return {kind: draw(st.lists(inner, max_size=3))}
    if kind == "reasoning":
        checks = st.lists(inner, min_size=1, max_size=2)
        return {"reasoning": draw(st.one_of(inner, checks, checks.map(lambda c: {"checks": c})))}
    params: dict[Any, Any] = {"pointer": draw(POINTER_VALUES)}
    nested = draw(st.one_of(st.none(), inner))
    if isinstance(nested, dict):
        params.update(nested)
    elif nested is not None:
        params["equals"] = nested
    return {"json": draw(st.one_of(st.just(params), st.just(params), JSONISH))}


CHECK_SPECS = check_specs()

# --- the build context -----------------------------------------------------------------

SCHEMAS: dict[str, Any] = {
    "schemas/ok.json": {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "required": ["a"],
    },
    "schemas/bad.json": {"type": "nope"},
    "schemas/list.json": [1, 2],
}


def load_schema(name: str) -> Mapping[str, Any]:
    if name not in SCHEMAS:
        raise TemplateError(f"schema {name!r} not found under evals/")
    schema: Mapping[str, Any] = SCHEMAS[name]
    return schema


CTX = CheckContext(load_schema=load_schema, project_root=None)

# --- subjects --------------------------------------------------------------------------

ODD_CHARS = ["\x00", "\ud800", "\udfff", "\u2212", "\ufeff", "\n", "```", "{", "[", '"', "\\"]
ODD_TEXT = st.lists(st.one_of(st.sampled_from(ODD_CHARS), st.text(max_size=5)), max_size=12).map(
    "".join
)
FENCED = st.builds(
    lambda before, doc, after, info: f"{before}```{info}\n{json.dumps(doc)}\n```{after}",
    st.text(max_size=10),
    JSONISH,
    st.text(max_size=10),
    st.sampled_from(["json", "", "JSON", "jsonc"]),
)
PROSE_JSON = st.builds(
    lambda before, doc: f"{before} {json.dumps(doc)} trailing", st.text(max_size=10), JSONISH
)
NESTED = st.builds(
    lambda depth, opener, closed, inner: (
        opener * depth + inner + (("}" if opener[0] == "{" else "]") * depth if closed else "")
    ),
    st.integers(1, 3000),  # past the recursion limit
    st.sampled_from(["[", "{", '{"a":', "[1,"]),
    st.booleans(),
    st.sampled_from(["", "1", '"x"', "null"]),
)
# Not 200 kB of "[" or "{": find_json tries each opener, each up to the recursion limit, so
# that takes ~10 s (a runtime cost, not an error; NESTED covers the depth).
HUGE = st.builds(
    lambda unit, size: (unit * (size // len(unit) + 1))[:size],
    st.sampled_from(
        [
            "a",
            "1",
            "1,234 ",
            "]",
            '"a": 1}',
            " word",
            "\u2212 5",
            "```\n",
            "\x00",
            "\ud800",
            "9" * 50,
        ]
    ),
    st.one_of(st.integers(0, 2_000), st.integers(100_000, 200_000), st.just(200_000)),
)
# Integers past float's range (309+ digits), as text and as JSON numbers.
LONG_NUMBERS = st.builds(
    lambda before, digits, json_value: (
        (before + digits) if not json_value else f'{{"a": {digits}}}'
    ),
    st.sampled_from(["", "-", "$", "answer: "]),
    st.integers(300, 5000).map(lambda n: "7" * n),
    st.booleans(),
)
ANSWERS = st.one_of(ANY_TEXT, ODD_TEXT, FENCED, PROSE_JSON, NESTED, HUGE, LONG_NUMBERS)

COUNTS = st.one_of(st.none(), st.integers(-5, 10**6), st.just(10**30))
LATENCIES = st.one_of(
    st.sampled_from([0.0, -0.0, 1e-300, 1e308, math.inf]), st.floats(min_value=0, allow_nan=False)
)
COMPLETIONS = st.builds(
    Completion,
    answer=st.text(max_size=20),
    reasoning=st.one_of(st.text(max_size=30), ODD_TEXT, FENCED, NESTED),
    usage=st.builds(Usage, COUNTS, COUNTS, COUNTS),
    finish=st.one_of(st.sampled_from(["stop", "length", "error", ""]), st.text(max_size=8)),
    truncated=st.booleans(),
    latency_ms=LATENCIES,
    status=st.integers(0, 600),
    error=st.none() | st.text(max_size=10),
    cached=st.booleans(),
)


@st.composite
def subjects(draw: st.DrawFn) -> Subject:
    text = draw(ANSWERS)
    # The value is the text itself, except when a pointer selected a JSON value.
    value = draw(st.one_of(st.just(text), st.just(text), JSONISH))
    baseline = draw(st.none() | st.text(max_size=200) | ODD_TEXT)
    return Subject(text=text, value=value, completion=draw(COMPLETIONS), baseline=baseline)


# --- the properties --------------------------------------------------------------------


def build(spec: Any) -> tuple[str, Any] | None:
    """``build_check(spec)``, or ``None`` when it refused the spec with ``CheckSpecError``."""
    try:
        return build_check(spec, CTX)
    except CheckSpecError as exc:
        error = exc
    assert isinstance(error.path, str)
    assert isinstance(error.message, str)
    return None


def assert_well_formed(result: CheckResult) -> None:
    """A named verdict with a detail, and an observed value JSON can hold (as the run
    records write it); so are its children's."""
    assert isinstance(result, CheckResult)
    assert result.name in CHECKS
    assert isinstance(result.passed, bool)
    assert isinstance(result.detail, str)
    json.dumps(result.observed, default=str)
    for child in result.children:
        assert_well_formed(child)


@settings(max_examples=1000, deadline=None)
@given(spec=CHECK_SPECS)
def test_build_check_returns_a_check_or_raises_check_spec_error(spec: Any) -> None:
    built = build(spec)
    if built is not None:
        name, check = built
        assert name == next(iter(spec))
        assert callable(check)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=st.lists(CHECK_SPECS, min_size=1, max_size=4),
    subjects=st.lists(subjects(), min_size=1, max_size=3),
)
def test_built_checks_grade_any_subject(specs: list[Any], subjects: list[Subject]) -> None:
    built = [pair for pair in map(build, specs) if pair is not None]
    for name, check in built:
        for subject in subjects:
            try:
                result = check(subject)
            except NestingTooDeep:
                # by design: JSON nested past jsontext.MAX_DEPTH cannot be graded, and
                # grading makes that sample an error (tests/unit/checks/test_grading.py)
                continue
            assert_well_formed(result)
            assert result.name == name


# --- specs rendered with a case's vars -------------------------------------------------

TEMPLATES = [
    "{{ x }}",
    "{{ n }}",
    "{{ n * 2.5 }}",
    "{{ flag }}",
    "{{ nope }}",
    "{{ x",
    "{% if flag %}{{ n }}{% endif %}",
    "a{# note #}",
    "/{{ x }}",
    "{{ '(' }}",
    "{% include 'missing.j2' %}",
]
VARIABLES = {"x": "Paris", "n": 3, "flag": True}
RENDERS: list[str] = []


def _render(source: str, from_file: bool, variables: Mapping[str, Any]) -> tuple[str, set[str]]:
    RENDERS.append(source)
    return TEMPLATING.render_string(source, variables)


TEMPLATING = Templates(Path("/nonexistent-evals"))  # inline renders need no folder
CASE_CTX = CheckContext(load_schema=load_schema, render=_render, variables=VARIABLES)


@st.composite
def templated_specs(draw: st.DrawFn) -> Any:
    """A check spec some of whose strings (values at any depth, not keys) are templates."""

    def walk(node: Any) -> Any:
        some = isinstance(node, str) or (node is not None and draw(st.integers(0, 9)) == 0)
        if some and draw(st.booleans()):
            return draw(st.sampled_from(TEMPLATES))
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(draw(CHECK_SPECS))


def outcome(spec: Any, ctx: CheckContext, subject: Subject) -> Any:
    """What building ``spec`` and grading ``subject`` gives, comparable between builds."""
    try:
        name, check = build_check(spec, ctx)
    except CheckSpecError as exc:
        return ("refused", exc.path, exc.message)
    try:
        result = check(subject)
    except NestingTooDeep:
        return ("too deep", name)
    assert_well_formed(result)
    return ("graded", name, repr(result))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=templated_specs(), subject=subjects())
def test_templated_specs_build_or_raise_check_spec_error(spec: Any, subject: Subject) -> None:
    result = outcome(spec, CASE_CTX, subject)  # any other exception fails the test
    if result[0] == "refused":
        assert all(isinstance(part, str) for part in result[1:])


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=templated_specs(), subject=subjects())
def test_a_spec_without_markup_builds_the_same_with_vars(spec: Any, subject: Subject) -> None:
    # what lets a loader build it once and share it between cases
    if has_markup(spec):
        return
    RENDERS.clear()
    assert outcome(spec, CASE_CTX, subject) == outcome(spec, CTX, subject)
    assert RENDERS == []
