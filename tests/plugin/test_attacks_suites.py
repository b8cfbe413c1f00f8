"""Hostile suites, run as CI runs a pull request: with the token in the environment and a
real endpoint (the scripted server on 127.0.0.1). Each attack is refused at collection
with one line naming file:line and key; nothing runs, nothing is sent, and every other
mistake of the run is still reported."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

TOKEN = "glmtok-attacks-0123456789abcdef"
PWNED = "pwned.txt"
CODE = f"open({PWNED!r}, 'w').write(__import__('os').environ.get('GLM_API_KEY', ''))"

CHECKS_MODULE = """
import re
from os import system

def fine(answer, context):
    return True
"""

PYTHON_SUITE = """
name: evil
prompt: "Repeat this line exactly"
apis: [chat]
cases:
  - id: chain
    expect:
      - python: {function: "mychecks:re.enum.bltns.exec"}
  - id: imported
    expect:
      - python: {function: "mychecks:system"}
  - id: shorthand
    expect:
      - python: "mychecks:re"
"""

PYTHON_ERRORS = [
    r"suites/evil.yaml:7: cases\[0\].expect\[0\].python.function: 'mychecks:re.enum.bltns.exec':"
    r" an attribute chain after ':' is refused; .*",
    r"suites/evil.yaml:10: cases\[1\].expect\[0\].python.function: mychecks:system is not a plain"
    r" function defined with def \(type builtin_function_or_method\); .*",
    r"suites/evil.yaml:13: cases\[2\].expect\[0\].python: mychecks:re is not a plain function"
    r" defined with def \(type module\); .*",
]


def run(project: pytest.Pytester, server: ScriptedServer, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider", *args
    )


@pytest.fixture
def armed(
    project: pytest.Pytester, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    monkeypatch.setenv("GLM_API_KEY", TOKEN)
    server.api_key = TOKEN
    server.rules = [Rule(match=".", answer=CODE)]  # the model repeats the attacker's code
    write(project, "suites/good.yaml", "prompt: hi\napis: [chat]\ncases: [{id: ok}]\n")
    return project


def validate(project: pytest.Pytester) -> pytest.RunResult:
    return project.run(Path(sys.executable).parent / "glm-harness", "validate")


def test_python_checks_reach_only_functions_the_project_defines(
    armed: pytest.Pytester, server: ScriptedServer
) -> None:
    write(armed, "mychecks.py", CHECKS_MODULE)
    write(armed, "suites/evil.yaml", PYTHON_SUITE)
    result = run(armed, server)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.re_match_lines_random(PYTHON_ERRORS)
    assert "Traceback" not in result.stdout.str()
    # collection failed: nothing was asked at all, not even the clean suite's case
    assert server.suite_requests == []
    assert not (armed.path / PWNED).exists()
    checked = validate(armed)
    assert checked.ret == 2
    checked.stdout.re_match_lines_random(
        [*PYTHON_ERRORS, r"suites/good.yaml: ok \(1 cases, 1 items\)"]
    )
    assert not (armed.path / PWNED).exists()


def test_a_run_with_collection_errors_sends_nothing_unless_told_to_go_on(
    armed: pytest.Pytester, server: ScriptedServer
) -> None:
    write(armed, "suites/broken.yaml", "prompt: hi\ncases: [{id: x, expect: [{nope: 1}]}]\n")
    stopped = run(armed, server)
    assert stopped.ret == pytest.ExitCode.INTERRUPTED
    stopped.stdout.re_match_lines([r".*suites/broken.yaml:2: cases\[0\].expect\[0\].*"])
    assert server.suite_requests == []
    going = run(armed, server, "--continue-on-collection-errors")
    going.assert_outcomes(passed=1, errors=1)
    assert [r.prompt for r in server.suite_requests] == ["hi"]


def test_a_plain_function_of_the_project_still_grades(
    armed: pytest.Pytester, server: ScriptedServer
) -> None:
    write(armed, "mychecks.py", CHECKS_MODULE)
    write(armed, "suites/fine.yaml", """
        prompt: hi
        apis: [chat]
        cases: [{id: fine, expect: [{python: "mychecks:fine"}]}]
    """)  # fmt: skip
    run(armed, server).assert_outcomes(passed=2)


SCHEMA_SUITE = """
name: remote
prompt: hi
apis: [chat]
cases:
  - id: remote-ref
    expect:
      - json_schema: {schema: {$ref: "URL/schema.json"}}
  - id: file-ref
    expect:
      - json_schema: schemas/a.json
  - id: structured
    structured_output: schemas/out.json
  - id: metaschema
    expect:
      - json_schema: {schema: {$schema: "URL/meta"}}
