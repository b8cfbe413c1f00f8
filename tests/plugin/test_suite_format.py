"""The suite format end to end, over real sockets: how values are read (YAML 1.2 core),
what an undefined template variable reports, and what checks see."""

from __future__ import annotations

import pytest

from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer


def run(project: pytest.Pytester, server: ScriptedServer, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider", *args
    )


YES_NO = """
    name: words
    prompt: "Say: {{ body }} / {{ code }} / {{ t }}"
    apis: [chat]
    vars: {body: Yes, code: NO, t: 12:30}
    cases:
      - id: yes_no
        expect:
          - equals: Yes
          - one_of: [Yes, NO, "12:30"]
      - id: real_bool
        vars: {body: true, code: 0o17, t: 1e3}
        expect:
          - equals: "Say: True / 15 / 1000.0"
"""


def test_yaml_1_1_words_and_sexagesimal_stay_strings(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/words.yaml", YES_NO)
    server.rules = [
        Rule(match=r"^Say: Yes / NO / 12:30$", answer="Yes"),
        Rule(match=r"^Say: True", answer="Say: True / 15 / 1000.0"),
    ]
    result = run(project, server, "-v")
    result.assert_outcomes(passed=2)
    prompts = sorted(r.prompt for r in server.suite_requests)
    assert prompts == ["Say: True / 15 / 1000.0", "Say: Yes / NO / 12:30"]


def test_every_undefined_name_of_a_template_fails_collection_at_once(
    project: pytest.Pytester,
) -> None:
    write(project, "evals/review.j2", "Title: {{ title }}\nText:\n{{ reviw }} ({{ ratng }})\n")
    write(
        project,
        "suites/s.yaml",
        """
        cases:
          - id: a
            template: review.j2
            vars: {title: t, review: r, rating: 5}
        """,
    )
    result = project.runpytest("--glm-suite", "--glm-base-url=http://127.0.0.1:9")
    result.stdout.re_match_lines(
        [
            r"suites/s.yaml:3: cases\[0\]\.template: evals/review.j2:3: 'reviw' is undefined; "
            r"did you mean 'review'\?",
            r"suites/s.yaml:3: cases\[0\]\.template: evals/review.j2:3: 'ratng' is undefined; "
            r"did you mean 'rating'\?",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED


PLACES = """
    name: places
    prompt: "Where? {{ q }}"
    apis: [chat]
    cases:
      - id: substring_of_an_element
        vars: {q: a}
        expect:
          - json: {pointer: /places, contains: Ecuador}
      - id: an_element
        vars: {q: b}
        expect:
          - json: {pointer: /places, contains: Ecuadorian highlands}
          - json: {pointer: /places, regex: '^Ecuador'}
"""


def test_string_checks_on_a_json_array_test_its_elements(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/places.yaml", PLACES)
    server.rules = [Rule(match="Where", answer='{"places": ["Ecuadorian highlands", "Peru"]}')]
    result = run(project, server, "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.re_match_lines(
        [
            r".*FAIL json: at /places: contains: 'Ecuador' is not an element of "
            r"\['Ecuadorian highlands', 'Peru'\].*",
        ]
    )


def test_a_failed_check_says_extract_did_not_match(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(
        project,
        "suites/x.yaml",
        """
        prompt: "Add {{ q }}"
        apis: [chat]
        extract: 'Answer:\\s*(.+)'
        cases:
          - id: a
            vars: {q: "2+3"}
            expect:
              - number: 5
              - contains: "5"
        """,
    )
    server.rules = [Rule(match="Add", answer="It is 5.")]
    result = run(project, server)
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines(
        [
            r"\s*FAIL number: extract 'Answer:\\s\*\(\.\+\)' did not match the answer.*",
            r"\s*FAIL contains: extract 'Answer:\\s\*\(\.\+\)' did not match the answer.*",
        ]
    )
    assert "no number in answer" not in result.stdout.str()
