"""The ``python`` check: resolving a project's function at build time, calling it safely."""

from __future__ import annotations

import contextlib
import math
import sys
import textwrap
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import rapidfuzz

import harness
from harness.checks.registry import CheckContext, build_check
from harness.checks.user import DETAIL_CHARS
from harness.errors import CheckSpecError, TemplateError
from harness.models import CheckResult, Completion, Subject, Usage

PKG = f"userchecks_{uuid.uuid4().hex[:8]}"  # unique: sys.modules outlives a tmp_path

GRADING = """
    import functools
    import os
    import re
    from os import system
    from {pkg}.helpers import helper

    run_it = exec
    partial_paris = None  # set below

    NOT_CALLABLE = 42

    def is_paris(answer, context):
        return answer.strip() == "Paris"

    def returns(answer, context, value):
        return value

    def echo_context(answer, context):
        return {"passed": True, "observed": context}

    def short_enough(answer, context, *, max_words, words=None):
        n = len(answer.split())
        return {"passed": n <= max_words, "observed": n, "detail": f"{n} words"}

    def appends(answer, context, items):
        items.append(answer)
        return {"passed": True, "observed": list(items)}

    def boom(answer, context):
        raise ValueError("bad\\nanswer " + "x" * 400)

    def exits(answer, context):
        raise SystemExit(3)

    def lazy_import(answer, context):
        from {pkg} import helpers
        return helpers.HELPED

    def one_arg(answer):
        return True

    class Checks:
        @staticmethod
        def nested(answer, context):
            return answer == "ok"

        def __call__(self, answer, context):
            return True

    partial_paris = functools.partial(is_paris)
    instance = Checks()
    lambda_check = lambda answer, context: True

    @functools.wraps(os.system)
    def looks_like_system(answer, context):
        return True
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A project with a small package of check functions, a broken module and one that
    fails on import."""
    project = tmp_path_factory.mktemp("project")
    package = project / PKG
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "grading.py").write_text(textwrap.dedent(GRADING).replace("{pkg}", PKG))
    (package / "helpers.py").write_text(
        "HELPED = True\n\ndef helper(answer, context):\n    return True\n"
    )
    (package / "broken.py").write_text("def f(:\n    pass\n")
    (package / "fails.py").write_text("raise RuntimeError('no config\\nfound')\n")
    yield project
    for name in [m for m in sys.modules if m == PKG or m.startswith(PKG + ".")]:
        del sys.modules[name]


def no_schema(path: str) -> Mapping[str, Any]:
    raise TemplateError(f"schema {path} not found under evals/")


def build(spec: Mapping[str, Any], root: Path | None) -> Any:
    return build_check(spec, CheckContext(load_schema=no_schema, project_root=root))[1]


def subject(
    answer: str, *, value: Any = None, reasoning: str = "hmm", baseline: str | None = None
) -> Subject:
    completion = Completion(
        answer=answer,
        reasoning=reasoning,
        usage=Usage(10, 50, 30),
        finish="stop",
        truncated=False,
        latency_ms=1234.5,
        status=200,
    )
    return Subject(
        text=answer,
        value=answer if value is None else value,
        completion=completion,
        baseline=baseline,
    )


def run(root: Path, spec: Mapping[str, Any], answer: Subject | str) -> CheckResult:
    check = build(spec, root)
    return check(answer if isinstance(answer, Subject) else subject(answer))


def fn(name: str) -> str:
    return f"{PKG}.grading:{name}"


def returning(value: Any, threshold: Any = None) -> dict[str, Any]:
    spec = {"function": fn("returns"), "args": {"value": value}}
    return {"python": spec if threshold is None else {**spec, "threshold": threshold}}


def row(
    id: str, spec: Mapping[str, Any], answer: str, passed: bool, observed: Any, detail: str = ""
) -> Any:
    return pytest.param(spec, answer, passed, observed, detail, id=id)


EXPECTED = "expected bool, number or {passed: ...}"

