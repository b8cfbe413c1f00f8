"""Bad suites fail collection with one line per mistake: file:line, key path, no traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.plugin.conftest import write

TEN_MISTAKES = """\
name: broken
descriptin: typo in a top-level key
template: math/q.j2
samples: three
extract: '([a-z'
efforts: [low, extreme]
cases:
  - id: a
    vars: {q: 1}
    expect:
      - fuzzy: {value: x, min: 120}
      - fuzy: {value: x}
  - id: a
    vars: {q: 2}
  - id: c
    template: nope.j2
  - id: d
    template: math/missing_var.j2
  - id: e
    vars: {q: 3}
    expect:
      - json_schema: schemas/bad.json
      - regex: '(('
"""

EXPECTED = [
    r"suites/broken.yaml:2: descriptin: unknown key 'descriptin'; did you mean 'description'\?.*",
    r"suites/broken.yaml:4: samples: expected an integer, got a string 'three'",
    r"suites/broken.yaml:5: extract: invalid regular expression: .*",
    r"suites/broken.yaml:6: efforts\[1\]: 'extreme' is not allowed \(allowed: default, none, .*\)",
    r"suites/broken.yaml:11: cases\[0\].expect\[0\].fuzzy.min: 120 is greater than the maximum of 100",
    r"suites/broken.yaml:12: cases\[0\].expect\[1\].fuzy: unknown check 'fuzy'; did you mean 'fuzzy'\?.*",
    r"suites/broken.yaml:13: cases\[1\].id: duplicate case id 'a' \(first at line 8\)",
    r"suites/broken.yaml:16: cases\[2\].template: template 'nope.j2' not found under evals/",
    r"suites/broken.yaml:18: cases\[3\].template: evals/math/missing_var.j2:1: 'whoops' is "
    r"undefined",
    r"suites/broken.yaml:22: cases\[4\].expect\[0\].json_schema: .*bad.json.*",
    r"suites/broken.yaml:23: cases\[4\].expect\[1\].regex: .*",
]


def test_every_mistake_of_a_file_is_reported_with_its_line(project: pytest.Pytester) -> None:
    write(project, "suites/broken.yaml", TEN_MISTAKES)
    write(project, "evals/math/missing_var.j2", "Hello {{ whoops }}")
    write(project, "evals/schemas/bad.json", '{"type": 12}')
    result = project.runpytest(
        "--glm-suite", "--glm-base-url=http://127.0.0.1:9", "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED  # collection errors stop the run
    result.stdout.re_match_lines_random(EXPECTED)
    out = result.stdout.str()
    assert "Traceback" not in out
    assert out.count("suites/broken.yaml:") >= len(EXPECTED)


def test_validate_command_reports_the_same(project: pytest.Pytester) -> None:
    write(project, "suites/broken.yaml", TEN_MISTAKES)
    write(project, "evals/math/missing_var.j2", "Hello {{ whoops }}")
    write(project, "evals/schemas/bad.json", '{"type": 12}')
    write(project, "suites/good.yaml", "template: math/q.j2\ncases: [{id: ok, vars: {q: 1}}]\n")
    # the console script installed beside this interpreter (the venv need not be on PATH)
    result = project.run(Path(sys.executable).parent / "glm-harness", "validate")
    assert result.ret == 2
    result.stdout.re_match_lines_random([*EXPECTED, r"suites/good.yaml: ok \(1 cases, 2 items\)"])


@pytest.mark.parametrize(
    ("suite", "expected"),
    [
        pytest.param("cases: []\n", r"s.yaml:1: cases: must not be empty", id="empty-cases"),
        pytest.param(
            "prompt: hi\ncases:\n  - vars: {}\n",
            r"s.yaml:3: cases\[0\]: missing required key 'id'",
            id="missing-id",
        ),
        pytest.param(
            "cases:\n  - id: x\n",
            r"s.yaml:2: cases\[0\]: no prompt: set one of template, prompt.*",
            id="no-prompt",
        ),
        pytest.param(
            "prompt: a\ntemplate: b\ncases: [{id: x}]\n",
            r"s.yaml:\d: (template|prompt): set only one of.*",
            id="two-prompts",
        ),
        pytest.param(
            "prompt: '{{ x'\ncases: [{id: x}]\n",
            r"s.yaml:1: prompt: inline template:1: syntax error.*",
            id="jinja-syntax",
        ),
        pytest.param(
            "prompt: hi\ncases:\n  - id: x\n    template: ../secrets.j2\n",
            r"s.yaml:4: cases\[0\].template: .*'../secrets.j2'.*",
            id="template-escapes",
        ),
        pytest.param(
            "prompt: hi\ncases:\n  - id: x\n    template: /etc/passwd\n",
            r"s.yaml:4: cases\[0\].template: .*must be a relative path.*",
            id="absolute-template",
        ),
        pytest.param(
            "prompt: '{{ \"\".__class__.__mro__ }}'\ncases: [{id: x}]\n",
            r"s.yaml:1: prompt: .*unsafe.*",
            id="sandbox",
        ),
        pytest.param(
            "prompt: hi\ncases:\n  - id: x\n    expect:\n      - {weight: 2}\n",
            r"s.yaml:5: cases\[0\].expect\[0\]: a check is a mapping of exactly one check name.*",
            id="weight-only",
        ),
        pytest.param(
            "prompt: hi\ncases:\n  - id: x\n    expect:\n      - {contains: a, regex: b}\n",
            r"s.yaml:5: cases\[0\].expect\[0\]: a check is a mapping of exactly one.*",
            id="two-checks",
        ),
        pytest.param(
            "prompt: hi\ncases:\n  - id: 'bad id!'\n",
            r"s.yaml:3: cases\[0\].id: 'bad id!' must match.*",
            id="bad-id",
        ),
        pytest.param(
            "prompt: hi\ncases:\n  - id: x\n    id: y\n",
            r"s.yaml:4: cases\[0\].id: duplicate key 'id'",
            id="duplicate-key",
        ),
        pytest.param(
            "prompt: [unclosed\ncases: []\n", r"s.yaml:\d: invalid YAML: .*", id="yaml-syntax"
        ),
        pytest.param(
            "- just\n- a list\n", r"s.yaml:1: a suite is a mapping, got list", id="not-mapping"
        ),
        pytest.param("---\n", r"s.yaml:1: the file is empty", id="only-document-marker"),
        pytest.param(
            "prompt: hi\nthreshold: .nan\ncases:\n  - id: x\n    params: {temperature: .inf}\n",
            r"s.yaml:2: threshold: nan is not allowed: use a finite number",
            id="nan-threshold",
        ),
        pytest.param(
            "prompt: hi\ncases:\n  - id: x\n    params: {temperature: .inf}\n",
            r"s.yaml:4: cases\[0\].params.temperature: .*(inf is not allowed|greater than).*",
            id="inf-param",
        ),
        pytest.param(
            "vars: {d: {}}\nprompt: \"{{ d.update({'a': 1}) }}\"\ncases: [{id: x}]\n",
            r"s.yaml:2: prompt: .*unsafe.*",
            id="immutable-vars",
        ),
        pytest.param(
            "prompt: hi\nstructured_output: schemas/none.json\ncases: [{id: x}]\n",
            r"s.yaml:2: structured_output: schema 'schemas/none.json' not found under evals/",
            id="structured-output-missing",
        ),
        pytest.param(
            "prompt: hi\nparams: {max_tokens: 5}\ncases: [{id: x}]\n",
            r"s.yaml:2: params.max_tokens: unknown key 'max_tokens'.*max_output_tokens.*",
            id="param-name",
        ),
    ],
)
def test_single_mistakes(project: pytest.Pytester, suite: str, expected: str) -> None:
    write(project, "suites/s.yaml", suite)
    result = project.runpytest(
        "--glm-suite", "--glm-base-url=http://127.0.0.1:9", "-p", "no:cacheprovider"
    )
    result.stdout.re_match_lines([r".*" + expected])
    assert "Traceback" not in result.stdout.str()
