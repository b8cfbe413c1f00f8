"""YAML suite -> Case objects: defaults, suite/case merging, rendering, files, refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.checks.regexes import SafePattern
from harness.errors import SuiteError
from harness.models import Case, Message, Suite
from harness.suites.loader import load_suite

REPO = Path(__file__).resolve().parents[3]
PERSON = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with suites/ and evals/ (a template, a partial and a schema)."""
    for folder in ("suites", "evals/partials", "evals/schemas"):
        (tmp_path / folder).mkdir(parents=True)
    files = {
        "ask.j2": "Q: {{ question }}",
        "main.j2": 'Hi {{ name }}. {% include "partials/rule.j2" %}',
        "partials/rule.j2": "Answer in {{ lang }}.",
        "partials/undefined.j2": "uses {{ not_given }}",
        "sys.j2": "You are {{ persona }}.",
        "schemas/person.json": json.dumps(PERSON),
    }
    for name, text in files.items():
        (tmp_path / "evals" / name).write_text(text, encoding="utf-8")
    return tmp_path


def load(project: Path, text: str) -> Suite:
    path = project / "suites" / "x.yaml"
    path.write_text(text, encoding="utf-8")
    return load_suite(path, evals_dir=project / "evals", display="suites/x.yaml")


def problems(project: Path, text: str) -> list[str]:
    with pytest.raises(SuiteError) as info:
        load(project, text)
    return [str(p) for p in info.value.problems]


def one_case(project: Path, text: str) -> Case:
    suite = load(project, text)
    assert len(suite.cases) == 1
    return suite.cases[0]


def case_by_id(suite: Suite) -> dict[str, Case]:
    return {case.id: case for case in suite.cases}


# --- defaults and suite -> case merging ----------------------------------------------


def test_defaults(project: Path) -> None:
    suite = load(project, "prompt: hi\ncases:\n  - id: only\n")
    assert (suite.name, suite.path, suite.description) == ("x", "suites/x.yaml", "")
    (case,) = suite.cases
    assert case.id == "only"
    assert case.line == 3
    assert case.messages == (Message("user", "hi"),)
    assert case.apis == ("chat", "responses")
    assert case.efforts == ("default",)
    assert case.samples == 1
    assert case.min_pass_rate == 1.0
    assert case.threshold is None
    assert case.params == {}
    assert case.checks == ()
    assert case.extract is None
    assert case.structured_output is None
    assert case.files == ()


def test_name_and_description_from_the_file(project: Path) -> None:
    suite = load(project, "name: math\ndescription: sums\nprompt: hi\ncases: [{id: a}]\n")
    assert (suite.name, suite.description) == ("math", "sums")


@pytest.mark.parametrize(
    ("key", "suite_value", "case_value", "inherited", "overridden"),
    [
        pytest.param("apis", "[chat]", "[responses]", ("chat",), ("responses",), id="apis"),
        pytest.param("efforts", "[low, high]", "[none]", ("low", "high"), ("none",), id="efforts"),
        pytest.param("samples", "5", "2", 5, 2, id="samples"),
        pytest.param("min_pass_rate", "0.8", "0.5", 0.8, 0.5, id="min-pass-rate"),
        pytest.param("threshold", "0.75", "0", 0.75, 0.0, id="threshold-zero-kept"),
    ],
)
def test_a_case_overrides_a_suite_setting(
    project: Path, key: str, suite_value: str, case_value: str, inherited: Any, overridden: Any
) -> None:
    text = (
        f"prompt: hi\n{key}: {suite_value}\ncases:\n  - id: a\n  - id: b\n    {key}: {case_value}\n"
    )
    cases = case_by_id(load(project, text))
    assert getattr(cases["a"], key) == inherited
    assert getattr(cases["b"], key) == overridden


