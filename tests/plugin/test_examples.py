"""The example suites a new user copies run end to end on both APIs (scripted answers)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.server.app import Rule, ScriptedServer

REPO = Path(__file__).resolve().parents[2]

RIGHT_ANSWERS = [
    Rule(match="<rubric>", answer='{"score": 0.9, "pass": true, "reason": "clear and right"}'),
    Rule(match="Explain photosynthesis", answer="Plants turn sunlight, water and air into food."),
    Rule(match="Explain why the Earth", answer="The Earth's tilt makes the Sun's light hit us."),
    Rule(match="Explain how vaccines", answer="A vaccine teaches your body to spot a germ."),
    Rule(match=r"2 \+ 3", answer="2 plus 3 is 5.\nAnswer: 5", reasoning="add"),
    Rule(match="12 apples", answer="12 - 5 = 7\nAnswer: 7"),
    Rule(match="150 km", answer="150 / 2 = 75\nAnswer: 75 km/h"),
    Rule(match="15% of 80", answer="Answer: 12"),
    Rule(match="1,250 books", answer="1,250 + 375 = 1,625\nAnswer: 1,625"),
    Rule(
        match="Ada, 36",
        answer='```json\n{"name": "Ada", "age": 36, "languages": ["Python", "Rust"]}\n```',
    ),
    Rule(
        match="Grace Hopper",
        answer='Here: {"name": "Grace Hopper", "age": 85, "languages": ["English", "COBOL"]}',
    ),
    Rule(match="Linus", answer='{"name": "Linus", "age": 54, "languages": ["C"]}'),
    Rule(
        match="Photosynthesis",
        answer="Plants use sunlight, water and carbon dioxide to make sugar, releasing oxygen.",
    ),
    *(
        Rule(match=phrase, answer=label.capitalize() + ".")
        for phrase, label in [
            ("pasta was cold", "negative"),
            ("garden terrace", "positive"),
            ("Parking was easy", "neutral"),
            ("sang for my daughter", "positive"),
            ("Overcharged twice", "negative"),
            ("Quick lunch", "neutral"),
        ]
    ),
    Rule(
        match="weather like in Paris",
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}],
    ),
    Rule(match="What can you do", answer="I can tell you the weather in any city."),
    Rule(match='"temp_c": 27', answer="Yes: it is 27 °C and sunny in Lisbon."),
    Rule(
        match="tides",
        answer="Tides are caused mostly by the Moon's gravity, and a little by the Sun's.",
    ),
]


@pytest.fixture
def examples(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("GLM_BASE_URL", "GLM_API_KEY", "GLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    shutil.copytree(REPO / "suites", pytester.path / "suites")
    shutil.copytree(REPO / "evals", pytester.path / "evals")
    return pytester


def test_every_example_suite_passes_on_both_apis(
    examples: pytest.Pytester, server: ScriptedServer
) -> None:
    server.rules = RIGHT_ANSWERS
    result = examples.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider", "-v"
    )
    cases = 5 + 3 + 2 + 3 + 6 * 2 + 3  # the sentiment rows run through two prompts
    result.assert_outcomes(passed=cases * 2)
    result.stdout.re_match_lines([r"judge: 6 verdicts, 0 from cache, 6 sent .*"])
    result.stdout.re_match_lines(
        [
            r"suites/arithmetic.yaml::add_small\[chat-default\] PASSED.*",
            r"suites/arithmetic.yaml::add_small\[responses-default\] PASSED.*",
            r"suites/explanations.yaml::seasons\[chat-default\] PASSED.*",
            r"suites/json_extraction.yaml::ada\[chat-default\] PASSED.*",
            r"suites/sentiment.yaml::pasta\[terse-chat-default\] PASSED.*",
            r"suites/sentiment.yaml::pasta\[careful-responses-default\] PASSED.*",
            r"suites/summaries.yaml::tides\[responses-default\] PASSED.*",
            r"suites/tools.yaml::weather_paris\[responses-default\] PASSED.*",
        ]
    )
    constrained = [r.body for r in server.requests if "Linus" in str(r.body)]
    formats = sorted("response_format" in b or "text" in b for b in constrained)
    assert formats == [True, True]


def test_wrong_answers_fail_for_a_stated_reason(
    examples: pytest.Pytester, server: ScriptedServer
) -> None:
    server.rules = [
        Rule(match="Grace Hopper", answer='{"name": "Grace", "age": "85", "languages": []}')
    ]
    result = examples.runpytest(
        "--glm-suite",
        f"--glm-base-url={server.url}",
        "-p",
        "no:cacheprovider",
        "suites/json_extraction.yaml",
        "-k",
        "grace and chat",
    )
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines(
        [
            r"  FAIL json_schema: /age: '85' is not of type 'integer'  \[observed: .*\]",
            r"  FAIL json: no value at /languages/1 .*",
        ]
    )
