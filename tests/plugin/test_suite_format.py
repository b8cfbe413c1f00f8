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
    prompts = sorted(r.prompt for r in server.requests)
    assert prompts == ["Say: True / 15 / 1000.0", "Say: Yes / NO / 12:30"]