@pytest.mark.parametrize(
    ("suite_params", "case_params", "expected"),
    [
        pytest.param("{}", "{}", {}, id="none"),
        pytest.param(
            "{temperature: 0.6, top_p: 0.9}",
            "{temperature: 0.1}",
            {"temperature": 0.1, "top_p": 0.9},
            id="case-overrides-one-key",
        ),
        pytest.param(
            "{temperature: 0.6}",
            "{max_output_tokens: 64}",
            {"temperature": 0.6, "max_output_tokens": 64},
            id="case-adds-a-key",
        ),
        pytest.param(
            "{extra: {top_k: 20, chat_template_kwargs: {enable_thinking: false, x: 1}}}",
            "{extra: {min_p: 0.1, chat_template_kwargs: {enable_thinking: true}}}",
            {
                "extra": {
                    "top_k": 20,
                    "min_p": 0.1,
                    # shallow: the case's nested mapping replaces the suite's whole
                    "chat_template_kwargs": {"enable_thinking": True},
                }
            },
            id="extra-merged-shallowly",
        ),
        pytest.param(
            "{extra: {top_k: 20}}",
            "{temperature: 0}",
            {"extra": {"top_k": 20}, "temperature": 0},
            id="extra-only-on-suite",
        ),
        pytest.param(
            "{temperature: 0}",
            "{extra: {top_k: 5}}",
            {"extra": {"top_k": 5}, "temperature": 0},
            id="extra-only-on-case",
        ),
    ],
)
def test_params_merge_key_by_key(
    project: Path, suite_params: str, case_params: str, expected: dict[str, Any]
) -> None:
    text = f"prompt: hi\nparams: {suite_params}\ncases:\n  - id: a\n    params: {case_params}\n"
    assert one_case(project, text).params == expected


def test_suite_params_are_not_changed_by_a_case(project: Path) -> None:
    text = (
        "prompt: hi\nparams: {extra: {top_k: 20}}\n"
        "cases:\n  - id: a\n    params: {extra: {min_p: 0.1}}\n  - id: b\n"
    )
    cases = case_by_id(load(project, text))
    assert cases["a"].params == {"extra": {"top_k": 20, "min_p": 0.1}}
    assert cases["b"].params == {"extra": {"top_k": 20}}


@pytest.mark.parametrize(
    ("suite_vars", "case_vars", "rendered"),
    [
        pytest.param("{a: 1, b: 2}", "{}", "1-2", id="suite-only"),
        pytest.param("{a: 1, b: 2}", "{b: 3}", "1-3", id="case-wins"),
        pytest.param("{}", "{a: x, b: y}", "x-y", id="case-only"),
        pytest.param("{a: 1}", "{b: [1, 2]}", "1-[1, 2]", id="merged"),
    ],
)
def test_vars_merge_and_the_case_wins(
    project: Path, suite_vars: str, case_vars: str, rendered: str
) -> None:
    text = (
        f"prompt: '{{{{ a }}}}-{{{{ b }}}}'\nvars: {suite_vars}\n"
        f"cases:\n  - id: c\n    vars: {case_vars}\n"
    )
    assert one_case(project, text).messages == (Message("user", rendered),)


@pytest.mark.parametrize(
    ("case_lines", "names"),
    [
        pytest.param("", ["finished", "length"], id="suite-only"),
        pytest.param(
            "    expect: [{contains: x}]\n",
            ["finished", "length", "contains"],
            id="appended-after-suite",
        ),
        pytest.param(
            "    replace_expect: true\n    expect: [{contains: x}]\n",
            ["contains"],
            id="replaced",
        ),
        pytest.param("    replace_expect: true\n", [], id="replaced-by-nothing"),
        pytest.param(
            "    replace_expect: false\n    expect: [{regex: a}]\n",
            ["finished", "length", "regex"],
            id="replace-false-appends",
        ),
    ],
)
def test_suite_expect_is_appended_unless_replaced(
    project: Path, case_lines: str, names: list[str]
) -> None:
    text = (
        "prompt: hi\nexpect:\n  - finished: true\n  - length: {max_words: 9}\n"
        f"cases:\n  - id: a\n{case_lines}"
    )
    assert [check.name for check in one_case(project, text).checks] == names


# --- prompts, system messages, multi-turn messages -----------------------------------