# fmt: off
ROWS = [
    # bool
    row("bool-true", {"python": fn("is_paris")}, " Paris ", True, True),
    row("bool-false", {"python": fn("is_paris")}, "Lyon", False, False, "returned False"),
    row("mapping-form", {"python": {"function": fn("is_paris")}}, "Paris", True, True),
    row("module-level-lambda", {"python": fn("lambda_check")}, "ok", True, True),
    # numbers in 0-1: pass at 0.5 or more, observed is the number
    row("number-1", returning(1), "x", True, 1),
    row("number-half-passes", returning(0.5), "x", True, 0.5),
    row("number-below-half", returning(0.49), "x", False, 0.49, "0.49 < 0.5"),
    row("number-0", returning(0), "x", False, 0, "0 < 0.5"),
    row("number-over-1", returning(1.5), "x", False, None, "returned 1.5, outside 0-1"),
    row("number-negative", returning(-0.1), "x", False, None, "outside 0-1"),
    row("number-nan", returning(math.nan), "x", False, None, "returned nan, outside 0-1"),
    # with a threshold: any finite number, passing at the threshold or more
    row("threshold-over-1", returning(7, threshold=5), "x", True, 7),
    row("threshold-at", returning(5.0, threshold=5), "x", True, 5.0),
    row("threshold-under", returning(3, threshold=5), "x", False, 3, "3 < 5"),
    row("threshold-negative", returning(-2.5, threshold=-3), "x", True, -2.5),
    row("threshold-in-0-1", returning(0.7, threshold=0.8), "x", False, 0.7, "0.7 < 0.8"),
    row("threshold-0-1-low", returning(0.3, threshold=0.25), "x", True, 0.3),
    row("threshold-inf", returning(math.inf, threshold=0), "x", False, None,
        "python check returned inf, not a finite number"),
    row("threshold-nan", returning(math.nan, threshold=0), "x", False, None,
        "returned nan, not a finite number"),
    row("threshold-huge-int", returning(10**400, threshold=0), "x", False, None,
        "not a finite number"),
    row("threshold-bool-unchanged", returning(True, threshold=5), "x", True, True),
    row("threshold-false-unchanged", returning(False, threshold=-5), "x", False, False,
        "returned False"),
    row("threshold-mapping-unchanged", returning({"passed": True, "observed": 99}, threshold=5),
        "x", True, 99),
    # mappings
    row("mapping-passed", returning({"passed": True}), "x", True, None),
    row("mapping-all-keys", returning({"passed": False, "observed": 12, "detail": "too long"}),
        "x", False, 12, "too long"),
    row("mapping-failed-no-detail", returning({"passed": False}), "x", False, None,
        "returned passed: false"),
    row("mapping-detail-kept-on-pass", returning({"passed": True, "detail": "close call"}), "x",
        True, None, "close call"),
    row("mapping-no-passed", returning({"observed": 1}), "x", False, None,
        f"python check returned dict without a bool 'passed'; {EXPECTED}"),
    row("mapping-passed-not-bool", returning({"passed": "yes"}), "x", False, None,
        "without a bool 'passed'"),
    # anything else
    row("junk-str", returning("yes"), "x", False, None, f"python check returned str; {EXPECTED}"),
    row("junk-none", returning(None), "x", False, None, "python check returned NoneType;"),
    row("junk-list", returning([True]), "x", False, None, "python check returned list;"),
    # exceptions fail the check, never the run
    row("raises", {"python": fn("boom")}, "x", False, None, "raised ValueError: bad answer xxx"),
    row("exits", {"python": fn("exits")}, "x", False, None, "raised SystemExit: 3"),
    # args are passed as keywords
    row("args", {"python": {"function": fn("short_enough"), "args": {"max_words": 3}}},
        "one two", True, 2, "2 words"),
    row("args-fail", {"python": {"function": fn("short_enough"), "args": {"max_words": 1}}},
        "one two", False, 2, "2 words"),
    row("imports-its-package-at-run-time", {"python": fn("lazy_import")}, "x", True, True),
    # nested
    row("in-not", {"not": {"python": fn("is_paris")}}, "Lyon", True, False),
    row("in-all", {"all": [{"contains": "P"}, {"python": fn("is_paris")}]}, "Paris", True,
        "2/2 passed"),
]
# fmt: on


@pytest.mark.parametrize(("spec", "answer", "passed", "observed", "detail"), ROWS)
def test_python_check(
    root: Path,
    spec: Mapping[str, Any],
    answer: str,
    passed: bool,
    observed: Any,
    detail: str,
) -> None:
    result = run(root, spec, answer)
    assert result.name == next(iter(spec))
    assert result.passed is passed
    assert result.observed == observed
    assert type(result.observed) is type(observed)
    if passed:
        assert result.detail == detail
    else:
        assert detail
        assert detail in result.detail


def test_exception_detail_is_one_line_and_cut(root: Path) -> None:
    detail = run(root, {"python": fn("boom")}, "x").detail
    assert "\n" not in detail
    assert len(detail) == DETAIL_CHARS
    assert detail.endswith("...")


def test_context_holds_the_completion(root: Path) -> None:
    result = run(root, {"python": fn("echo_context")}, subject("Paris", baseline="Paris!"))
    assert result.observed == {
        "value": "Paris",
        "reasoning": "hmm",
        "usage": {"input_tokens": 10, "output_tokens": 50, "reasoning_tokens": 30},
        "latency_ms": 1234.5,
        "finish": "stop",
        "baseline": "Paris!",
    }


