"""glm-harness report RUN --html OUT: the page's tables, charts, escaping, determinism."""

from __future__ import annotations

import argparse
import json
import random
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness.gate.compare import IGNORED
from harness.reports import html as html_report
from harness.reports import svg as svg_charts

PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses"}
HOSTILE = "<script>alert(1)</script>"


def rec(
    case: str, api: str, effort: str, *, outcome: str = "pass", sample: int = 0,
    reasoning_tokens: int | None = 100, reasoning: str = "", output_tokens: int | None = 50,
    latency: float = 1000.0, suite: str = "s", answer: str = "42",
) -> dict[str, Any]:  # fmt: skip
    """One records.jsonl line, shaped as harness.gate.records.sample_record writes it."""
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": case}]}
    body["reasoning_effort"] = effort
    return {
        "suite": suite, "case": case, "api": api, "effort": effort, "sample": sample,
        "request": {"path": PATHS[api], "body": body}, "answer": answer,
        "reasoning": reasoning, "extracted": None,
        "usage": {"input_tokens": 10, "output_tokens": output_tokens,
                  "reasoning_tokens": reasoning_tokens},
        "latency_ms": latency, "first_reasoning_ms": None, "first_answer_ms": None,
        "status": 200, "finish": "length" if outcome == "truncated" else "stop",
        "error": "HTTP 503" if outcome == "error" else None, "cached": False, "attempts": 1,
        "checks": [], "score": 1.0 if outcome == "pass" else 0.0, "outcome": outcome,
    }  # fmt: skip


def tiny_run() -> list[dict[str, Any]]:
    """Two cases x two APIs x two efforts x two samples. chat reports 0 reasoning tokens
    (400 or 1200 chars of reasoning: 100 or 300 est.); responses reports 120 or 360."""
    records = []
    for api in ("chat", "responses"):
        for effort, scale in (("low", 1), ("high", 3)):
            for case in ("a", "b"):
                for sample in (0, 1):
                    # low: a passes, b fails once and is truncated once; high: all pass
                    bad = effort == "low" and case == "b"
                    outcome = ("fail", "truncated")[sample] if bad else "pass"
                    records.append(rec(
                        case, api, effort, outcome=outcome, sample=sample,
                        reasoning_tokens=0 if api == "chat" else 120 * scale,
                        reasoning="r" * 400 * scale, output_tokens=60 * scale,
                        latency=100.0 * scale + 10 * sample + (case == "b"),
                    ))  # fmt: skip
    return records