@pytest.mark.parametrize(
    ("suite_prompt", "case_prompt", "messages"),
    [
        pytest.param("template: ask.j2", "", [("user", "Q: why")], id="suite-template"),
        pytest.param(
            "template: ask.j2",
            "prompt: 'P {{ question }}'",
            [("user", "P why")],
            id="case-prompt-over-suite-template",
        ),
        pytest.param(
            "prompt: suite",
            "template: ask.j2",
            [("user", "Q: why")],
            id="case-template-over-suite-prompt",
        ),
        pytest.param(
            "prompt: suite",
            "messages: [{role: user, content: a}, {role: assistant, content: b}]",
            [("user", "a"), ("assistant", "b")],
            id="case-messages-over-suite-prompt",
        ),
        pytest.param(
            "messages: [{role: user, content: m}]",
            "prompt: p",
            [("user", "p")],
            id="case-prompt-over-suite-messages",
        ),
    ],
)
def test_a_case_overrides_the_suite_prompt(
    project: Path, suite_prompt: str, case_prompt: str, messages: list[tuple[str, str]]
) -> None:
    text = f"{suite_prompt}\nvars: {{question: why}}\ncases:\n  - id: a\n    {case_prompt}\n"
    case = one_case(project, text)
    assert [(m.role, m.content) for m in case.messages] == messages


@pytest.mark.parametrize(
    ("suite_lines", "case_lines", "system"),
    [
        pytest.param("system: 'Be {{ persona }}.'\n", "", "Be terse.", id="suite-inline"),
        pytest.param("system_template: sys.j2\n", "", "You are terse.", id="suite-template"),
        pytest.param("", "    system: 'Hi {{ persona }}'\n", "Hi terse", id="case-inline"),
        pytest.param("", "    system_template: sys.j2\n", "You are terse.", id="case-template"),
        pytest.param(
            "system_template: sys.j2\n", "    system: own\n", "own", id="case-replaces-suite"
        ),
    ],
)
def test_system_becomes_the_first_message(
    project: Path, suite_lines: str, case_lines: str, system: str
) -> None:
    text = (
        f"{suite_lines}vars: {{persona: terse, question: q}}\ntemplate: ask.j2\n"
        f"cases:\n  - id: a\n{case_lines}"
    )
    case = one_case(project, text)
    assert case.messages == (Message("system", system), Message("user", "Q: q"))


def test_system_template_is_listed_in_files(project: Path) -> None:
    text = "system_template: sys.j2\nprompt: hi\nvars: {persona: p}\ncases: [{id: a}]\n"
    assert one_case(project, text).files == ("sys.j2",)


def test_messages_keep_roles_and_render_content_and_templates(project: Path) -> None:
    text = """\
vars: {name: Ann, lang: French, question: '2+2?'}
cases:
  - id: few_shot
    messages:
      - {role: system, content: 'Speak {{ lang }}'}
      - {role: user, template: ask.j2}
      - {role: assistant, content: '4'}
      - {role: developer, template: main.j2}
"""
    case = one_case(project, text)
    assert case.messages == (
        Message("system", "Speak French"),
        Message("user", "Q: 2+2?"),
        Message("assistant", "4"),
        Message("developer", "Hi Ann. Answer in French."),
    )
    assert case.files == ("ask.j2", "main.j2", "partials/rule.j2")


# --- files a case depends on; structured output; extract; checks ----------------------


def test_files_list_template_partial_and_schemas(project: Path) -> None:
    (project / "evals/schemas/out.json").write_text(json.dumps(PERSON), encoding="utf-8")
    text = """\
template: main.j2
vars: {name: Ann, lang: Welsh}
expect:
  - json_schema: schemas/person.json
cases:
  - id: a
    structured_output: schemas/out.json
  - id: b
  - id: c
    prompt: 'inline {% include "partials/rule.j2" %}'
"""
    cases = case_by_id(load(project, text))
    assert cases["a"].messages == (Message("user", "Hi Ann. Answer in Welsh."),)
    assert cases["a"].files == (
        "main.j2",
        "partials/rule.j2",
        "schemas/out.json",
        "schemas/person.json",
    )
    assert cases["b"].files == ("main.j2", "partials/rule.j2", "schemas/person.json")
    assert cases["c"].files == ("partials/rule.j2", "schemas/person.json")