def test_context_value_is_the_json_value_under_json(root: Path) -> None:
    spec = {"json": {"pointer": "/a", "python": fn("echo_context")}}
    result = run(root, spec, '{"a": [1, 2]}')
    assert result.passed
    (child,) = result.children
    assert child.observed["value"] == [1, 2]
    assert child.observed["baseline"] is None


def test_nested_subjects_keep_the_baseline(root: Path) -> None:
    spec = {"reasoning": {"json": {"pointer": "/b", "python": fn("echo_context")}}}
    result = run(root, spec, subject("x", reasoning='{"b": 1}', baseline="was"))
    assert result.passed
    context = result.children[0].children[0].observed
    assert (context["value"], context["baseline"]) == (1, "was")


def test_each_call_gets_fresh_args(root: Path) -> None:
    check = build({"python": {"function": fn("appends"), "args": {"items": ["a"]}}}, root)
    assert check(subject("b")).observed == ["a", "b"]
    assert check(subject("c")).observed == ["a", "c"]


def test_refuses_os_system(root: Path) -> None:
    with pytest.raises(CheckSpecError) as info:
        build({"python": "os:system"}, root)
    assert str(info.value) == (
        f"python: os:system is not a function of this project (its module is outside "
        f"{root.resolve()})"
    )


def test_refuses_a_module_outside_the_root_without_importing_it(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"elsewhere_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text("raise RuntimeError('must not run')\ndef f(a, c): ...\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(CheckSpecError) as info:
        build({"python": {"function": f"{name}:f"}}, root)
    assert info.value.path == "python.function"
    assert "is not a function of this project (its module is outside" in info.value.message
    assert name not in sys.modules


@pytest.mark.parametrize(
    "spec", ["json:dumps", "sys:exit", "os.path:join", "rapidfuzz.fuzz:ratio", "harness:x"]
)
def test_refuses_stdlib_builtin_and_installed_modules(root: Path, spec: str) -> None:
    with pytest.raises(CheckSpecError) as info:
        build({"python": spec}, root)
    assert info.value.path == "python"
    assert f"{spec} is not a function of this project (its module is outside" in str(info.value)


@pytest.mark.parametrize("spec", ["json:dumps", "rapidfuzz.fuzz:ratio"])
def test_refuses_installed_modules_even_under_the_root(spec: str) -> None:
    # A project root holding the virtualenv (or /) must not make its packages the project's.
    anchor = Path(Path(rapidfuzz.__file__).anchor)
    with pytest.raises(CheckSpecError) as info:
        build({"python": spec}, anchor)
    assert f"{spec} is not a function of this project (its module is an installed package" in (
        info.value.message
    )


# fmt: off
SPEC_ERRORS = [
    ("no-colon", {"python": "mymodule"}, "python",
     "'mymodule' is not of the form 'package.module:function'"),
    ("empty-module", {"python": ":fn"}, "python", "is not of the form"),
    ("empty-function", {"python": {"function": "mod:"}}, "python.function", "is not of the form"),
    ("two-colons", {"python": "a:b:c"}, "python", "is not of the form"),
    ("relative", {"python": ".mod:fn"}, "python", "is not of the form"),
    ("empty-part", {"python": "a..b:fn"}, "python", "is not of the form"),
    ("blank", {"python": "  "}, "python", "is not of the form"),
    ("not-a-string", {"python": 5}, "python", "must be a string 'package.module:function'"),
    ("no-function", {"python": {"args": {}}}, "python", "missing required key 'function'"),
    ("unknown-key", {"python": {"function": "a:b", "kwargs": {}}}, "python.kwargs",
     "unknown key; allowed: function, args, threshold"),
    ("threshold-nan", returning(1, threshold=math.nan), "python.threshold",
     "nan is not a finite number"),
    ("threshold-inf", returning(1, threshold=-math.inf), "python.threshold",
     "-inf is not a finite number"),
    ("threshold-huge", returning(1, threshold=10**400), "python.threshold",
     "is too large a number"),
    ("threshold-bool", returning(1, threshold=True), "python.threshold",
     "expected a number, got True"),
    ("threshold-string", returning(1, threshold="high"), "python.threshold",
     "expected a number, got 'high'"),
    ("args-not-mapping", {"python": {"function": fn("is_paris"), "args": [1]}}, "python.args",
     "must be a mapping of keyword arguments"),
    ("no-such-module", {"python": f"{PKG}_nope.mod:fn"}, "python",
     f"cannot import {PKG}_nope.mod: ModuleNotFoundError: No module named '{PKG}_nope'"),
    ("no-such-submodule", {"python": f"{PKG}.nope:fn"}, "python",
     f"cannot import {PKG}.nope: ModuleNotFoundError: No module named '{PKG}.nope'"),
    ("syntax-error", {"python": {"function": f"{PKG}.broken:f"}}, "python.function",
     f"cannot import {PKG}.broken: SyntaxError: "),
    ("raises-on-import", {"python": f"{PKG}.fails:f"}, "python",
     f"cannot import {PKG}.fails: RuntimeError: no config found"),
    ("missing-attribute", {"python": fn("nope")}, "python",
     f"module {PKG}.grading has no attribute 'nope'"),
    ("missing-nested-attribute", {"python": fn("Checks.nope")}, "python",
     "an attribute chain after ':' is refused"),
    ("not-callable", {"python": {"function": fn("NOT_CALLABLE")}}, "python.function",
     f"{PKG}.grading:NOT_CALLABLE is not a plain function defined with def (type int)"),
    ("one-parameter", {"python": fn("one_arg")}, "python",
     f"{fn('one_arg')} cannot be called as {fn('one_arg')}(answer, context, **args): "
     "too many positional arguments"),
    ("missing-arg", {"python": fn("short_enough")}, "python",
     "missing a required argument: 'max_words'"),
    ("unknown-arg", {"python": {"function": fn("is_paris"), "args": {"city": "Paris"}}},
     "python.args", "got an unexpected keyword argument 'city'"),
    ("nested-path", {"all": [{"contains": "a"}, {"python": {"function": fn("nope")}}]},
     "all[1].python.function", "has no attribute 'nope'"),
]
# fmt: on


@pytest.mark.parametrize(
    ("spec", "path", "message"), [pytest.param(*e[1:], id=e[0]) for e in SPEC_ERRORS]
)
def test_spec_error(root: Path, spec: Mapping[str, Any], path: str, message: str) -> None:
    with pytest.raises(CheckSpecError) as info:
        build(spec, root)
    assert info.value.path == path
    assert message in info.value.message
    assert "\n" not in info.value.message


def test_needs_the_project_root() -> None:
    with pytest.raises(CheckSpecError) as info:
        build({"python": fn("is_paris")}, None)
    assert str(info.value) == "python: python checks need the project root"


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"python": fn("is_paris")}, id="ok"),
        pytest.param({"python": f"{PKG}.broken:f"}, id="syntax-error"),
        pytest.param({"python": "os:system"}, id="refused"),
        pytest.param({"python": fn("nope")}, id="missing"),
    ],
)
def test_sys_path_is_restored(root: Path, spec: Mapping[str, Any]) -> None:
    before = list(sys.path)
    with contextlib.suppress(CheckSpecError):
        build(spec, root)
    assert sys.path == before
    assert str(root) not in sys.path


