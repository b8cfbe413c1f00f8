"""Suites with ``dataset:`` and ``prompts:``: rows become cases, every case runs through
every variant, and every mistake is found at its own file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import SuiteError
from harness.models import Suite
from harness.suites.loader import load_suite


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "suites").mkdir()
    (tmp_path / "evals" / "data").mkdir(parents=True)
    (tmp_path / "evals" / "terse.j2").write_text("Label: {{ text }}", encoding="utf-8")
    (tmp_path / "evals" / "careful.j2").write_text(
        "Read carefully.\n{{ text }}\nAnswer with one word.", encoding="utf-8"
    )
    return tmp_path


def put(project: Path, name: str, text: str) -> None:
    (project / "evals" / name).write_text(text, encoding="utf-8")


def load(project: Path, text: str) -> Suite:
    path = project / "suites" / "x.yaml"
    path.write_text(text, encoding="utf-8")
    return load_suite(path, evals_dir=project / "evals", display="suites/x.yaml")


def problems(project: Path, text: str) -> list[str]:
    with pytest.raises(SuiteError) as info:
        load(project, text)
    return [str(p) for p in info.value.problems]


REVIEWS = "id,text,label\nr1,great film,positive\nr2,dull,negative\n,so-so,neutral\n"


def test_csv_rows_become_cases_with_their_columns_as_vars(project: Path) -> None:
    put(project, "data/reviews.csv", REVIEWS)
    suite = load(
        project,
        "dataset: data/reviews.csv\ntemplate: terse.j2\n"
        "expect: [{equals: {value: '{{ label }}', ignore_case: true}}]\n",
    )
    assert [c.id for c in suite.cases] == ["r1", "r2", "row-3"]
    first = suite.cases[0]
    assert first.messages[0].content == "Label: great film"
    assert (first.defined_in, first.line) == ("evals/data/reviews.csv", 2)
    assert suite.cases[2].line == 4
    assert suite.variants == ()
    assert first.variant == ""


def test_cases_stand_beside_the_dataset(project: Path) -> None:
    put(project, "data/d.jsonl", '{"id": "j1", "text": "a"}\n{"text": "b"}\n')
    suite = load(
        project,
        "dataset: data/d.jsonl\ntemplate: terse.j2\ncases:\n  - id: own\n    vars: {text: c}\n",
    )
    assert [(c.id, c.defined_in) for c in suite.cases] == [
        ("own", ""),
        ("j1", "evals/data/d.jsonl"),
        ("row-2", "evals/data/d.jsonl"),
    ]


def test_a_case_mapping_row_has_its_own_checks(project: Path) -> None:
    rows = [
        {"id": "a", "vars": {"text": "x"}, "expect": [{"contains": "x"}], "samples": 3},
        {"id": "b", "vars": {"text": "y"}},
    ]
    put(project, "data/d.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    suite = load(project, "dataset: data/d.jsonl\ntemplate: terse.j2\nexpect: [{finished: true}]\n")
    a, b = suite.cases
    assert [c.name for c in a.checks] == ["finished", "contains"]
    assert (a.samples, b.samples) == (3, 1)


def test_every_case_runs_through_every_variant(project: Path) -> None:
    put(project, "data/reviews.csv", REVIEWS)
    suite = load(
        project,
        "dataset: data/reviews.csv\n"
        "system: You label reviews.\n"
        "prompts:\n"
        "  - {id: terse, template: terse.j2}\n"
        "  - {id: careful, template: careful.j2, system: Think first.}\n"
        "  - id: chatty\n"
        "    messages:\n"
        "      - {role: user, content: 'Example: fine', name: alice}\n"
        "      - {role: assistant, content: neutral}\n"
        "      - {role: user, template: terse.j2}\n",
    )
    assert suite.variants == ("terse", "careful", "chatty")
    r1 = [c for c in suite.cases if c.id == "r1"]
    assert [c.variant for c in r1] == ["terse", "careful", "chatty"]
    terse, careful, chatty = r1
    assert [m.content for m in terse.messages] == ["You label reviews.", "Label: great film"]
    assert careful.messages[0].content == "Think first."
    assert careful.files == ("careful.j2",)
    assert chatty.messages[1].name == "alice"
    assert chatty.messages[-1].content == "Label: great film"


def test_variant_mistakes(project: Path) -> None:
    found = problems(
        project,
        "template: terse.j2\n"
        "prompts:\n"
        "  - {id: a, template: terse.j2}\n"
        "  - {id: a, prompt: again}\n"
        "  - {id: bad id, prompt: x}\n"
        "  - {id: empty}\n"
        "cases:\n  - {id: c, vars: {text: t}, prompt: own}\n",
    )
    assert (
        "suites/x.yaml:1: template: set either prompts or template: prompts lists every prompt of the suite"
        in found
    )
    assert "suites/x.yaml:4: prompts[1].id: duplicate prompt id 'a' (first at line 3)" in found
    assert any(p.startswith("suites/x.yaml:5: prompts[2].id: 'bad id' must match") for p in found)


def test_a_case_cannot_set_its_own_prompt_in_a_suite_with_variants(project: Path) -> None:
    found = problems(
        project,
        "prompts:\n  - {id: a, template: terse.j2}\n"
        "cases:\n  - id: c\n    vars: {text: t}\n    prompt: own\n",
    )
    assert found == [
        "suites/x.yaml:6: cases[0].prompt: a case of a suite with prompts: runs through every "
        "variant; it cannot set its own prompt"
    ]


def test_a_variant_needs_a_prompt(project: Path) -> None:
    found = problems(project, "prompts:\n  - {id: a}\ncases:\n  - {id: c}\n")
    assert found == [
        "suites/x.yaml:2: prompts[0]: a prompt variant needs one of template, prompt or messages"
    ]


def test_every_bad_row_is_found_at_its_line(project: Path) -> None:
    put(
        project,
        "data/d.csv",
        "id,text,label\nr1,fine,pos\nr1,again,neg\nbad id,x,pos\nr4,y\nr5,z,neg\n",
    )
    found = problems(
        project,
        "dataset: data/d.csv\ntemplate: terse.j2\nexpect: [{equals: '{{ label }}'}]\n",
    )
    assert found == [
        "evals/data/d.csv:3: id: duplicate case id 'r1' (first at line 2)",
        "evals/data/d.csv:4: id: 'bad id' is not a case id (letters, digits, _ . -)",
        "evals/data/d.csv:5: 2 fields, the header has 3 (no label)",
    ]


def test_a_column_the_template_or_a_check_uses_is_missing(project: Path) -> None:
    put(
        project, "data/d.jsonl", '{"id": "a", "text": "x", "label": "p"}\n{"id": "b", "txt": "y"}\n'
    )
    found = problems(
        project,
        "dataset: data/d.jsonl\ntemplate: terse.j2\nexpect: [{equals: '{{ label }}'}]\n",
    )
    assert (
        "evals/data/d.jsonl:2: template: evals/terse.j2:1: 'text' is undefined; did you mean 'txt'?"
        in found
    )
    assert any(
        p.startswith("evals/data/d.jsonl:2: expect[0].equals") and "'label' is undefined" in p
        for p in found
    ), found


def test_a_row_mapping_with_a_bad_key_is_located(project: Path) -> None:
    put(project, "data/d.yaml", "- id: a\n  vars: {text: x}\n  expect:\n    - contians: x\n")
    found = problems(project, "dataset: data/d.yaml\ntemplate: terse.j2\n")
    assert len(found) == 1
    assert found[0].startswith("evals/data/d.yaml:4: expect[0].contians: unknown check 'contians'")


def test_the_same_mistake_on_many_rows_is_counted_not_repeated(project: Path) -> None:
    rows = "".join(f'{{"id": "r{n}", "txt": "y"}}\n' for n in range(1, 101))
    put(project, "data/d.jsonl", rows)
    found = problems(project, "dataset: data/d.jsonl\ntemplate: terse.j2\n")
    assert len(found) == 4
    assert found[3] == (
        "evals/data/d.jsonl:4: template: evals/terse.j2:1: 'text' is undefined; did you mean "
        "'txt'? (and on 97 more rows: lines 4, 5, 6, 7, 8, ...)"
    )


def test_a_suite_needs_cases_or_a_dataset(project: Path) -> None:
    assert problems(project, "template: terse.j2\n") == [
        "suites/x.yaml:1: no cases: set cases: or dataset:"
    ]


def test_an_empty_dataset_says_so(project: Path) -> None:
    put(project, "data/d.json", "[]")
    assert problems(project, "dataset: data/d.json\ntemplate: terse.j2\n") == [
        "suites/x.yaml:1: dataset: 'data/d.json' has no rows"
    ]


def test_budgets_are_an_axis_of_chat_cases(project: Path) -> None:
    suite = load(
        project,
        "prompt: q\napis: [chat]\nbudgets: [256, 1024]\n"
        "cases:\n  - {id: a}\n  - {id: b, budgets: [null, 64]}\n",
    )
    a, b = suite.cases
    assert (a.budgets, b.budgets) == ((256, 1024), (None, 64))
    plain = load(project, "prompt: q\ncases: [{id: a}]\n").cases[0]
    assert plain.budgets == (None,)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "prompt: q\nbudgets: [256]\ncases: [{id: a}]\n",
            "suites/x.yaml:2: budgets: thinking budgets are Chat only: vLLM sends "
            "thinking_token_budget to the model on Chat and ignores it on Responses; set "
            "apis: [chat] where budgets are set",
        ),
        (
            "prompt: q\napis: [chat]\ncases:\n  - {id: a, apis: [responses], budgets: [9]}\n",
            "suites/x.yaml:4: cases[0].budgets: thinking budgets are Chat only: vLLM sends "
            "thinking_token_budget to the model on Chat and ignores it on Responses; set "
            "apis: [chat] where budgets are set",
        ),
        (
            "prompt: q\napis: [chat]\nbudgets: [0, 5, 5]\ncases: [{id: a}]\n",
            "suites/x.yaml:3: budgets",
        ),
    ],
)
def test_budget_mistakes(project: Path, text: str, expected: str) -> None:
    found = problems(project, text)
    assert any(p.startswith(expected) for p in found), found


def test_glm_budget_parses_tokens_and_none() -> None:
    from harness.errors import ConfigError
    from harness.settings.values import parse_budgets

    assert parse_budgets("256, 1024,none") == (256, 1024, None)
    assert parse_budgets("") is None
    with pytest.raises(ConfigError, match="--glm-budget: 'lots' is not a budget"):
        parse_budgets("256,lots")
    with pytest.raises(ConfigError, match="--glm-budget: '0' is not a budget"):
        parse_budgets("0")


def test_more_stop_strings_than_vllm_takes_fail_collection(project: Path) -> None:
    """vLLM 0.33.0 refuses a stop list of more than 4: the suite says so first."""
    found = problems(project, "prompt: q\nparams: {stop: [a, b, c, d, e]}\ncases: [{id: a}]\n")
    assert found == ["suites/x.yaml:2: params.stop: has 5 items; at most 4 allowed"]