def test_a_schema_in_a_nested_check_is_listed(project: Path) -> None:
    text = (
        "prompt: hi\ncases:\n  - id: a\n    expect: [{not: {json_schema: schemas/person.json}}]\n"
    )
    assert one_case(project, text).files == ("schemas/person.json",)


@pytest.mark.parametrize(
    ("file", "name"),
    [
        pytest.param("schemas/person.json", "person", id="stem"),
        pytest.param("schemas/out-put.v1.json", "out-put_v1", id="dot-replaced"),
        pytest.param("schemas/my schema.json", "my_schema", id="space-replaced"),
    ],
)
def test_structured_output_is_loaded_and_named_from_the_file_stem(
    project: Path, file: str, name: str
) -> None:
    (project / "evals" / file).write_text(json.dumps(PERSON), encoding="utf-8")
    text = f"prompt: hi\nstructured_output: '{file}'\ncases: [{{id: a}}]\n"
    output = one_case(project, text).structured_output
    assert output is not None
    assert (output.name, dict(output.schema)) == (name, PERSON)


@pytest.mark.parametrize(
    ("suite_extract", "case_extract", "pattern"),
    [
        pytest.param(r"'Answer:\s*(.+)'", None, r"Answer:\s*(.+)", id="suite"),
        pytest.param(None, r"'\d+'", r"\d+", id="case"),
        pytest.param(r"'Answer:\s*(.+)'", "'Final: (.*)'", "Final: (.*)", id="case-wins"),
    ],
)
def test_extract_is_compiled(
    project: Path, suite_extract: str | None, case_extract: str | None, pattern: str
) -> None:
    suite_line = f"extract: {suite_extract}\n" if suite_extract else ""
    case_line = f"    extract: {case_extract}\n" if case_extract else ""
    case = one_case(project, f"prompt: hi\n{suite_line}cases:\n  - id: a\n{case_line}")
    assert isinstance(case.extract, SafePattern)
    assert case.extract.pattern == pattern


def test_checks_keep_name_weight_and_line(project: Path) -> None:
    text = """\
prompt: hi
expect:
  - finished: true
cases:
  - id: a
    expect:
      - fuzzy: {value: x, min: 50}
        weight: 2
      - contains: y
      - all: [{regex: 'a+'}, {icontains: b}]
        weight: 0.5
"""
    checks = one_case(project, text).checks
    assert [(c.name, c.weight, c.line) for c in checks] == [
        ("finished", 1.0, 3),
        ("fuzzy", 2.0, 7),
        ("contains", 1.0, 9),
        ("all", 0.5, 10),
    ]


# --- problems ------------------------------------------------------------------------


def test_problems_are_sorted_by_line(project: Path) -> None:
    text = """\
prompt: hi
extract: '('
cases:
  - id: a
    samples: 0
  - id: b
    expect: [{regex: '['}]
"""
    found = problems(project, text)
    assert [int(p.split(":")[1]) for p in found] == [2, 5, 7]
    assert found[0].startswith("suites/x.yaml:2: extract: invalid regular expression")
    assert found[1] == "suites/x.yaml:5: cases[0].samples: 0 is less than the minimum of 1"


@pytest.mark.parametrize(
    "suite_lines",
    [
        pytest.param("extract: '(['\n", id="suite-extract"),
        pytest.param("expect: [{regex: '(['}]\n", id="suite-check"),
        pytest.param("structured_output: schemas/missing.json\n", id="suite-structured-output"),
        pytest.param("system: '{{ nope }}'\n", id="suite-system"),
    ],
)
def test_a_suite_level_mistake_is_reported_once_for_all_cases(
    project: Path, suite_lines: str
) -> None:
    text = f"prompt: hi\n{suite_lines}cases: [{{id: a}}, {{id: b}}, {{id: c}}]\n"
    found = problems(project, text)
    assert len(found) == 1, found
    assert found[0].startswith("suites/x.yaml:2: ")


