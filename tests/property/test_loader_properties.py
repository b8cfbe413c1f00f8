"""Property tests of the suite loader: whatever the file holds, ``load_suite`` returns a
``Suite`` or raises ``SuiteError`` whose problems each name the file, a line and one line
of message; never any other exception."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import SuiteError
from harness.models import EFFORTS, Suite
from harness.suites.loader import load_suite

from .test_check_properties import ANY_TEXT, CHECK_SPECS, JSONISH, PATTERNS, leaf_specs

DISPLAY = "suites/prop.yaml"
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- the project: evals/ with a few templates and schemas, one suite file --------------

EVALS: dict[str, str | bytes] = {
    "p.j2": "partial {{ x }}",
    "t.j2": "Hello {{ x }}! {% include 'p.j2' %}",
    "broken.j2": "{% for %}",
    "self.j2": "{% include 'self.j2' %}",
    "undefined.j2": "{{ nope.deeper }}",
    "binary.j2": b"\xff\xfe{{ x }}\x00",
    "schemas/ok.json": json.dumps({"type": "object", "properties": {"a": {"type": "integer"}}}),
    "schemas/bad.json": json.dumps({"type": "nope"}),
    "schemas/list.json": "[1, 2]",
    "schemas/notjson.json": "{nope",
    "schemas/binary.json": b"\xff\xfe{}",
}
TEMPLATE_NAMES = [
    *EVALS,
    "missing.j2",
    "../outside.j2",
    "/etc/passwd",
    "",
    "schemas",
    "sub/../p.j2",
    "p.j2\x00",
    "x" * 300 + ".j2",
    "a/" * 3000,
    "~/p.j2",
    "\\p.j2",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    for name, content in EVALS.items():
        path = root / "evals" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    (root / "outside.j2").write_text("outside", encoding="utf-8")
    (root / "suites").mkdir()
    return root


def load(project: Path, content: bytes) -> Suite | None:
    """Write ``content`` as the suite file and load it; ``None`` when it raised ``SuiteError``
    (after checking its problems)."""
    path = project / "suites" / "prop.yaml"
    path.write_bytes(content)
    try:
        suite = load_suite(path, evals_dir=project / "evals", display=DISPLAY)
    except SuiteError as exc:
        problems = exc.problems
    else:
        assert isinstance(suite, Suite)
        assert suite.cases, "a valid suite has at least one case"
        return suite
    assert problems, "a SuiteError lists at least one problem"
    for problem in problems:
        assert problem.line >= 1, problem
        assert "\n" not in problem.message, problem
        assert "\n" not in str(problem), problem  # one line per mistake, whatever the keys
        assert str(problem).startswith(f"{DISPLAY}:{problem.line}: "), problem
    return None


def dump(document: Any) -> bytes:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False).encode(
        "utf-8", "surrogatepass"
    )


# --- (a) arbitrary bytes and text ------------------------------------------------------

YAML_BITS = [
    "cases:\n",
    "  - id: a\n",
    "    prompt: hi\n",
    "expect:\n",
    "  - contains: x\n",
    "&a ",
    "*a",
    "<<: *a\n",
    "? [a, b]\n",
    ": c\n",
    "!!python/object:os.system x\n",
    "!!binary aGk=\n",
    "!!set {a, b}\n",
    "2020-01-01\n",
    "2024-02-30\n",
    "? 2024-13-01\n",
    "9" * 4400,
    "0x" + "f" * 4000,
    "samples: -0b" + "1" * 14000 + "\n",
    "1.5e99999\n",
    ".nan\n",
    "-.inf\n",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "name: x\n",
    "name: y\n",
    "{",
    "[",
    "'",
    '"',
    "\t",
    "\x00",
    "\ud800",
    "\ufeff",
    "#",
    "|\n",
]
TEXTS = st.one_of(
    ANY_TEXT,
    st.lists(st.one_of(st.sampled_from(YAML_BITS), st.text(max_size=6)), max_size=20).map("".join),
)
ENCODINGS = st.sampled_from(["utf-8", "utf-16", "latin-1"])
ERRORS = st.sampled_from(["surrogateescape", "surrogatepass", "replace"])


def encode(text: str, encoding: str, errors: str) -> bytes:
    """``text`` in ``encoding``; lone surrogates become invalid UTF-8 (or '?')."""
    try:
        return text.encode(encoding, errors)
    except UnicodeEncodeError:  # surrogateescape only maps U+DC80-U+DCFF back to bytes
        return text.encode(encoding, "replace")


@SETTINGS
@given(content=st.one_of(st.binary(), st.builds(encode, TEXTS, ENCODINGS, ERRORS)))
def test_any_bytes_load_or_raise_suite_error(project: Path, content: bytes) -> None:
    load(project, content)


# --- (b) arbitrary YAML documents ------------------------------------------------------

DOCUMENT_KEYS = st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none(), st.floats())
DOCUMENTS: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(DOCUMENT_KEYS, inner, max_size=4),
    max_leaves=20,
)


@SETTINGS
@given(document=DOCUMENTS)
def test_any_yaml_document_loads_or_raises_suite_error(project: Path, document: Any) -> None:
    load(project, dump(document))


# --- (c) documents that mostly follow the suite schema ---------------------------------

FRAGMENTS = [
    "{{ x }}",
    "{{ y }}",
    "{{ x | upper }}",
    "{{ x.y.z }}",
    "{% include 'p.j2' %}",
    "{% include 'missing.j2' %}",
    "{% include '../outside.j2' %}",
    "{% include 'self.j2' %}",
    "{% include x %}",
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ x.__init__.__globals__ }}",
    "{% for %}",
    "{% for i in range(3) %}{{ i }}{% endfor %}",
    "{{ 1 / 0 }}",
    "{{ range(10**9) | list }}",
    "{{ x * 3 }}",
    "{{ x + 1 }}",
    "{% raw %}",
    "{#",
    "{{",
    "}}",
    "{% set x = 1 %}",
    "{{ x.append(1) }}",
    "{{ lipsum() }}",
    "{{ cycler }}",
    "{% macro m() %}{{ caller() }}{% endmacro %}{{ m() }}",
    "{{ 'a' ~ 1 }}",
    "{% extends 'p.j2' %}",
    "\x00",
    "\ud800",
    "\n",
]
GOOD_PROMPTS = st.lists(
    st.one_of(st.sampled_from(["{{ x }}", "{% include 'p.j2' %}", " ", "\n"]), st.text(max_size=6)),
    max_size=4,
).map(lambda parts: "".join(parts).replace("{", "(").replace("}", ")") + "{{ x }}")
PROMPTS = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=5).map(
    "".join
)
NAMES = st.one_of(
    st.sampled_from(["math", "a.b-c", "bad name", "", "_x", "x" * 300]), st.text(max_size=8)
)
FILES = st.one_of(st.sampled_from(TEMPLATE_NAMES), st.text(max_size=8))
VARS = st.dictionaries(
    st.one_of(st.sampled_from(["x", "y", "nope", "__class__"]), st.text(max_size=4)),
    JSONISH,
    max_size=3,
)
GOOD_ROLES = st.sampled_from(["system", "user", "assistant", "developer"])
ROLES = st.one_of(GOOD_ROLES, st.sampled_from(["tool", ""]))
MESSAGES = st.lists(
    st.one_of(
        st.fixed_dictionaries({"role": ROLES, "content": PROMPTS}),
        st.fixed_dictionaries({"role": ROLES, "template": FILES}),
        st.fixed_dictionaries(
            {"role": ROLES}, optional={"content": PROMPTS, "template": FILES, "x": JSONISH}
        ),
        JSONISH,
    ),
    max_size=3,
)
NUMBER = st.one_of(
    st.floats(-3, 3),
    st.integers(-3, 2000),
    st.sampled_from([0, 1, 0.5, math.nan, math.inf, 10**20, 10**400]),
)
SHARE = st.floats(0, 1)
PARAM_NAMES = (
    "temperature",
    "top_p",
    "max_output_tokens",
    "seed",
    "top_k",
    "min_p",
    "presence_penalty",
    "frequency_penalty",
)
PARAMS = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(PARAM_NAMES, NUMBER)
    | {
        "stop": st.one_of(st.text(max_size=3), st.lists(st.text(max_size=3), max_size=2)),
        "extra": st.dictionaries(st.text(max_size=5), JSONISH, max_size=2),
        "nope": JSONISH,
    },
)
GOOD_PARAMS = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0.01, 1),
        "max_output_tokens": st.integers(1, 10**6),
        "seed": st.integers(),
        "stop": st.lists(st.text(max_size=3), max_size=2),
        "extra": st.dictionaries(st.text(max_size=5), JSONISH, max_size=2),
    },
)
WEIGHTED_CHECKS = st.one_of(
    CHECK_SPECS,
    st.tuples(CHECK_SPECS, NUMBER).map(
        lambda t: {**t[0], "weight": t[1]} if isinstance(t[0], dict) else t[0]
    ),
)
LEAF_CHECKS = st.one_of(
    leaf_specs(), leaf_specs().map(lambda c: {"not": c}), leaf_specs().map(lambda c: {"all": [c]})
)
# The schema takes any weight above 0, however large (an int past float's range, infinity).
WEIGHTS = st.one_of(st.floats(0.01, 10), st.integers(1, 5), st.just(10**400), st.just(math.inf))
GOOD_CHECKS = st.one_of(
    LEAF_CHECKS, st.tuples(LEAF_CHECKS, WEIGHTS).map(lambda t: {**t[0], "weight": t[1]})
)
# Each key: (values that pass the schema, values that may not). A suite draws from the
# first only ("good" suites, many of which load), or from both and anything else.
FIELDS: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "description": (st.text(max_size=10), st.text(max_size=10)),
    "template": (st.sampled_from(["t.j2", "p.j2"]), FILES),
    "prompt": (GOOD_PROMPTS, PROMPTS),
    "messages": (
        st.lists(
            st.fixed_dictionaries({"role": GOOD_ROLES, "content": GOOD_PROMPTS}),
            min_size=1,
            max_size=2,
        ),
        MESSAGES,
    ),
    "system": (GOOD_PROMPTS, PROMPTS),
    "system_template": (st.just("p.j2"), FILES),
    "vars": (st.fixed_dictionaries({"x": JSONISH}, optional={"y": JSONISH}), VARS),
    "apis": (
        st.lists(st.sampled_from(["chat", "responses"]), min_size=1, unique=True),
        st.lists(st.sampled_from(["chat", "responses", "grpc"]), max_size=3),
    ),
    "efforts": (
        st.lists(st.sampled_from(EFFORTS), min_size=1, unique=True),
        st.lists(st.sampled_from([*EFFORTS, "max"]), max_size=3),
    ),
    "params": (GOOD_PARAMS, PARAMS),
    "samples": (st.integers(1, 5), NUMBER),
    "min_pass_rate": (SHARE, NUMBER),
    "threshold": (SHARE, NUMBER),
    "extract": (st.sampled_from(["a", r"\d+", r"Answer:\s*(.+)"]), st.sampled_from(PATTERNS)),
    "structured_output": (st.just("schemas/ok.json"), FILES),
    "expect": (st.lists(GOOD_CHECKS, max_size=2), st.lists(WEIGHTED_CHECKS, max_size=3)),
}
CASE_FIELDS = {
    "id": (st.sampled_from(["a", "b", "c.1", "_d-2"]), st.sampled_from(["bad id", "", "a" * 500])),
    "replace_expect": (st.booleans(), st.booleans()),
    "nope": (st.nothing(), JSONISH),
}
SUITE_FIELDS = {
    "name": (st.sampled_from(["math", "a.b-c", "_x"]), NAMES),
    "unknown": (st.nothing(), JSONISH),
}
PROMPT_KEYS = {"template", "prompt", "messages"}
STRAY_KEYS = {"nope", "unknown"}


@st.composite
def mappings(draw: st.DrawFn, kind: str, good: bool) -> dict[str, Any]:
    """Some of the keys of a ``kind`` ("case" or "suite"): when ``good``, with values the
    schema accepts and one prompt key at most; otherwise with values of any kind."""
    keys = FIELDS | (CASE_FIELDS if kind == "case" else SUITE_FIELDS)
    out: dict[str, Any] = {}
    for key in draw(st.permutations(sorted(keys)))[: draw(st.integers(0, 6))]:
        plausible, wild = keys[key]
        if not good:
            out[key] = draw(st.one_of(plausible, wild, JSONISH))
        elif key not in STRAY_KEYS and not (key in PROMPT_KEYS and PROMPT_KEYS & out.keys()):
            out[key] = draw(plausible)
    return out


@st.composite
def suites(draw: st.DrawFn) -> dict[str, Any]:
    """A suite document, "good" (each value valid for the schema, though templates, checks
    and ids may still be wrong) or wild (values of any kind)."""
    good = draw(st.booleans())
    cases = draw(st.lists(mappings("case", good), min_size=1 if good else 0, max_size=3))
    ids = CASE_FIELDS["id"][0]
    unique = iter(draw(st.permutations(["a", "b", "c.1", "_d-2"])))
    for case in cases:  # wild ids may repeat, or not be ids at all
        case["id"] = next(unique) if good else draw(st.one_of(ids, CASE_FIELDS["id"][1], JSONISH))
    suite = draw(mappings("suite", good))
    if good:
        if not PROMPT_KEYS & suite.keys():
            suite["prompt"] = draw(GOOD_PROMPTS)
        suite["vars"] = {"x": 1, **suite.get("vars", {})}
    suite["cases"] = cases if good or draw(st.booleans()) else draw(JSONISH)
    return suite


SUITES = suites()


@settings(SETTINGS, max_examples=400)
@given(document=SUITES)
def test_plausible_suites_load_or_raise_suite_error(
    project: Path, document: dict[str, Any]
) -> None:
    suite = load(project, dump(document))
    if suite is not None:
        ids = [case.id for case in suite.cases]
        assert len(ids) == len(set(ids))
        for case in suite.cases:
            assert case.messages
            assert case.line >= 1
            assert all(math.isfinite(check.weight) and check.weight > 0 for check in case.checks)
