"""The GitHub Markdown report: section order, diffs, fences, escaping, the size cap."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from harness.reports.markdown import DIFF_LINES, LIMIT, markdown_report, safe_endpoint
from harness.reports.terminal import HEADERS


def item(
    case: str = "c",
    change: str = "pass",
    outcome: str = "pass",
    *,
    suite: str = "math",
    api: str = "chat",
    effort: str = "low",
    **extra: Any,
) -> dict[str, Any]:
    """One item as the plugin hands it over: ``report.record()`` plus the change keys."""
    return {
        "suite": suite,
        "case": case,
        "api": api,
        "effort": effort,
        "outcome": outcome,
        "passes": int(outcome == "pass"),
        "samples": 1,
        "score": float(outcome == "pass"),
        "outcomes": [outcome],
        "cached": 0,
        "latency_ms": [] if outcome == "error" else [120.0],
        "output_tokens": [8],
        "reasoning_tokens": [],
        "change": change,
        "suite_path": f"suites/{suite}.yaml",
        **extra,
    }


def regression(
    case: str = "r", was: str = "x = 5", now: str = "x = 7", **extra: Any
) -> dict[str, Any]:
    return item(
        case,
        "regression",
        "fail",
        answer=now,
        baseline_answer=was,
        baseline_date="2024-05-01",
        **{"failed_checks": ["number: expected 5 ± 0, found 7 [observed: 7]"], **extra},
    )


def decision(state: str, effort: str = "low", more: int | None = None) -> dict[str, Any]:
    return {
        "suite": "math",
        "api": "chat",
        "effort": effort,
        "state": state,
        "reason": f"{state} by the sign test.",
        "more_samples": more,
    }


def report(
    items: Sequence[Mapping[str, Any]],
    *,
    endpoint: str | None = "https://host/v1",
    decisions: Sequence[Mapping[str, Any]] = (),
    baseline_lines: Sequence[str] = (),
    exit_status: int | None = None,
) -> str:
    return markdown_report(
        items,
        run_id="20240501-120000",
        endpoint=endpoint,
        model="zai-org/GLM-4.7-Flash",
        requests={"sent": 4, "cached": 1, "retries": 2, "failed": 0},
        baseline_lines=baseline_lines,
        decisions=decisions,
        exit_status=exit_status,
    )


def headings(text: str) -> list[str]:
    return re.findall(r"^#{2,3} (.+)$", text, flags=re.MULTILINE)


def fenced_blocks(text: str) -> list[tuple[str, list[str]]]:
    """(opening fence, content lines) of every fenced block, closed as CommonMark closes them:
    a line of at least as many backticks, indented at most three spaces."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        opened = re.match(r"^(`{3,})", lines[i])
        if not opened:
            i += 1
            continue
        fence, body, i = opened.group(1), [], i + 1
        while i < len(lines) and not re.fullmatch(rf" {{0,3}}`{{{len(fence)},}}\s*", lines[i]):
            body.append(lines[i])
            i += 1
        blocks.append((fence, body))
        i += 1
    return blocks


def cells(row: str) -> list[str]:
    """A pipe-table row split on unescaped pipes, as GitHub splits it."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


# --- sections -------------------------------------------------------------------------


def test_sections_come_in_order_with_regressions_first() -> None:
    items = [
        item("ok"),
        item("better", "improved"),
        item("fresh", "new", "fail", failed_checks=["contains: 'km' [observed: false]"]),
        item("old", "known failure", "fail", failed_checks=["equals: 3"]),
        item("down", "error", "error", error="HTTP 503: overloaded (5 attempts)"),
        regression(),
    ]
    text = report(items, decisions=[decision("regression")], baseline_lines=["math: 1 created"])
    assert headings(text) == [
        "glm-harness: 1 regression, 1 API error",
        "Regressed and flipped cases",
        "Regressions",
        "Statistical decisions",
        "Improved",
        "New",
        "Known failures",
        "API errors",
        "Results",
        "Baselines",
    ]
    assert (
        "- `math::fresh[chat-low]`: **failing** (fail): contains: 'km' \\[observed: false\\]"
        in text
    )
    assert "<details>\n<summary>1 known failure</summary>" in text
    assert "- `math::down[chat-low]`: HTTP 503: overloaded (5 attempts)" in text
    assert text.endswith("- math: 1 created\n")


def test_regressions_are_sorted_by_suite_case_api_effort() -> None:
    items = [
        regression("b"),
        regression("a", api="responses"),
        regression("a", effort="high"),
        {**regression("z"), "suite": "alpha"},
    ]
    ids = re.findall(r"<summary>(\S+):", report(items))
    assert ids == [
        "alpha::z[chat-low]",
        "math::a[chat-high]",
        "math::a[responses-low]",
        "math::b[chat-low]",
    ]


def test_a_regression_shows_failed_checks_date_and_a_unified_diff() -> None:
    text = report([regression(was="steps\nx = 5\nend", now="steps\nx = 7\nend")])
    assert (
        "<summary>math::r[chat-low]: number: expected 5 ± 0, found 7 [observed: 7]</summary>"
        in text
    )
    assert "Passed in the baseline of 2024-05-01." in text
    ((fence, body),) = fenced_blocks(text)
    assert fence == "```"
    assert re.search(rf"^{fence}diff$", text, flags=re.MULTILINE)
    assert body[:2] == ["--- baseline", "+++ now"]
    assert "-x = 5" in body
    assert "+x = 7" in body
    assert " steps" in body


def test_a_regression_summary_is_html_escaped() -> None:
    text = report([regression(failed_checks=["regex: <b>x</b> & y\nz"])])
    assert "<summary>math::r[chat-low]: regex: &lt;b&gt;x&lt;/b&gt; &amp; y z</summary>" in text


@pytest.mark.parametrize(
    "now",
    [
        "```\nrm -rf /\n```",
        " ```\nindented fence\n```",
        "````python\nx\n````",
        "`````",
        "~~~\ntilde\n~~~",
    ],
)
def test_an_answer_with_fences_cannot_break_out_of_the_diff(now: str) -> None:
    was = "```\nok\n```"
    text = report([regression(was=was, now=now)])
    ((fence, body),) = fenced_blocks(text)
    expected = difflib.unified_diff(
        was.splitlines(), now.splitlines(), "baseline", "now", lineterm=""
    )
    assert body == list(expected)  # the block ends where the diff ends, not inside it
    assert len(fence) > max((len(run) for run in re.findall(r"`+", "\n".join(body))), default=2)
    assert text.index(f"\n{fence}\n\n</details>") > text.index(body[-1])


def test_long_answers_and_diffs_are_cut_and_say_so() -> None:
    was = "\n".join(f"line {n}" for n in range(500))
    now = "\n".join(f"LINE {n}" for n in range(500))
    text = report([regression(was=was, now=now)])
    ((_, body),) = fenced_blocks(text)
    assert len(body) == DIFF_LINES
    assert re.search(r"_The diff was cut to 60 of \d+ lines\._", text)
    assert f"_The baseline answer was cut to 4000 of {len(was)} characters._" in text
    assert f"_The new answer was cut to 4000 of {len(now)} characters._" in text


def test_an_unchanged_answer_says_the_grading_changed() -> None:
    text = report([regression(was="same", now="same")])
    assert fenced_blocks(text) == []
    assert "the checks or the grading changed" in text


# --- tables and escaping --------------------------------------------------------------


def test_results_table_is_a_pipe_table_with_escaped_cells() -> None:
    text = report([item("a", suite="odd|name"), item("b", suite="odd|name", api="responses")])
    lines = text.split("### Results\n\n", 1)[1].splitlines()
    assert cells(lines[0]) == HEADERS
    assert lines[1] == "|" + "---|" * len(HEADERS)
    assert [cells(row)[:3] for row in lines[2:4]] == [
        ["odd\\|name", "chat", "low"],
        ["odd\\|name", "responses", "low"],
    ]
    assert all(len(cells(row)) == len(HEADERS) for row in lines[2:4])


@pytest.mark.parametrize(
    ("reason", "cell"),
    [
        ("p = 0.01 | b=5, c=0", "p = 0.01 \\| b=5, c=0"),
        ("first line\nsecond line", "first line second line"),
        ("<script>x</script>", "&lt;script&gt;x&lt;/script&gt;"),
    ],
)
def test_decision_cells_are_escaped(reason: str, cell: str) -> None:
    text = report([], decisions=[{**decision("regression"), "reason": reason}])
    (row,) = [line for line in text.splitlines() if line.startswith("| math |")]
    assert cells(row) == ["math", "chat", "low", "regression", cell]


def test_decisions_put_regressions_first_and_say_what_would_decide() -> None:
    decisions = [
        decision("no regression", "high"),
        decision("inconclusive", "medium", more=40),
        decision("regression", "low"),
        decision("inconclusive", "xhigh"),
    ]
    rows = [
        cells(r) for r in report([], decisions=decisions).splitlines() if r.startswith("| math")
    ]
    assert [(r[2], r[3]) for r in rows] == [
        ("low", "regression"),
        ("medium", "inconclusive"),
        ("xhigh", "inconclusive"),
        ("high", "no regression"),
    ]
    assert rows[1][4] == "inconclusive by the sign test. About 40 more samples would decide."
    assert rows[2][4].endswith("How many more samples would decide is not known.")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:secret@host/path?key=abc", "https://host/path"),
        ("https://host.example:8443/v1#frag", "https://host.example:8443/v1"),
        ("http://token@[::1]:8000/v1?api-key=abc", "http://[::1]:8000/v1"),
        ("user:secret@host/path?key=abc", "host/path"),
        (None, "no endpoint"),
    ],
)
def test_endpoint_loses_credentials_and_query(url: str | None, shown: str) -> None:
    assert safe_endpoint(url) == shown
    text = report([], endpoint=url)
    assert f"endpoint `{shown}`" in text
    for secret in ("secret", "abc", "token", "frag"):
        assert secret not in text


# --- title and edge cases --------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "decisions", "exit_status", "title"),
    [
        ([item("a")], [], 0, "## glm-harness: no regressions"),
        ([item("a"), item("k", "known failure", "fail")], [], 1, "## glm-harness: no regressions"),
        ([regression("a"), regression("b")], [], 1, "## glm-harness: 2 regressions"),
        ([item("e", "error", "error", error="x")], [], 1, "## glm-harness: 1 API error"),
        ([], [decision("regression")], 1, "## glm-harness: 1 regression (statistical)"),
        ([regression()], [], 2, "## glm-harness: 1 regression (interrupted)"),
    ],
)
def test_title_states_the_verdict(
    items: list[dict[str, Any]], decisions: list[dict[str, Any]], exit_status: int, title: str
) -> None:
    assert report(items, decisions=decisions, exit_status=exit_status).splitlines()[0] == title


def test_summary_line_has_outcomes_run_model_and_requests() -> None:
    items = [item("a"), item("b", "new", "fail"), item("c", "error", "error", error="x")]
    line = report(items, exit_status=1).splitlines()[2]
    assert line == (
        "3 items (1 pass, 1 fail, 1 error) · run `20240501-120000` · endpoint `https://host/v1`"
        " · model `zai-org/GLM-4.7-Flash` · requests: 4 sent / 1 cached / 2 retries / 0 failed"
        " · exit status 1"
    )


def test_an_empty_run_is_still_a_valid_report() -> None:
    text = markdown_report([], run_id="r", endpoint=None, model="", requests={})
    assert text == (
        "## glm-harness: no regressions\n\n"
        "0 items · run `r` · endpoint `no endpoint` · model `-` · requests: - sent / - cached"
        " / - retries / - failed\n\n"
        "### Results\n\n"
        f"| {' | '.join(HEADERS)} |\n"
        f"|{'---|' * len(HEADERS)}\n"
    )


# --- size cap -------------------------------------------------------------------------


def test_a_huge_run_is_cut_lowest_priority_first_and_says_so() -> None:
    big = "word " * 2000
    items = [regression(f"r{n:03}", was=big, now=big.upper()) for n in range(100)]
    items += [
        item(f"k{n:04}", "known failure", "fail", failed_checks=["x" * 200]) for n in range(500)
    ]
    items += [item(f"n{n:04}", "new", "fail", failed_checks=["y" * 200]) for n in range(500)]
    items += [item(f"i{n:04}", "improved") for n in range(500)]
    text = report(items, decisions=[decision("regression")])
    assert len(text) <= LIMIT
    assert text.startswith("## glm-harness: 100 regressions\n")
    assert "### Results\n\n| suite | api |" in text
    assert "| math | chat | low | 1600 |" in text
    assert text.splitlines()[-1] == (
        "_Cut to stay under GitHub's comment limit: known failures (500), new items, "
        "improved items, regression diffs._"
    )
    assert "### Known failures" not in text
    assert "```" not in text  # the diffs went; the regressions are still listed
    assert "- `math::r099[chat-low]`: number: expected 5" in text
    assert "| math | chat | low | regression |" in text


def test_only_as_much_is_cut_as_needed() -> None:
    items = [regression()]
    items += [
        item(f"k{n:04}", "known failure", "fail", failed_checks=["x" * 200]) for n in range(500)
    ]
    text = report(items)
    assert len(text) <= LIMIT
    assert text.endswith("_Cut to stay under GitHub's comment limit: known failures (500)._\n")
    assert "+x = 7" in text
    assert "- `math::r[chat-low]`" not in text


def test_when_even_the_list_is_too_long_rows_are_cut_with_a_count() -> None:
    items = [regression(f"r{n:05}", failed_checks=["z" * 250]) for n in range(400)]
    text = report(items)
    assert len(text) <= LIMIT
    assert not re.findall(r"^- `math::r\d{5}", text, flags=re.MULTILINE)  # the matrix has them
    kept = len(re.findall(r"^\| `math::r\d{5}` \| \*\*fail\*\* ▼ \|", text, flags=re.MULTILINE))
    assert 0 < kept < 400
    assert text.splitlines()[-1] == (
        "_Cut to stay under GitHub's comment limit: regression diffs, the list of regressions"
        f" (the matrix above has them), regressed and flipped cases after the first {kept}"
        " of 400._"
    )
    assert "| math | chat | low | 400 |" in text


def test_regressed_and_flipped_cases_as_a_compact_matrix() -> None:
    fails = {"failed_checks": ["contains: 'km' not in answer [observed: false]"]}
    items = [
        regression("down", effort="low"), item("down", effort="high"),  # regressed at low
        item("flip", effort="low"), item("flip", "new", "fail", effort="high", **fails),
        item("same", effort="low"), item("same", effort="high"),  # not listed
        item("old", "known failure", "fail", effort="low", **fails),
        item("old", "known failure", "fail", effort="high", **fails),  # fails alike: no flip
        item("t|x", "improved", effort="low", budget=512), item("t|x", "known failure", "truncated", effort="low"),
    ]  # fmt: skip
    text = report(items)
    section = text.split("### Regressed and flipped cases\n\n")[1].split("\n\n### ")[0]
    legend, table = section.split("\n\n")
    assert legend.startswith("A case is listed when it regressed (▼: it passed in the baseline)")
    assert table.splitlines() == [
        "| case | chat low t512 | chat low | chat high | failing check |",
        "|---|---|---|---|---|",
        "| `math::down` | - | **fail** ▼ | pass | chat low: number: expected 5 ± 0, found 7 \\[observed: 7\\] |",
        "| `math::flip` | - | pass | **fail** ✚ | chat high: contains: 'km' not in answer \\[observed: false\\] |",
        "| `math::t\\|x` | pass ▲ | **truncated** | - | chat low: truncated |",
    ]  # fmt: skip


def test_no_regression_and_no_flip_is_no_matrix() -> None:
    items = [item("a", effort="low"), item("a", "known failure", "fail", effort="low")]
    assert "Regressed and flipped" not in report(items[:1])
    assert "Regressed and flipped" not in report([item("a"), item("b", "known failure", "fail")])


def test_items_of_a_prompt_variant_are_named_with_it() -> None:
    found = markdown_report(
        [regression("r3", variant="terse"), item("c", variant="careful")],
        run_id="run",
        endpoint="http://e",
        model="m",
        requests={},
        decisions=[
            {"suite": "math", "variant": "terse", "api": "chat", "effort": "low",
             "state": "regression", "reason": "drop"},
        ],
    )  # fmt: skip
    assert "math::r3[terse-chat-low]" in found
    assert "| suite | prompt | api | effort |" in found
    assert "| math | terse | chat | low | regression | drop |" in found