def test_duplicate_case_ids_name_the_first_line(project: Path) -> None:
    text = "prompt: hi\ncases:\n  - id: a\n  - id: b\n  - id: a\n"
    assert problems(project, text) == [
        "suites/x.yaml:5: cases[2].id: duplicate case id 'a' (first at line 3)"
    ]


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("{{ ''.__class__.__mro__ }}", id="str-class-mro"),
        pytest.param("{{ cycler.__init__.__globals__ }}", id="cycler-globals"),
        pytest.param("{{ joiner.__init__.__globals__.os }}", id="joiner-globals"),
        pytest.param("{{ lipsum.__globals__ }}", id="lipsum-globals"),
        pytest.param("{{ n.__class__.__base__.__subclasses__() }}", id="int-subclasses"),
        pytest.param("{{ n.__format__ }}", id="dunder-method"),
    ],
)
def test_sandbox_escapes_fail_with_a_clear_problem(project: Path, source: str) -> None:
    (project / "evals/escape.j2").write_text(source, encoding="utf-8")
    inline = f'prompt: "{source}"\nvars: {{n: 1}}\ncases: [{{id: a}}]\n'
    from_file = "template: escape.j2\nvars: {n: 1}\ncases: [{id: a}]\n"
    (problem,) = problems(project, inline)
    assert re.fullmatch(
        r"suites/x\.yaml:1: prompt: inline template: unsafe template: "
        r"access to attribute '__\w+__' of '\w+' object is unsafe\.",
        problem,
    )
    (problem,) = problems(project, from_file)
    assert problem.startswith("suites/x.yaml:1: template: escape.j2: unsafe template: ")


@pytest.fixture
def outside(project: Path) -> Path:
    """A template and a schema outside evals/, with symlinks to them inside evals/."""
    (project / "secret").mkdir()
    (project / "secret/t.j2").write_text("secret", encoding="utf-8")
    (project / "secret/s.json").write_text(json.dumps(PERSON), encoding="utf-8")
    (project / "evals/link.j2").symlink_to(project / "secret/t.j2")
    (project / "evals/schemas/link.json").symlink_to(project / "secret/s.json")
    (project / "evals/linked_dir").symlink_to(project / "secret", target_is_directory=True)
    return project


@pytest.mark.parametrize(
    ("case_lines", "message"),
    [
        pytest.param(
            "template: link.j2", "template 'link.j2' leaves evals/; refused", id="template-symlink"
        ),
        pytest.param(
            "template: linked_dir/t.j2",
            "template 'linked_dir/t.j2' leaves evals/; refused",
            id="directory-symlink",
        ),
        pytest.param(
            """prompt: '{% include "link.j2" %}'""",
            "template 'link.j2' leaves evals/; refused",
            id="include-symlink",
        ),
        pytest.param(
            "prompt: hi\n    structured_output: schemas/link.json",
            "schema 'schemas/link.json' leaves evals/; refused",
            id="structured-output-symlink",
        ),
        pytest.param(
            "prompt: hi\n    expect: [{json_schema: schemas/link.json}]",
            "schema 'schemas/link.json' leaves evals/; refused",
            id="json-schema-symlink",
        ),
        pytest.param(
            "template: ../secret/t.j2",
            "template '../secret/t.j2' leaves evals/; refused",
            id="dotdot-template",
        ),
        pytest.param(
            "template: partials/../../secret/t.j2",
            "template 'partials/../../secret/t.j2' leaves evals/; refused",
            id="dotdot-inside-path",
        ),
        pytest.param(
            """prompt: '{% include "../secret/t.j2" %}'""",
            "template '../secret/t.j2' leaves evals/; refused",
            id="dotdot-include",
        ),
        pytest.param(
            "template: /etc/hostname",
            "template '/etc/hostname' must be a relative path under evals/",
            id="absolute-template",
        ),
        pytest.param(
            "prompt: hi\n    structured_output: /etc/hostname",
            "schema '/etc/hostname' must be a relative path under evals/",
            id="absolute-schema",
        ),
        pytest.param(
            "template: nope.j2", "template 'nope.j2' not found under evals/", id="missing"
        ),
    ],
)
def test_files_outside_evals_are_refused(outside: Path, case_lines: str, message: str) -> None:
    found = problems(outside, f"cases:\n  - id: a\n    {case_lines}\n")
    assert len(found) == 1, found
    assert found[0].startswith("suites/x.yaml:")
    assert found[0].endswith(message)


