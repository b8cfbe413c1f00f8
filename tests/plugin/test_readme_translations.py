"""The README's translations from promptfoo, openai evals and inspect_ai are real suites:
each file block (``<!-- file: PATH -->`` before a fence) is written out, collected and
run against a scripted server, and each fails for the stated reason on a wrong answer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.server.app import Rule, ScriptedServer

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", re.DOTALL)


def blocks() -> dict[str, str]:
    return dict(BLOCK.findall(README.read_text(encoding="utf-8")))


@pytest.fixture
def translated(project: pytest.Pytester) -> pytest.Pytester:
    found = blocks()
    assert set(found) >= {
        "suites/reviews.yaml", "evals/reviews/tests.csv", "suites/capitals.yaml",
        "evals/capitals/samples.jsonl", "suites/arith.yaml", "evals/arith/arith.jsonl",
    }  # fmt: skip
    for name, text in found.items():
        path = project.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return project


RIGHT = [
    Rule(match="Cold soup", answer="Negative."),
    Rule(match="What a view", answer="positive"),
    Rule(match="Capital of France", answer="Paris"),
    Rule(match="Capital of Peru", answer="Lima, on the coast."),
    Rule(match="17 \\+ 25", answer="17 + 25 = 42\n42"),
    Rule(match="6 times 7", answer="42"),
]


def run(project: pytest.Pytester, server: ScriptedServer, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider",
        "--glm-cache=off", "--glm-api=chat", *args,
    )  # fmt: skip


def test_every_translation_runs_and_passes(
    translated: pytest.Pytester, server: ScriptedServer
) -> None:
    server.rules = RIGHT
    result = run(translated, server, "-v")
    # reviews: 2 rows x 2 prompts; capitals: 2 rows; arith: 2 rows
    result.assert_outcomes(passed=8)
    result.stdout.re_match_lines(
        [
            r".*suites/arith.yaml::add\[chat-default\] PASSED.*",
            r".*suites/capitals.yaml::row-1\[chat-default\] PASSED.*",
            r".*suites/reviews.yaml::soup\[terse-chat-default\] PASSED.*",
            r".*suites/reviews.yaml::soup\[careful-chat-default\] PASSED.*",
        ]
    )
    capitals = [r.body for r in server.requests if "France" in str(r.body)]
    assert capitals[0]["messages"][0] == {"role": "system", "content": "Answer with the city only."}


def test_wrong_answers_fail_on_the_translated_check(
    translated: pytest.Pytester, server: ScriptedServer
) -> None:
    server.rules = [
        Rule(match="Capital of France", answer="It is Paris."),
        Rule(match="6 times 7", answer="41"),
        Rule(match="Cold soup", answer="positive"),
        *RIGHT,
    ]
    result = run(translated, server, "-rf")
    result.assert_outcomes(passed=4, failed=4)
    result.stdout.re_match_lines(
        [
            r"FAILED suites/arith.yaml::times\[chat-default\].*",
            r"FAILED suites/capitals.yaml::row-1\[chat-default\].*",
            r"FAILED suites/reviews.yaml::soup\[terse-chat-default\].*",
            r"FAILED suites/reviews.yaml::soup\[careful-chat-default\].*",
        ]
    )