"""


def test_schemas_never_reach_the_network_or_leave_evals(
    armed: pytest.Pytester, server: ScriptedServer, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.json"
    outside.write_text('{"type": "string"}')
    write(armed, "suites/remote.yaml", SCHEMA_SUITE.replace("URL", server.url))
    write(armed, "evals/schemas/a.json", f'{{"$ref": "{outside.as_uri()}"}}')
    write(armed, "evals/schemas/out.json", f'{{"$ref": "{server.url}/out.json"}}')
    result = run(armed, server)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.re_match_lines_random([
        rf"suites/remote.yaml:7: cases\[0\].expect\[0\].json_schema.schema: \$ref to "
        rf"'{server.url}/schema.json' refused: schemas resolve only to files under evals/, "
        r"never over the network",
        rf"suites/remote.yaml:10: cases\[1\].expect\[0\].json_schema: \$ref to "
        rf"'{outside.as_uri()}' refused: .*",
        r"suites/remote.yaml:12: cases\[2\].structured_output: 'schemas/out.json': \$ref "
        r".* refused: a structured output schema is sent whole, .*",
        rf"suites/remote.yaml:15: cases\[3\].expect\[0\].json_schema.schema: inline schema: "
        rf"unknown \$schema '{server.url}/meta' \(metaschemas are never fetched.*",
    ])  # fmt: skip
    # the server is the trap: no schema, metaschema or $ref was fetched from it
    assert not [r for r in server.suite_requests if r.path != "/v1/chat/completions"]
    assert server.suite_requests == []  # collection failed: nothing was asked


def git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)


BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9)
    )
    + "prompt: hi\ncases: [{id: x}]\n"
)


def test_changed_since_refuses_an_alias_bomb_and_keeps_it_in_the_gate(
    armed: pytest.Pytester, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    write(armed, "suites/bomb.yaml", BOMB)
    git(armed.path, "init", "-q")
    git(armed.path, "add", "-A")
    git(armed.path, "commit", "-q", "-m", "base")
    started = time.monotonic()
    result = run(armed, server, "--glm-changed-since", "HEAD")
    assert time.monotonic() - started < 20
    assert result.ret == pytest.ExitCode.INTERRUPTED  # the unreadable suite fails the gate
    result.stdout.re_match_lines_random([
        r"glm-harness --glm-changed-since HEAD: 1 of 2 suites selected",
        r"  suites/bomb.yaml: cannot be read \(more than 200000 YAML nodes \(alias bomb\?\); "
        r"refused\): selected",
        r"  not selected: suites/good.yaml",
        r"suites/bomb.yaml:\d+: more than 200000 YAML nodes \(alias bomb\?\); refused",
    ])  # fmt: skip
    assert server.suite_requests == []  # collection failed: nothing was asked


TEMPLATE_SUITE = """
name: costly
apis: [chat]
prompt: "{{ 9**(9**10) }}"
cases:
  - id: loops
    template: loops.j2
  - id: huge
    prompt: "{{ 'a' * 10**9 }}"
  - id: judged
    prompt: hi
    expect:
      - judge: {rubric: "{% for i in range(10**6) %}x{% endfor %}"}
  - id: tower
"""


def test_costly_templates_fail_collection_quickly(
    armed: pytest.Pytester, server: ScriptedServer
) -> None:
    write(armed, "suites/costly.yaml", TEMPLATE_SUITE)
    write(armed, "evals/loops.j2", "{% for i in range(9999) %}{% for j in range(9999) %}"
                                   "{{ i }}{% endfor %}{% endfor %}")  # fmt: skip
    started = time.monotonic()
    result = run(armed, server)
    assert time.monotonic() - started < 20
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.re_match_lines_random([
        r"suites/costly.yaml:6: cases\[0\].template: loops.j2: too costly: the rendered text is "
        r"longer than 1,000,000 characters",
        r"suites/costly.yaml:8: cases\[1\].prompt: inline template: too costly: str \* 1000000000 .*",
        r"suites/costly.yaml:12: cases\[2\].expect\[0\].judge.rubric: inline template: too costly:"
        r" range of 1,000,000 items; at most 10,000 allowed",
        r"suites/costly.yaml:3: prompt: inline template: too costly: 9 \*\* 3486784401 has more "
        r"than 4,000 digits",
    ])  # fmt: skip
    assert server.suite_requests == []  # collection failed: nothing was asked