def test_a_symlink_that_stays_inside_evals_is_allowed(project: Path) -> None:
    (project / "evals/alias.j2").symlink_to(project / "evals/ask.j2")
    text = "template: alias.j2\nvars: {question: ok}\ncases: [{id: a}]\n"
    assert one_case(project, text).messages == (Message("user", "Q: ok"),)


@pytest.mark.parametrize(
    ("case_lines", "message"),
    [
        pytest.param("prompt: '{{ nope }}'", "inline template:1: 'nope' is undefined", id="inline"),
        pytest.param("template: ask.j2", "evals/ask.j2:1: 'question' is undefined", id="template"),
        pytest.param(
            """prompt: '{% include "partials/undefined.j2" %}'""",
            "'not_given' is undefined",
            id="in-an-include",
        ),
        pytest.param(
            "template: main.j2\n    vars: {name: x}",
            "evals/partials/rule.j2:1: 'lang' is undefined",
            id="in-a-partial-of-a-template",
        ),
        pytest.param(
            "prompt: '{{ d.missing }}'\n    vars: {d: {}}",
            "has no attribute 'missing'",
            id="missing-attribute",
        ),
        pytest.param(
            "messages: [{role: user, content: ok}, {role: user, content: '{{ x }}'}]",
            "'x' is undefined",
            id="in-a-message",
        ),
    ],
)
def test_undefined_variables_are_problems(project: Path, case_lines: str, message: str) -> None:
    (problem,) = problems(project, f"cases:\n  - id: a\n    {case_lines}\n")
    assert problem.startswith("suites/x.yaml:")
    assert message in problem


# --- the repo's own example suites ---------------------------------------------------

EXAMPLES = {
    "arithmetic.yaml": (
        ["add_small", "apples_left", "train_speed", "percent_of", "thousands"],
        ("arithmetic/word_problem.j2", "partials/answer_line.j2"),
    ),
    "json_extraction.yaml": (
        ["ada", "grace", "constrained_output"],
        ("extraction/person.j2", "schemas/person.json"),
    ),
    "summaries.yaml": (["photosynthesis", "tides"], ("summaries/summarise.j2",)),
}


@pytest.mark.parametrize(
    "path", sorted((REPO / "suites").glob("*.yaml")), ids=lambda path: path.name
)
def test_every_example_suite_loads(path: Path) -> None:
    suite = load_suite(path, evals_dir=REPO / "evals", display=f"suites/{path.name}")
    assert suite.cases
    for case in suite.cases:
        assert case.messages
        # every turn says something (an assistant turn may say it with tool calls alone)
        assert all(message.content.strip() or message.tool_calls for message in case.messages)
    if path.name in EXAMPLES:
        ids, files = EXAMPLES[path.name]
        assert [case.id for case in suite.cases] == ids
        # every case, not only the first to render a template, lists the files it read
        assert {case.files for case in suite.cases} == {files}


def test_the_example_suites_are_all_found() -> None:
    names = {path.name for path in (REPO / "suites").glob("*.yaml")}
    assert set(EXAMPLES) <= names


def test_equals_and_one_of_take_json_values_from_a_suite(tmp_path: Path) -> None:
    from harness.models import Completion, Subject, Usage

    (tmp_path / "evals").mkdir()
    suite_file = tmp_path / "s.yaml"
    suite_file.write_text(
        "prompt: hi\ncases:\n  - id: x\n    expect:\n"
        "      - json: {pointer: /p, equals: {value: {x: [1, true]}}}\n"
        "      - json: {pointer: /q, one_of: [[1, 2], {a: 1}]}\n"
    )
    [case] = load_suite(suite_file, evals_dir=tmp_path / "evals").cases
    done = Completion(
        '{"p": {"x": [1, true]}, "q": {"a": 1}}', "", Usage(), "stop", False, 1.0, 200
    )
    subject = Subject(text=done.answer, value=done.answer, completion=done)
    assert [check.run(subject).passed for check in case.checks] == [True, True]
