"""An undefined template variable: every undefined name of a template at once, each with
the template's own line and a did-you-mean from the case's vars."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import SuiteError
from harness.suites.loader import load_suite

TEMPLATES = {
    "review.j2": "Title: {{ title }}\nReview: {{ reviw }}\nScore: {{ scroe }} of {{ outof }}",
    "twice.j2": "{{ gone }}\n{{ gone }}\n",
    "main.j2": 'Hi {{ nmae }}.\n{% include "partials/rule.j2" %}\n{{ after }}',
    "partials/rule.j2": "\nAnswer in {{ lang }}.",
    "guarded.j2": (
        "{% if maybe is defined %}{{ maybe }}{% endif %}{{ other | default('x') }}"
        "{% for i in items | default([]) %}{{ i }}{% endfor %}ok"
    ),
    "branch.j2": "{% if flag %}\n{{ inside }}\n{% endif %}{{ title }}",
    "attr.j2": "{{ user.name }} {{ d.mising }} {{ title }}",
    "math.j2": "{{ title }}\n{{ n + 1 }}\n{{ later }}",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "suites").mkdir()
    for name, text in TEMPLATES.items():
        path = tmp_path / "evals" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def problems(project: Path, case: str) -> list[str]:
    path = project / "suites" / "s.yaml"
    path.write_text(f"cases:\n  - id: a\n    {case}\n", encoding="utf-8")
    with pytest.raises(SuiteError) as info:
        load_suite(path, evals_dir=project / "evals", display="suites/s.yaml")
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        pytest.param(
            "template: review.j2\n    vars: {title: t, review: r, score: 3}",
            [
                "suites/s.yaml:3: cases[0].template: evals/review.j2:2: 'reviw' is undefined; "
                "did you mean 'review'?",
                "suites/s.yaml:3: cases[0].template: evals/review.j2:3: 'scroe' is undefined; "
                "did you mean 'score'?",
                "suites/s.yaml:3: cases[0].template: evals/review.j2:3: 'outof' is undefined",
            ],
            id="every-name-with-its-line-and-a-suggestion",
        ),
        pytest.param(
            "template: twice.j2",
            ["suites/s.yaml:3: cases[0].template: evals/twice.j2:1: 'gone' is undefined"],
            id="a-name-used-twice-once",
        ),
        pytest.param(
            "template: main.j2\n    vars: {name: x}",
            [
                "suites/s.yaml:3: cases[0].template: evals/main.j2:1: 'nmae' is undefined; "
                "did you mean 'name'?",
                "suites/s.yaml:3: cases[0].template: evals/partials/rule.j2:2: 'lang' is undefined",
                "suites/s.yaml:3: cases[0].template: evals/main.j2:3: 'after' is undefined",
            ],
            id="in-an-include-its-own-file-and-line",
        ),
        pytest.param(
            'prompt: "{{ aa }}\\n{{ bb }}"\n    vars: {a: 1}',
            [
                "suites/s.yaml:3: cases[0].prompt: inline template:1: 'aa' is undefined; "
                "did you mean 'a'?",
                "suites/s.yaml:3: cases[0].prompt: inline template:2: 'bb' is undefined",
            ],
            id="inline",
        ),
        pytest.param(
            "template: branch.j2",
            [
                "suites/s.yaml:3: cases[0].template: evals/branch.j2:1: 'flag' is undefined",
                "suites/s.yaml:3: cases[0].template: evals/branch.j2:3: 'title' is undefined",
            ],
            id="an-undefined-condition-is-an-error",
        ),
        pytest.param(
            "template: attr.j2\n    vars: {d: {missing: 1}}",
            [
                "suites/s.yaml:3: cases[0].template: evals/attr.j2:1: 'user' is undefined",
                "suites/s.yaml:3: cases[0].template: evals/attr.j2:1: 'dict object' has no "
                "attribute 'mising'; did you mean 'missing'?",
                "suites/s.yaml:3: cases[0].template: evals/attr.j2:1: 'title' is undefined",
            ],
            id="attributes",
        ),
        pytest.param(
            "template: math.j2",
            [
                "suites/s.yaml:3: cases[0].template: evals/math.j2:1: 'title' is undefined",
                "suites/s.yaml:3: cases[0].template: evals/math.j2:2: 'n' is undefined",
            ],
            id="arithmetic-stops-the-render-with-what-was-found",
        ),
        pytest.param(
            "messages: [{role: user, content: '{{ x }}'}, {role: user, content: '{{ y }}'}]",
            [
                "suites/s.yaml:3: cases[0].messages[0].content: inline template:1: 'x' is "
                "undefined",
                "suites/s.yaml:3: cases[0].messages[1].content: inline template:1: 'y' is "
                "undefined",
            ],
            id="every-message",
        ),
    ],
)
def test_every_undefined_name_is_reported(project: Path, case: str, expected: list[str]) -> None:
    assert problems(project, case) == expected


def test_defined_tests_and_defaults_are_not_undefined(project: Path) -> None:
    path = project / "suites" / "s.yaml"
    path.write_text("template: guarded.j2\ncases: [{id: a}]\n", encoding="utf-8")
    suite = load_suite(path, evals_dir=project / "evals")
    assert suite.cases[0].messages[0].content == "xok"