def test_sys_path_unchanged_when_the_root_is_already_first(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(root.resolve()))
    before = list(sys.path)
    build({"python": fn("is_paris")}, root)
    assert sys.path == before


# Attacks: a suite names something the project's module can reach but did not define.
# fmt: off
REFUSED_FUNCTIONS = [
    # issue 12: from the project's module, through `import re`, to the builtin exec
    ("chain-to-exec", "re.enum.bltns.exec", "an attribute chain after ':' is refused"),
    ("staticmethod-chain", "Checks.nested", "an attribute chain after ':' is refused"),
    ("imported-function", "system", "is not a plain function defined with def (type "),
    ("imported-module", "re", "is not a plain function defined with def (type module)"),
    ("builtin-alias", "run_it", "(type builtin_function_or_method)"),
    ("class", "Checks", "(type type)"),
    ("partial", "partial_paris", "(type partial)"),
    ("callable-instance", "instance", "(type Checks)"),
    ("imported-project-function", "helper",
     f"is not defined in {PKG}.grading (it comes from {PKG}.helpers: the module only imports it)"),
    ("wraps-a-builtin", "looks_like_system", "is not defined in"),
    ("dunder-builtins", "__builtins__", "is not a plain function defined with def (type dict)"),
]
# fmt: on


@pytest.mark.parametrize(
    ("name", "message"), [pytest.param(*e[1:], id=e[0]) for e in REFUSED_FUNCTIONS]
)
def test_refuses_what_the_module_did_not_define(root: Path, name: str, message: str) -> None:
    with pytest.raises(CheckSpecError) as info:
        build({"python": {"function": fn(name)}}, root)
    assert info.value.path == "python.function"
    assert message in info.value.message
    assert info.value.message.startswith(f"'{fn(name)}'" if "chain" in message else fn(name))


def test_refuses_the_harness_itself(root: Path) -> None:
    with pytest.raises(CheckSpecError) as info:
        build({"python": "harness.fileio:write_atomic"}, Path(harness.__file__).parent.parent)
    assert "is not a function of this project (its module is the harness itself)" in str(info.value)
