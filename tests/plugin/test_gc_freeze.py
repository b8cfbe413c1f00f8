"""What collection built is frozen for the garbage collector during the run (its full
collections would walk it again and again), and let go when the process goes on."""

from __future__ import annotations

import gc

import pytest

from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

SUITE = """
    name: one
    prompt: "Say {{ word }}"
    apis: [chat]
    cases:
      - id: hi
        vars: {word: hi}
        expect: [{contains: hi}]
"""
# the project's own conftest says what the garbage collector holds frozen as the run ends
CONFTEST = """
import gc
import sys

import pytest


def pytest_runtest_call(item):
    sys.stdout.write(f"frozen during the run: {gc.get_freeze_count()}\\n")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    sys.stderr.write(f"frozen at the end: {gc.get_freeze_count()}\\n")
"""


def test_the_collected_objects_are_frozen_in_a_process_of_their_own(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/one.yaml", SUITE)
    write(project, "conftest.py", CONFTEST)
    server.rules = [Rule(match="hi", answer="hi")]
    result = project.runpytest_subprocess(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider", "-s"
    )
    result.assert_outcomes(passed=1)
    [during] = [line for line in result.outlines if "frozen during the run" in line]
    assert int(during.rpartition(" ")[2]) > 1000  # pytest's nodes, the suite, the modules
    [end] = [line for line in result.errlines if line.startswith("frozen at the end")]
    assert int(end.rpartition(" ")[2]) > 1000  # the process exits: nothing to let go


def test_a_run_inside_a_process_that_goes_on_lets_them_go(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/one.yaml", SUITE)
    server.rules = [Rule(match="hi", answer="hi")]
    assert gc.get_freeze_count() == 0
    result = project.runpytest_inprocess(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1)
    assert gc.get_freeze_count() == 0  # else every in-process run would leak its cycles