def write_run(folder: Path, records: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
    (folder / "records.jsonl").write_text(lines, encoding="utf-8")
    return folder


def report(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    html_report.add_arguments(parser)
    return html_report.main(parser.parse_args(list(argv)))


def page_of(tmp_path: Path, records: list[dict[str, Any]], name: str = "run") -> str:
    run = write_run(tmp_path / name, records)
    assert report(str(run), "--html", str(tmp_path / f"{name}.html")) == 0
    return (tmp_path / f"{name}.html").read_text(encoding="utf-8")


class Tables(HTMLParser):
    """Every table of a page as rows of cell texts (entities decoded)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(page: str) -> list[list[list[str]]]:
    parser = Tables()
    parser.feed(page)
    return parser.tables


def test_summary_table_per_suite_api_effort(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = page_of(tmp_path, tiny_run())
    assert capsys.readouterr().out == f"wrote {tmp_path / 'run.html'} (16 samples, 2 charts)\n"
    summary = tables(page)[0]
    assert summary[0] == html_report.HEADERS
    rows = {(r[1], r[2]): r for r in summary[1:]}
    assert list(rows) == [
        ("chat", "low"),
        ("chat", "high"),
        ("responses", "low"),
        ("responses", "high"),
    ]
    # 2 of 4 samples pass: Wilson 95% [0.15, 0.85]; 4 of 4: [0.51, 1.00]
    assert rows[("chat", "low")] == [
        "s",
        "chat",
        "low",
        "2",
        "4",
        "0.50 [0.15, 0.85]",
        "0.50",
        "106",
        "111",
        "60",
        "100 est.",
        "1",
        "0",
    ]
    assert rows[("chat", "high")][5:] == [
        "1.00 [0.51, 1.00]",
        "1.00",
        "306",
        "311",
        "180",
        "300 est.",
        "0",
        "0",
    ]
    assert rows[("responses", "low")][10] == "120"  # reported by the server: no est.
    assert rows[("responses", "high")][10] == "360"


def test_errors_count_as_not_passing_and_are_left_out_of_latency(tmp_path: Path) -> None:
    records = [
        rec("a", "chat", "low", latency=100.0),
        rec("b", "chat", "low", outcome="error", latency=5.0),
    ]
    [_, row] = tables(page_of(tmp_path, records))[0]
    assert row[5:] == ["0.50 [0.09, 0.91]", "0.50", "100", "100", "50", "100", "0", "1"]


def test_charts_per_suite_are_labelled_and_hold_every_point(tmp_path: Path) -> None:
    page = page_of(tmp_path, tiny_run())
    charts = re.findall(r"<svg class=\"chart ([\w-]+)\" role=\"img\"(.*?)</svg>", page, re.S)
    assert [kind for kind, _ in charts] == ["pass-vs-reasoning", "latency"]
    scatter, latency = (body for _, body in charts)
    for body in (scatter, latency):
        assert "<title id=" in body
        assert "<desc id=" in body
    assert scatter.count('class="point"') == 4  # one per API x effort
    assert scatter.count('class="error-bar"') == 4
    assert scatter.count(">low (est.)</text>") == 1  # chat's reasoning is estimated
    assert scatter.count(">high</text>") == 1
    assert "mean reasoning tokens per sample" in scatter
    assert ">pass rate</text>" in scatter
    assert latency.count('class="box"') == 4
    assert latency.count('class="sample"') == 16
    assert "latency (ms)" in latency


def test_est_marker_when_the_server_reports_no_reasoning_tokens(tmp_path: Path) -> None:
    records = [rec("a", "chat", "low", reasoning_tokens=None, reasoning="x" * 80)]
    page = page_of(tmp_path, records)
    assert tables(page)[0][1][10] == "20 est."
    assert 'class="est"' in page


def test_hostile_text_is_escaped(tmp_path: Path) -> None:
    records = [
        rec(HOSTILE, "chat", effort, suite=HOSTILE, outcome="fail", answer=HOSTILE + '"x\x00')
        for effort in ("low", "high")
    ]
    page = page_of(tmp_path, records)
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\x00" not in page
    suite = page[page.index('<section class="matrix-suite"') :]
    assert "<h3>Suite &lt;script&gt;alert(1)&lt;/script&gt;</h3>" in suite
    [head, row] = tables(suite)[0]  # the case matrix, decoded back
    assert head[0] == "case"
    assert row[0] == HOSTILE  # the case id, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;x\\x00</pre>" in suite  # the answer


def test_the_page_references_nothing_outside_itself(tmp_path: Path) -> None:
    page = page_of(tmp_path, tiny_run())
    assert not re.search(
        r"\b(?:src|href|xlink:href|action)\s*=\s*[\"']?\s*(?:[a-z]+:)?//", page, re.I
    )
    assert "http://" not in page
    assert "https://" not in page
    for tag in ("<script", "<link", "<img", "<iframe", "@import", "url("):
        assert tag not in page
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    assert f'<meta http-equiv="Content-Security-Policy" content="{csp}">' in page


def test_same_records_give_the_same_bytes(tmp_path: Path) -> None:
    records = tiny_run()
    first = page_of(tmp_path, records, "one")
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)  # xdist workers append in any order
    assert page_of(tmp_path, shuffled, "one") == first


def test_no_effect_message_when_efforts_behave_the_same(tmp_path: Path) -> None:
    # 40 cases alike (c00 failing on both sides): enough for "no measurable effect"
    records = [
        rec(case, "chat", effort, outcome="pass" if case != "c00" else "fail", reasoning_tokens=200)
        for effort in ("low", "high")
        for case in (f"c{i:02}" for i in range(40))
    ]
    page = page_of(tmp_path, records)
    assert "<h2>Comparison by effort</h2>" in page
    assert "Comparison by api" not in page  # one API only
    assert f'<li class="no-effect"><b>s chat: low -&gt; high</b>: {IGNORED}' in page
    [headers, row] = tables(page)[1]
    assert headers[:3] == ["suite", "shared", "ref -> other"]
    assert row[:4] == ["s", "chat", "low -> high", "40"]


def test_too_few_cases_are_not_called_no_effect(tmp_path: Path) -> None:
    records = [rec(c, "chat", effort) for effort in ("low", "high") for c in ("a", "b", "c")]
    page = page_of(tmp_path, records)
    assert "too few cases to tell (n=3; no difference can show with fewer than 6 cases)" in page
    assert "no measurable" not in page


def test_comparisons_by_effort_and_by_api(tmp_path: Path) -> None:
    page = page_of(tmp_path, tiny_run())
    assert "<h2>Comparison by effort</h2>" in page
    assert "<h2>Comparison by api</h2>" in page
    assert "fail-&gt;pass: b" in page  # case b failed at low, passes at high


def test_one_effort_has_no_comparison(tmp_path: Path) -> None:
    page = page_of(tmp_path, [rec("a", "chat", "low")])
    assert "Comparison" not in page


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (None, "no run"),
        ("", "no records"),
        ("{not json\n", "not a run record"),
        ('{"suite": "s"}\n', "not a run record"),
    ],
)
def test_a_bad_run_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: str | None, message: str
) -> None:
    run = tmp_path / "run"
    if lines is not None:
        run.mkdir()
        (run / "records.jsonl").write_text(lines)
    assert report(str(run), "--html", str(tmp_path / "out.html")) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("glm-harness report: ")
    assert message in err
    assert err.count("\n") == 1
    assert not (tmp_path / "out.html").exists()


def test_a_run_id_is_looked_up_under_results(tmp_path: Path) -> None:
    write_run(tmp_path / "res" / "runs" / "20260101-000000000-abcdef", tiny_run())
    out = tmp_path / "deep" / "page.html"
    code = report(
        "20260101-000000000-abcdef", "--html", str(out), "--results", str(tmp_path / "res")
    )
    assert code == 0
    assert "glm-harness run 20260101-000000000-abcdef" in out.read_text()


def test_an_unwritable_output_is_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = write_run(tmp_path / "run", tiny_run())
    (tmp_path / "file").write_text("")
    assert report(str(run), "--html", str(tmp_path / "file" / "out.html")) == 2
    assert capsys.readouterr().err.startswith("glm-harness report: ")


def test_summary_json_is_shown_when_the_run_finished(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [rec("a", "chat", "low")])
    (run / "summary.json").write_text(
        json.dumps({"model": "glm <b>", "finished_at": "T", "exit_status": 0})
    )
    assert report(str(run), "--html", str(tmp_path / "o.html")) == 0
    assert (
        "model: glm &lt;b&gt;, finished_at: T, exit_status: 0" in (tmp_path / "o.html").read_text()
    )


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1]),
        (0, 0, [0, 0.2, 0.4, 0.6, 0.8, 1]),
        (0, 1234, [0, 500, 1000, 1500]),
        (0, 37.5, [0, 10, 20, 30, 40]),
        (0, 0.03, [0, 0.01, 0.02, 0.03]),
        (0, float("nan"), [0, 0.2, 0.4, 0.6, 0.8, 1]),
    ],
)
def test_nice_ticks(low: float, high: float, ticks: list[float]) -> None:
    assert svg_charts.nice_ticks(low, high) == ticks


def test_box_stats_are_min_quartiles_p95_max() -> None:
    assert svg_charts.box_stats([float(v) for v in range(1, 102)]) == (1, 26, 51, 76, 96, 101)


@pytest.mark.parametrize(
    ("reported", "cell"), [(None, "-"), (0, "0"), (40, "40")], ids=["nothing", "zero", "some"]
)
def test_reason_tok_reads_as_the_terminal_table_does(
    tmp_path: Path, reported: int | None, cell: str
) -> None:
    """`-` when the server reported no reasoning tokens and there is no reasoning text."""
    from harness.reports.terminal import reasoning_cell

    page = page_of(tmp_path, [rec("a", "chat", "low", reasoning_tokens=reported, reasoning="")])
    assert tables(page)[0][1][10] == cell
    item = {"reasoning_tokens": [] if reported is None else [reported], "reasoning_chars": [0]}
    assert reasoning_cell([item]) == cell


def test_prompt_variants_get_a_column_and_a_comparison(tmp_path: Path) -> None:
    records = []
    for case in ("a", "b", "c"):
        records.append({**rec(case, "chat", "low", outcome="fail"), "variant": "terse"})
        records.append({**rec(case, "chat", "low"), "variant": "careful"})
    page = page_of(tmp_path, records)
    summary = tables(page)[0]
    assert summary[0][:4] == ["suite", "prompt", "api", "effort"]
    assert [r[1] for r in summary[1:]] == ["careful", "terse"]
    assert "<h2>Comparison by prompt</h2>" in page
    assert "s chat/low: terse -&gt; careful" in page
    [head, *rows] = tables(page)[-1]  # the case matrix: a column per variant
    assert head[1:] == ["carefulfirst", "terse≠ 3"]  # chat low: every column's, said once
    assert [r[0] for r in rows] == ["a", "b", "c"]
    assert [r[2][:4] for r in rows] == ["fail"] * 3


def test_budgets_get_a_column_and_a_pass_rate_curve(tmp_path: Path) -> None:
    records = []
    for case in ("a", "b", "c"):
        for budget, outcome in ((64, "fail"), (512, "pass")):
            records.append({**rec(case, "chat", "high", outcome=outcome), "budget": budget})
        records.append(rec(case, "chat", "high"))  # and once without a budget
    page = page_of(tmp_path, records)
    summary = tables(page)[0]
    assert summary[0][:5] == ["suite", "api", "effort", "budget", "cases"]
    assert [r[3] for r in summary[1:]] == ["64", "512", "-"]
    assert 'class="chart pass-vs-budget"' in page
    curve = page[page.index('class="chart pass-vs-budget"') :]
    curve = curve[: curve.index("</svg>")]
    for name in (">64<", ">512<", ">none<", "thinking budget (tokens)"):
        assert name in curve
    assert curve.count('class="point"') == 3
    assert "<h2>Comparison by budget</h2>" in page
