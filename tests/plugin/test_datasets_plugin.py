"""A real team's eval end to end, over real sockets: rows of a CSV and a JSONL dataset,
expected values from their columns, two prompt variants, ``compare --by prompt``,
``--glm-prompt``, ``--glm-sample`` and baselines that carry the variant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

LABELS = ["positive", "negative", "neutral"]
ROWS = 12  # enough cases for compare to tell a difference


def reviews_csv() -> str:
    lines = ["id,text,label"]
    for n in range(ROWS):
        lines.append(f"r{n},review {n} text,{LABELS[n % 3]}")
    return "\n".join(lines) + "\n"


SUITE = """
    name: reviews
    description: Label the sentiment of a review
    dataset: data/reviews.csv
    apis: [chat]
    prompts:
      - id: terse
        template: reviews/terse.j2
      - id: careful
        system: You label reviews carefully.
        template: reviews/careful.j2
    expect:
      - equals: {value: "{{ label }}", ignore_case: true}
"""


def rules() -> list[Rule]:
    """The careful prompt gets every label right; the terse one only the positive ones."""
    out = []
    for n in range(ROWS):
        label = LABELS[n % 3]
        out.append(Rule(match=rf"CAREFUL review {n} text$", answer=label.upper()))
        out.append(Rule(match=rf"TERSE review {n} text$", answer="positive"))
    return out


@pytest.fixture
def reviews(project: pytest.Pytester, server: ScriptedServer) -> pytest.Pytester:
    write(project, "evals/data/reviews.csv", reviews_csv())
    write(project, "evals/reviews/terse.j2", "TERSE {{ text }}")
    write(project, "evals/reviews/careful.j2", "CAREFUL {{ text }}")
    write(project, "suites/reviews.yaml", SUITE)
    server.rules = rules()
    return project


def run(project: pytest.Pytester, server: ScriptedServer, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider",
        "--glm-cache=off", *args,
    )  # fmt: skip


def records(project: pytest.Pytester) -> list[dict[str, object]]:
    [run_dir] = sorted((project.path / "results" / "runs").iterdir())[-1:]
    text = (run_dir / "records.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def last_run(project: pytest.Pytester) -> Path:
    return sorted((project.path / "results" / "runs").iterdir())[-1]


def test_rows_run_through_every_variant_with_ids_that_name_it(
    reviews: pytest.Pytester, server: ScriptedServer
) -> None:
    result = run(reviews, server, "-v")
    # careful: all pass; terse: the 4 positive rows pass, the other 8 fail
    result.assert_outcomes(passed=ROWS + 4, failed=8)
    result.stdout.re_match_lines(
        [
            r".*suites/reviews.yaml::r0\[terse-chat-default\] PASSED.*",
            r".*suites/reviews.yaml::r1\[terse-chat-default\] FAILED.*",
            r".*suites/reviews.yaml::r1\[careful-chat-default\] PASSED.*",
        ]
    )
    # the failure report points at the row's line in the dataset, with the prompt named
    result.stdout.re_match_lines(
        [r"case r1 \(evals/data/reviews.csv:3\)  prompt: terse  api: chat.*"]
    )
    # the table has a row per prompt
    result.stdout.re_match_lines(
        [r"suite +prompt +api +effort .*", r"reviews +careful +chat +default +12 +1\.00.*"]
    )
    found = records(reviews)
    assert {r["variant"] for r in found} == {"terse", "careful"}
    careful = next(r for r in found if r["variant"] == "careful")
    assert careful["request"]["body"]["messages"][0] == {  # type: ignore[index]
        "role": "system",
        "content": "You label reviews carefully.",
    }


def test_compare_by_prompt_pairs_the_variants_on_the_same_rows(
    reviews: pytest.Pytester, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run(reviews, server)
    records_file = last_run(reviews) / "records.jsonl"
    capsys.readouterr()
    assert main(["compare", str(records_file), "--by", "prompt", "--format", "json"]) == 0
    [pair] = json.loads(capsys.readouterr().out)
    assert (pair["ref"], pair["other"], pair["shared"], pair["cases"]) == (
        "terse", "careful", "chat/default", ROWS,
    )  # fmt: skip
    assert pair["pass_rate_ref"] == pytest.approx(4 / ROWS)
    assert pair["pass_rate_other"] == 1.0
    assert pair["method"] == "exact McNemar"
    assert pair["verdict"] == "effect"
    assert sorted(pair["fail_to_pass"]) == sorted(f"r{n}" for n in range(ROWS) if n % 3)
    assert main(["compare", str(records_file), "--by", "prompt", "--ref", "careful"]) == 0
    assert "careful -> terse" in capsys.readouterr().out
    assert main(["compare", str(records_file), "--by", "prompt", "--ref", "nope"]) == 2
    assert "--ref 'nope': not one of terse, careful (--by prompt)" in capsys.readouterr().err


def test_glm_prompt_selects_variants(reviews: pytest.Pytester, server: ScriptedServer) -> None:
    result = run(reviews, server, "--glm-prompt=careful")
    result.assert_outcomes(passed=ROWS)
    assert all("CAREFUL" in r.prompt for r in server.suite_requests)
    server.reset()
    result = run(reviews, server, "--glm-prompt=carefull")
    assert result.ret == 4
    result.stderr.re_match_lines(
        [r".*--glm-prompt: no collected suite has a prompt 'carefull' \(prompts: careful, terse\)"]
    )
    assert server.suite_requests == []


def test_glm_sample_runs_a_stable_seeded_share_of_the_cases(
    reviews: pytest.Pytester, server: ScriptedServer
) -> None:
    result = run(reviews, server, "--glm-sample=4", "--glm-seed=7", "--glm-prompt=careful")
    result.assert_outcomes(passed=4)
    result.stdout.re_match_lines([r"glm-harness: --glm-sample 4: 4 cases per suite \(seed 7\)"])
    result.stdout.re_match_lines([r"sampled \(--glm-sample\): reviews 4 of 12 cases.*"])
    chosen = {r["case"] for r in records(reviews)}
    summary = json.loads((last_run(reviews) / "summary.json").read_text())
    assert summary["sampled"] == {"reviews": [4, 12]}
    # the same seed chooses the same cases; rows added keep every chosen one but at most one
    more = reviews_csv() + "".join(f"x{n},extra {n},positive\n" for n in range(3))
    write(reviews, "evals/data/reviews.csv", more)
    run(reviews, server, "--glm-sample=4", "--glm-seed=7", "--glm-prompt=careful")
    again = {r["case"] for r in records(reviews)}
    assert len(chosen & again) >= 3
    run(reviews, server, "--glm-sample=4", "--glm-seed=8", "--glm-prompt=careful")
    assert {r["case"] for r in records(reviews)} != again


def test_baselines_carry_the_variant_and_gate_each_one(
    reviews: pytest.Pytester, server: ScriptedServer
) -> None:
    run(reviews, server, "--glm-update-baselines")
    baseline = json.loads((reviews.path / "results/baselines/reviews.json").read_text())
    entries = baseline["entries"]
    assert entries["r1[careful-chat-default]"]["variant"] == "careful"
    assert entries["r1[terse-chat-default]"]["outcome"] == "fail"
    # careful now gets r2 wrong: that one item regresses; terse's known failures xfail
    server.rules = [Rule(match=r"CAREFUL review 2 text$", answer="positive"), *rules()]
    result = run(reviews, server, "-rfx")
    result.assert_outcomes(passed=ROWS - 1 + 4, failed=1, xfailed=8)
    result.stdout.re_match_lines([r"REGRESSIONS \(1\): reviews::r2\[careful-chat-default\]"])


JSONL_ROWS = [
    {
        "id": "paris",
        "vars": {"city": "Paris", "answer": "2.1"},
        "expect": [{"icontains": "{{ city }}"}],
    },
    {"id": "rome", "vars": {"city": "Rome", "answer": "2.8"}},
]


def test_jsonl_rows_with_their_own_checks_and_numbers_from_columns(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "evals/data/cities.jsonl", "\n".join(json.dumps(r) for r in JSONL_ROWS) + "\n")
    write(
        project,
        "suites/cities.yaml",
        """
        dataset: data/cities.jsonl
        prompt: "Population of {{ city }} in millions?"
        apis: [chat, responses]
        expect:
          - number: {value: "{{ answer }}", tolerance: 0.05}
        """,
    )
    server.rules = [
        Rule(match="Paris", answer="Paris has about 2.1 million people."),
        Rule(match="Rome", answer="About 2.9 million."),
    ]
    result = run(project, server, "-v")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.re_match_lines([r".*cities.yaml::paris\[chat-default\] PASSED.*"])
    result.stdout.re_match_lines([r".*FAIL number.*"])


def test_a_broken_dataset_fails_collection_with_every_row_located(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(
        project,
        "evals/data/bad.jsonl",
        '{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n[1]\n{"id": "c", "txt": "z"}\n'
        '{"id": "d", "vars": {"text": "w"}, "expect": [{"contians": "w"}]}\nnot json\n',
    )
    write(project, "suites/bad.yaml", "dataset: data/bad.jsonl\nprompt: 'Say {{ text }}'\n")
    result = run(project, server)
    assert result.ret == 2
    out = result.stdout.str()
    for line in [
        "evals/data/bad.jsonl:2: id: duplicate case id 'a' (first at line 1)",
        "evals/data/bad.jsonl:3: a row is a mapping (a JSON object), got a list",
        "evals/data/bad.jsonl:4: prompt: inline template:1: 'text' is undefined; did you mean 'txt'?",
        "evals/data/bad.jsonl:5: expect[0].contians: unknown check 'contians'",
        "evals/data/bad.jsonl:6: not JSON: Expecting value (column 1)",
    ]:
        assert line in out, line
    assert server.suite_requests == []
