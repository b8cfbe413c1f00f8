"""Check specs rendered with a case's vars (``equals: "{{ label }}"``): what is rendered and
what is not, numbers and bools read back, template errors at the parameter's path,
``has_markup``, and the suite schema's side (a number parameter takes a template string)."""

from __future__ import annotations

import json
import sys
import textwrap
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.checks.judge import JudgeCheck
from harness.checks.registry import CheckContext, build_check, has_markup
from harness.checks.templated import render_params
from harness.errors import CheckSpecError, TemplateError
from harness.models import CheckResult, Completion, Subject, Usage
from harness.suites.problems import problems_from, schema_errors
from harness.suites.source import load_yaml
from harness.suites.templates import Templates

VARS: dict[str, Any] = {
    "label": "Paris",
    "city": "lyon",
    "answer": "42",
    "n": 3,
    "price": 9.5,
    "flag": True,
    "word": "a.c",
    "kind": "person",
    "field": "name",
    "tol": "0.5",
}
PERSON = {"type": "object", "required": ["name"]}
PKG = f"tmplchecks_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """evals/ with one schema, and a package whose ``echo`` check observes its args."""
    root = tmp_path_factory.mktemp("project")
    (root / "evals").mkdir()
    package = root / PKG
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "grading.py").write_text(
        textwrap.dedent("""
        def echo(answer, context, **args):
            return {"passed": True, "observed": args}

        def score(answer, context):
            return len(answer)
        """)
    )
    yield root
    for name in [m for m in sys.modules if m == PKG or m.startswith(PKG + ".")]:
        del sys.modules[name]


class Spy:
    """``CheckContext.render`` over a real ``Templates``, counting what it renders."""

    def __init__(self, evals: Path) -> None:
        self.templates = Templates(evals)
        self.sources: list[str] = []

    def __call__(
        self, source: str, from_file: bool, variables: Mapping[str, Any]
    ) -> tuple[str, set[str]]:
        assert not from_file  # check parameters are inline templates
        self.sources.append(source)
        return self.templates.render_string(source, variables)


def load_schema(name: str) -> Mapping[str, Any]:
    if name != "schemas/person.json":
        raise TemplateError(f"schema {name!r} not found under evals/")
    return PERSON


@pytest.fixture
def spy(project: Path) -> Spy:
    return Spy(project / "evals")


@pytest.fixture
def ctx(project: Path, spy: Spy) -> CheckContext:
    return CheckContext(load_schema, project_root=project, render=spy, variables=VARS)


def subject(answer: str) -> Subject:
    completion = Completion(answer, "", Usage(1, 1, 0), "stop", False, 1.0, 200)
    return Subject(text=answer, value=answer, completion=completion)


def grade(spec: Mapping[str, Any], ctx: CheckContext, answer: str) -> CheckResult:
    return build_check(spec, ctx)[1](subject(answer))


# fmt: off
RENDERED = [
    pytest.param({"equals": {"value": "{{ label }}", "ignore_case": True}}, "paris", True,
                 "paris", id="equals-value"),
    pytest.param({"equals": "{{ label }}"}, "Lyon", False, "Lyon", id="equals-shorthand"),
    pytest.param({"icontains": "{{ city }}"}, "LYON!", True, True, id="icontains"),
    pytest.param({"number": "{{ answer }}"}, "it is 42", True, 42, id="number-from-a-string-var"),
    pytest.param({"number": "{{ price }}"}, "$9.50", True, 9.5, id="number-from-a-float-var"),
    pytest.param({"number": {"value": "{{ n * 10 }}", "tolerance": "{{ tol }}"}}, "30.4", True,
                 30.4, id="number-expression-and-tolerance"),
    pytest.param({"one_of": ["{{ label }}", "{{ city }}"]}, "lyon", True, "lyon",
                 id="one_of-list-items"),
    pytest.param({"equals": {"x": "{{ label }}", "n": 3}}, '{"x": "Paris", "n": 3}', True,
                 '{"x": "Paris", "n": 3}', id="equals-mapping-values"),
    pytest.param({"regex": "^{{ word }}$"}, "abc", True, "abc", id="regex-inserted-raw"),
    pytest.param({"json_schema": "schemas/{{ kind }}.json"}, '{"name": 1}', True, [],
                 id="json_schema-file"),
    pytest.param({"json": {"pointer": "/{{ field }}", "equals": "{{ label }}"}},
                 '{"name": "Paris"}', True, "Paris", id="json-pointer-and-nested"),
    pytest.param({"levenshtein": {"value": "{{ label }}", "max_distance": "{{ n }}",
                                  "ignore_case": "{{ flag }}"}}, "pari", True, 1,
                 id="levenshtein-int-and-bool"),
    pytest.param({"fuzzy": {"value": "{{ label }}", "min": "{{ n * 30 }}"}}, "Paris", True,
                 100.0, id="fuzzy-min"),
    pytest.param({"starts_with": "{% if flag %}{{ label }}{% else %}No{% endif %}"},
                 "Paris.", True, "Paris", id="a-statement"),
    pytest.param({"contains": "{{ label }}{# a comment #}"}, "Paris", True, True,
                 id="a-comment"),
]
# fmt: on


@pytest.mark.parametrize(("spec", "answer", "passed", "observed"), RENDERED)
def test_string_parameters_are_rendered_with_the_vars(
    ctx: CheckContext, spec: Mapping[str, Any], answer: str, passed: bool, observed: Any
) -> None:
    result = grade(spec, ctx, answer)
    assert (result.passed, result.observed) == (passed, observed)
    assert type(result.observed) is type(observed)


@pytest.mark.parametrize(
    "spec",
    [
        {"contains": "{ not markup }"},
        {"regex": r"a{2}\{\{"},
        {"equals": {"value": "{ label }}", "ignore_case": True}},
        {"contains_any": ["x", "y {"]},
        {"number": 5},
        {"all": [{"contains": "a"}, {"not": {"equals": "b"}}]},
    ],
)
def test_a_spec_without_markup_renders_nothing(
    ctx: CheckContext, spy: Spy, spec: Mapping[str, Any]
) -> None:
    assert not has_markup(spec)
    build_check(spec, ctx)
    assert spy.sources == []


def test_plain_strings_are_left_exactly_as_they_are(ctx: CheckContext, spy: Spy) -> None:
    # Beside a rendered value, a plain one is not rendered (Jinja would drop a trailing
    # newline and keep '{ x }' anyway: nothing may change it).
    spec = {"contains_all": ["{{ label }}", " two  spaces\n", "{ x }"]}
    assert grade(spec, ctx, "Paris,  two  spaces\n { x }").passed
    assert spy.sources == ["{{ label }}"]


def test_keys_are_not_rendered(ctx: CheckContext, spy: Spy) -> None:
    spec = {"equals": {"{{ label }}": "x"}}
    assert not has_markup(spec)
    assert grade(spec, ctx, '{"{{ label }}": "x"}').passed
    assert spy.sources == []


def test_without_variables_nothing_is_rendered(ctx: CheckContext, spy: Spy) -> None:
    for bare in (replace(ctx, variables=None), replace(ctx, render=None)):
        assert grade({"contains": "{{ label }}"}, bare, "say {{ label }}").passed
    assert spy.sources == []


@pytest.mark.parametrize(
    ("text", "hint", "value"),
    [
        pytest.param("42", int, 42, id="int"),
        pytest.param(" 42\n", float, 42, id="int-for-a-float-stripped"),
        pytest.param("-0.5", float, -0.5, id="float"),
        pytest.param("1e3", float, 1000.0, id="exponent-is-a-float"),
        pytest.param("2.0", int | None, 2.0, id="float-for-an-int"),
        pytest.param("true", bool, True, id="true"),
        pytest.param("False", bool, False, id="python-false"),
        pytest.param("7", Any, "7", id="any-keeps-the-text"),
        pytest.param("7", str | None, "7", id="a-string-keeps-the-text"),
    ],
)
def test_rendered_text_is_read_as_the_declared_type(text: str, hint: Any, value: Any) -> None:
    ctx = CheckContext(load_schema, render=lambda s, f, v: (text, set()), variables={})
    got = render_params({"p": "{{ x }}"}, {"p": hint}, (), ctx)["p"]
    assert got == value
    assert type(got) is type(value)


# fmt: off
ERRORS = [
    ("not-a-number", {"number": "{{ label }}"}, "number",
     "'{{ label }}' rendered 'Paris', which is not a number"),
    ("not-a-json-number", {"number": {"value": "{{ n }}", "tolerance": "{{ '0x1f' }}"}},
     "number.tolerance", "rendered '0x1f', which is not a number"),
    ("comma-number", {"number": "{{ '1,234' }}"}, "number", "which is not a number"),
    ("infinite", {"number": "{{ '1e999' }}"}, "number", "which is not a finite number"),
    ("nan", {"number": "{{ 'NaN' }}"}, "number", "which is not a number"),
    ("not-a-bool", {"regex": {"pattern": "a", "ignore_case": "{{ label }}"}}, "regex.ignore_case",
     "'{{ label }}' rendered 'Paris', which is not true or false"),
    ("undefined", {"equals": {"value": "{{ labl }}"}}, "equals.value",
     "'labl' is undefined; did you mean 'label'?"),
    ("undefined-shorthand", {"equals": "{{ labl }}"}, "equals",
     "'labl' is undefined; did you mean 'label'?"),
    ("two-undefined", {"contains": "{{ x }} and {{ y }}"}, "contains",
     "'x' is undefined; 'y' is undefined"),
    ("in-a-list", {"one_of": ["{{ label }}", "{{ nope }}"]}, "one_of[1]", "'nope' is undefined"),
    ("in-a-mapping", {"equals": {"x": {"y": "{{ nope }}"}}}, "equals.x.y", "'nope' is undefined"),
    ("in-all", {"all": [{"contains": "a"}, {"contains": "{{ nope }}"}]}, "all[1].contains",
     "'nope' is undefined"),
    ("in-any", {"any": [{"icontains": "{{ nope }}"}]}, "any[0].icontains", "'nope' is undefined"),
    ("in-not", {"not": {"icontains": "{{ nope }}"}}, "not.icontains", "'nope' is undefined"),
    ("in-json", {"json": {"pointer": "/a", "equals": "{{ nope }}"}}, "json.equals",
     "'nope' is undefined"),
    ("json-pointer", {"json": {"pointer": "/{{ nope }}"}}, "json.pointer", "'nope' is undefined"),
    ("json-pointer-rendered-bad", {"json": {"pointer": "{{ field }}"}}, "json.pointer",
     "JSON pointer 'name' must be empty or start with '/'"),
    ("in-reasoning", {"reasoning": [{"contains": "{{ nope }}"}]}, "reasoning[0].contains",
     "'nope' is undefined"),
    ("nested-deep", {"any": [{"not": {"all": [{"json": {"pointer": "", "number": "{{ label }}"}}]}}]},
     "any[0].not.all[0].json.number", "rendered 'Paris', which is not a number"),
    ("syntax-error", {"contains": "{{ label "}, "contains", "syntax error"),
    ("schema-file-rendered-missing", {"json_schema": "schemas/{{ label }}.json"}, "json_schema",
     "schema 'schemas/Paris.json' not found under evals/"),
    ("rendered-regex-unsafe", {"regex": "{{ '(a)\\\\1' }}"}, "regex", "backreference"),
    ("python-args", {"python": {"function": f"{PKG}.grading:echo", "args": {"a": "{{ nope }}"}}},
     "python.args.a", "'nope' is undefined"),
    ("python-threshold", {"python": {"function": f"{PKG}.grading:score", "threshold": "{{ label }}"}},
     "python.threshold", "rendered 'Paris', which is not a number"),
    ("python-function-kept", {"python": "{{ label }}:fn"}, "python",
     "'{{ label }}:fn' is not of the form 'package.module:function'"),
]
# fmt: on


@pytest.mark.parametrize(
    ("spec", "path", "message"), [pytest.param(*e[1:], id=e[0]) for e in ERRORS]
)
def test_template_errors_are_spec_errors_at_the_parameter(
    ctx: CheckContext, spec: Mapping[str, Any], path: str, message: str
) -> None:
    with pytest.raises(CheckSpecError) as info:
        build_check(spec, ctx)
    assert info.value.path == path
    assert message in info.value.message
    assert "inline template" not in info.value.message  # the path says where


def test_a_template_error_without_messages_keeps_its_message() -> None:
    def failing(source: str, from_file: bool, variables: Mapping[str, Any]) -> Any:
        raise TemplateError("evals/x.j2:3: too costly")

    ctx = CheckContext(load_schema, render=failing, variables={})
    with pytest.raises(CheckSpecError) as info:
        build_check({"contains": "{% include 'x.j2' %}"}, ctx)
    assert (info.value.path, info.value.message) == ("contains", "evals/x.j2:3: too costly")


def test_a_judge_is_not_rendered_here(ctx: CheckContext, spy: Spy) -> None:
    spec = {"judge": {"rubric": "Mentions {{ nope }}.", "min_score": 0.5}}
    assert not has_markup(spec)
    _, check = build_check(spec, ctx)
    assert isinstance(check, JudgeCheck)
    assert check.source == "Mentions {{ nope }}."  # rendered when bound to a case
    assert spy.sources == []


def test_python_args_and_threshold_are_rendered(ctx: CheckContext) -> None:
    spec = {
        "python": {
            "function": f"{PKG}.grading:echo",
            "args": {"city": "{{ label }}", "n": "{{ n }}", "plain": "{x}"},
        }
    }
    assert grade(spec, ctx, "x").observed == {"city": "Paris", "n": "3", "plain": "{x}"}
    scored = {"python": {"function": f"{PKG}.grading:score", "threshold": "{{ n + 1 }}"}}
    assert (grade(scored, ctx, "abcd").passed, grade(scored, ctx, "abc").passed) == (True, False)


def test_a_value_is_inserted_once_not_rendered_again(ctx: CheckContext) -> None:
    # A var holding markup is text: nested checks are rendered where they are built only.
    raw = replace(ctx, variables={**VARS, "raw": "{{ label }}"})
    for spec in (
        {"contains": "{{ raw }}"},
        {"all": [{"not": {"contains": "{{ raw }}x"}}, {"contains": "{{ raw }}"}]},
        {"json": {"pointer": "/a", "contains": "{{ raw }}"}},
        {"reasoning": {"contains": "{{ raw }}"}},
    ):
        answer = '{"a": "{{ label }}"}' if "json" in spec else "say {{ label }}"
        given = subject(answer)
        given = replace(given, completion=replace(given.completion, reasoning=answer))
        assert build_check(spec, raw)[1](given).passed, spec


def test_a_plain_string_for_a_number_says_it_could_be_a_template() -> None:
    with pytest.raises(CheckSpecError) as info:
        build_check({"number": "5"}, CheckContext(load_schema))
    assert str(info.value) == (
        "number: expected a number, got '5' "
        "(a string here is a template, like '{{ n }}', that renders a number)"
    )


def test_each_case_renders_its_own_vars(ctx: CheckContext) -> None:
    spec = {"equals": "{{ label }}"}
    rows = [{"label": "Paris"}, {"label": "Lyon"}]
    checks = [build_check(spec, replace(ctx, variables=row))[1] for row in rows]
    assert [c(subject("Lyon")).passed for c in checks] == [False, True]


# fmt: off
MARKUP = [
    pytest.param({"contains": "{{ x }}"}, True, id="expression"),
    pytest.param({"contains": "{% if x %}a{% endif %}"}, True, id="statement"),
    pytest.param({"contains": "a{# note #}"}, True, id="comment"),
    pytest.param({"contains": "{ x } {x}"}, False, id="braces"),
    pytest.param({"regex": r"\d{2,3}"}, False, id="a-regex-quantifier"),
    pytest.param({"one_of": ["a", "{{ b }}"]}, True, id="in-a-list"),
    pytest.param({"equals": {"a": {"b": ["{{ c }}"]}}}, True, id="deep-in-a-value"),
    pytest.param({"equals": {"{{ k }}": 1}}, False, id="a-key"),
    pytest.param({"all": [{"contains": "a"}, {"any": [{"regex": "{{ p }}"}]}]}, True,
                 id="nested-in-all-any"),
    pytest.param({"not": {"contains": "{{ x }}"}}, True, id="nested-in-not"),
    pytest.param({"reasoning": {"contains": "{{ x }}"}}, True, id="nested-in-reasoning"),
    pytest.param({"reasoning": [{"contains": "a"}, {"contains": "{{ x }}"}]}, True,
                 id="nested-in-reasoning-list"),
    pytest.param({"json": {"pointer": "/a", "json": {"pointer": "/{{ b }}"}}}, True,
                 id="nested-in-json"),
    pytest.param({"json": {"pointer": "/a", "equals": 1}}, False, id="json-without"),
    pytest.param({"judge": "{{ x }}"}, False, id="judge"),
    pytest.param({"python": "{{ x }}"}, False, id="python-function"),
    pytest.param({"python": {"function": "m:f", "args": {"a": "{{ x }}"}}}, True,
                 id="python-args"),
    pytest.param({"contains": "{{ x }}", "weight": 2}, True, id="beside-a-weight"),
    pytest.param({"nope": "{{ x }}"}, False, id="no-check"),
    pytest.param({"length": "{{ x }}"}, False, id="not-a-mapping"),
    pytest.param({"is_json": True}, False, id="a-flag"),
    pytest.param(["{{ x }}"], False, id="not-a-spec"),
]
# fmt: on


@pytest.mark.parametrize(("spec", "marked"), MARKUP)
def test_has_markup(spec: Any, marked: bool) -> None:
    assert has_markup(spec) is marked


# --- the suite schema: a number or bool parameter also takes a template string -----------


def problems(*checks: Mapping[str, Any]) -> list[str]:
    text = json.dumps({"prompt": "p", "cases": [{"id": "a", "expect": list(checks)}]})
    located = load_yaml(text, "s.yaml")
    return [
        f"{p.path}: {p.message}"
        for p in problems_from(schema_errors(located.data), located, "s.yaml")
    ]


@pytest.mark.parametrize(
    "check",
    [
        {"number": "{{ answer }}"},
        {"number": {"value": "{{ answer }}", "tolerance": "{{ tol }}", "pick": "any"}},
        {"fuzzy": {"value": "{{ label }}", "min": "{{ n }}", "normalize": "{{ flag }}"}},
        {"baseline": "{{ n }}"},
        {"latency_ms": {"max": "{{ n }}"}},
        {"finished": "{{ flag }}"},
        {"length": {"max_words": "{{ n }}"}},
        {"levenshtein": {"value": "{{ label }}", "max_distance": "{{ n }}"}},
        {"f1": {"value": ["{{ label }}"], "min": "{{ tol }}"}},
        {"python": {"function": "m:f", "threshold": "{{ n }}"}},
        {"json": {"pointer": "/a", "number": "{% if flag %}1{% else %}2{% endif %}"}},
        {"starts_with": {"value": "Yes", "ignore_case": "{{ flag }}"}},
        {"ends_with": "."},
        {"icontains_any": ["a"]},
        {"icontains_all": ["a"]},
        {"is_json": True},
        {"is_json": {"schema": "schemas/x.json"}},
        {"json_equals": {"a": [1, {"b": None}]}},
        {"json_equals": {"value": 1}},
        {"json_equals": [1, 2]},
        {"all": [{"is_json": True}, {"not": {"f1": {"value": "x", "min": 0.5}}}]},
    ],
)
def test_the_schema_takes_templates_and_the_new_checks(check: Mapping[str, Any]) -> None:
    assert problems(check) == []


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (
            {"number": "5"},
            "cases[0].expect[0].number: expected a number or a mapping, got a "
            "string '5' (a string here is a template, like '{{ n }}', that renders a number)",
        ),
        (
            {"fuzzy": {"value": "x", "min": "high"}},
            "cases[0].expect[0].fuzzy.min: expected a number, got a string 'high'",
        ),
        ({"finished": "yes"}, "renders true or false)"),
        ({"levenshtein": {"value": "x", "max_distance": -1}}, "max_distance"),
        ({"levenshtein": {"value": "x"}}, "missing required key 'max_distance'"),
        ({"f1": {"value": "x", "min": 2}}, "f1.min"),
        ({"is_json": False}, "is_json"),
        ({"starts_with": ""}, "starts_with"),
        ({"pick": "{{ p }}"}, "unknown check 'pick'"),
    ],
)
def test_the_schema_refuses(check: Mapping[str, Any], message: str) -> None:
    found = problems(check)
    assert found
    assert any(message in p for p in found), found
