"""Pure reporting for GitHub: one run -> Markdown for a PR comment or ``$GITHUB_STEP_SUMMARY``.

Regressions come first. When the text would pass GitHub's comment limit, the least useful
sections are cut first and the last line says what went.
"""

from __future__ import annotations

import difflib
import html
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from harness.models import OUTCOMES, arm
from harness.reports import flips
from harness.reports.terminal import shorten, summary_headers, summary_rows

LIMIT = 60_000  # GitHub refuses comments over 65,536 characters; leave room for a wrapper
DIFF_LINES = 60
ANSWER_CHARS = 4000
CHECK_CHARS = 300
MAX_CHECKS = 5
ERROR_CHARS = 500
ITEM_KEY = ("suite", "case", "variant", "api", "effort", "budget")
DECISION_ORDER = {"regression": 0, "inconclusive": 1, "no regression": 2}
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")

# A section: its head (always kept), its rows (cut from the end when space runs out) and the
# separator between rows; None is an omitted section.
Section = tuple[str, list[str], str] | None


def _inline(text: object) -> str:
    """Free text safe on one Markdown line: whitespace collapsed, HTML and Markdown escaped."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(" ".join(str(text).split()), quote=False))


def _cell(text: object) -> str:
    """A pipe-table cell: one line, no raw HTML, ``|`` escaped."""
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|")


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _head(headers: Sequence[str]) -> str:
    return _row(headers) + "\n|" + "---|" * len(headers)


def _ticks(text: str, least: int) -> str:
    """A run of backticks longer than any in ``text``: a fence that ``text`` cannot close."""
    return "`" * max(least, 1 + max(map(len, re.findall(r"`+", text)), default=0))


def _code(text: object) -> str:
    body = " ".join(str(text).split())
    ticks, pad = _ticks(body, 1), " " if body[:1] == "`" or body[-1:] == "`" else ""
    return f"{ticks}{pad}{body}{pad}{ticks}"


def safe_endpoint(url: str | None) -> str:
    """The endpoint without ``user:password@``, query string or fragment."""
    if not url:
        return "no endpoint"
    parts = urlsplit(url)
    if not parts.netloc:  # no scheme, so urlsplit saw no host: strip by hand
        head, slash, tail = re.split(r"[?#]", url, maxsplit=1)[0].partition("/")
        return head.rpartition("@")[2] + slash + tail
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is not a number: leave it out
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def item_id(item: Mapping[str, Any]) -> str:
    budget = item.get("budget")
    where = arm(str(item.get("variant") or ""), str(item.get("api")), str(item.get("effort")))
    where += f"-t{budget}" if budget is not None else ""
    return f"{item.get('suite')}::{item.get('case')}[{where}]"


def _checks(item: Mapping[str, Any]) -> str:
    found = [
        shorten(" ".join(str(c).split()), CHECK_CHARS) for c in item.get("failed_checks") or ()
    ]
    more = len(found) - MAX_CHECKS
    return "; ".join(found[:MAX_CHECKS] + ([f"and {more} more"] if more > 0 else []))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _header(
    by: Mapping[str, list[Mapping[str, Any]]],
    items: Sequence[Mapping[str, Any]],
    decisions: Sequence[Mapping[str, Any]],
    facts: Sequence[tuple[str, str]],
    requests: Mapping[str, Any],
    exit_status: int | None,
    stopped: str | None = None,
    notices: Sequence[str] = (),
) -> str:
    regressions, errors = len(by.get("regression", [])), len(by.get("error", []))
    stat = sum(1 for d in decisions if d.get("state") == "regression")
    verdict = [_plural(regressions, "regression")] if regressions else []
    verdict += [f"{_plural(stat, 'regression')} (statistical)"] if stat and not regressions else []
    verdict += [_plural(errors, "API error")] if errors else []
    title = f"## glm-harness: {stopped or ', '.join(verdict) or 'no regressions'}"
    counts = Counter(str(item.get("outcome", "")) for item in items)
    order = [*OUTCOMES, *sorted(set(counts) - set(OUTCOMES))]
    outcomes = ", ".join(f"{counts[o]} {o}" for o in order if counts[o])
    keys = ("sent", "cached", "retries", "failed")
    line = [f"{_plural(len(items), 'item')}{f' ({outcomes})' if outcomes else ''}"]
    line += [f"{name} {_code(value)}" for name, value in facts]
    line += ["requests: " + " / ".join(f"{requests.get(k, '-')} {k}" for k in keys)]
    judge = requests.get("judge") or {}
    if judge.get("requests"):
        line += ["judge: " + " / ".join(f"{judge.get(k, '-')} {k}" for k in keys)]
    line += [] if exit_status is None else [f"exit status {exit_status}"]
    found = {str(i["suite"]): i["sampled"] for i in items if i.get("sampled")}
    if found:
        each = ", ".join(f"{s} {n} of {m}" for s, (n, m) in sorted(found.items()))
        line += [f"sampled (--glm-sample): {each} cases"]
    first = "".join(f"**{_inline(n)}**\n\n" for n in notices)  # right under the title
    return f"{title}{' (interrupted)' if exit_status == 2 else ''}\n\n{first}{' · '.join(line)}"


def _regression(item: Mapping[str, Any], *, diff: bool, server: str | None = None) -> str:
    """A collapsed block: the id and failed checks, then the baseline -> now answer diff;
    ``server``: how the server changed since the baseline, said first."""
    checks = _checks(item) or f"now {item.get('outcome', '?')}"
    if server:
        checks = f"regression (the server changed since the baseline: {server}): {checks}"
    if not diff:
        return f"- {_code(item_id(item))}: {_inline(checks)}"
    summary = html.escape(" ".join(f"{item_id(item)}: {checks}".split()))
    lines = [f"<details>\n<summary>{summary}</summary>"]
    lines.append(f"Passed in the baseline of {_inline(item.get('baseline_date') or '?')}.")
    lines += [f"API error: {_error(item)}"] if item.get("error") else []
    was, now = str(item.get("baseline_answer") or ""), str(item.get("answer") or "")
    notes = [
        f"_The {name} was cut to {ANSWER_CHARS} of {len(text)} characters._"
        for name, text in (("baseline answer", was), ("new answer", now))
        if len(text) > ANSWER_CHARS
    ]
    was, now = was[:ANSWER_CHARS], now[:ANSWER_CHARS]
    body = [
        *difflib.unified_diff(was.splitlines(), now.splitlines(), "baseline", "now", lineterm="")
    ]
    if body:
        text = "\n".join(body[:DIFF_LINES])
        lines.append(f"{_ticks(text, 3)}diff\n{text}\n{_ticks(text, 3)}")
        if len(body) > DIFF_LINES:
            notes.append(f"_The diff was cut to {DIFF_LINES} of {len(body)} lines._")
    else:
        lines.append("The answer is the baseline's: the checks or the grading changed.")
    return "\n\n".join([*lines, *notes, "</details>"])


def _flipped(items: Sequence[Mapping[str, Any]]) -> tuple[str, list[str]]:
    """The regressed and flipped cases as a compact matrix (:mod:`harness.reports.flips`)."""
    head, rows = flips.table(items)
    said = []
    for case, cells, check in rows:
        name = _code(case).replace("|", "\\|")  # a pipe ends a table cell, in code too
        said.append(f"| {name} | {' | '.join(cells)} | {_inline(check)} |")
    return f"{_inline(flips.LEGEND)}\n\n{_head(head)}", said


def _decision_head(decisions: Sequence[Mapping[str, Any]]) -> list[str]:
    named = ["prompt"] if any(d.get("variant") for d in decisions) else []
    budget = ["budget"] if any(d.get("budget") is not None for d in decisions) else []
    return ["suite", *named, "api", "effort", *budget, "decision", "detail"]


def _decision_rows(decisions: Sequence[Mapping[str, Any]]) -> list[str]:
    """Regressions first, then inconclusive (with the samples that would decide), the rest."""
    named = ("variant",) if any(d.get("variant") for d in decisions) else ()
    budget = ("budget",) if any(d.get("budget") is not None for d in decisions) else ()
    where = ("suite", *named, "api", "effort", *budget)
    rows = []
    for d in sorted(
        decisions,
        key=lambda d: (DECISION_ORDER.get(str(d.get("state")), 3), *(str(d.get(k)) for k in where)),
    ):
        detail, more = str(d.get("reason") or ""), d.get("more_samples")
        if d.get("state") == "inconclusive" and more is None:
            detail += " How many more samples would decide is not known."
        elif d.get("state") == "inconclusive":
            detail += f" About {more} more samples would decide."
        rows.append(_row([*(d.get(k) or "-" for k in where), d.get("state"), detail.strip()]))
    return rows


def _bullet(item: Mapping[str, Any], what: str) -> str:
    checks = _checks(item)
    return f"- {_code(item_id(item))}: {what}{': ' + _inline(checks) if checks else ''}"


def _new(item: Mapping[str, Any]) -> str:
    outcome = str(item.get("outcome"))
    return _bullet(item, "passing" if outcome == "pass" else f"**failing** ({_inline(outcome)})")


def _error(item: Mapping[str, Any]) -> str:
    return _inline(shorten(str(item.get("error") or "no message"), ERROR_CHARS))


def _join(sections: Mapping[str, Section], cut: Sequence[str]) -> str:
    parts = [h + s + s.join(rows) if rows else h for h, rows, s in filter(None, sections.values())]
    parts += [f"_Cut to stay under GitHub's comment limit: {', '.join(cut)}._"] if cut else []
    return "\n\n".join(parts) + "\n"


def _squeeze(sections: dict[str, Section], cut: list[str], name: str) -> None:
    """Keep as many of a section's rows as fit in ``LIMIT``."""
    section = sections[name]
    if section is None or len(_join(sections, cut)) <= LIMIT:
        return
    head, rows, sep = section
    sections[name] = (head, [], sep)
    budget = LIMIT - len(_join(sections, [*cut, f"{name} after the first 999999 of 999999"]))
    kept, size = 0, 0
    while kept < len(rows) and size + len(sep) + len(rows[kept]) <= budget:
        size += len(sep) + len(rows[kept])
        kept += 1
    sections[name] = (head, rows[:kept], sep)
    cut.append(f"{name} after the first {kept} of {len(rows)}")


def markdown_report(
    items: Sequence[Mapping[str, Any]],
    *,
    run_id: str,
    endpoint: str | None,
    model: str,
    requests: Mapping[str, Any],
    baseline_lines: Sequence[str] = (),
    decisions: Sequence[Mapping[str, Any]] = (),
    ignored: Sequence[str] = (),
    exit_status: int | None = None,
    notices: Sequence[str] = (),
    server_changed: Mapping[str, str] | None = None,
    stopped: str | None = None,
) -> str:
    """The run as GitHub Markdown, at most ``LIMIT`` characters.

    ``notices`` come first, right under the title (the server changed since a baseline,
    the canary that ended the run, whose words ``stopped`` puts in the title);
    ``server_changed`` (suite -> how) labels the regressions of those suites.

    ``items`` are ``report.record()`` dicts plus ``change`` and ``suite_path`` (and, for
    regressions, ``answer``, ``baseline_answer``, ``baseline_date``, optionally
    ``failed_checks`` and ``error``); ``decisions`` are group-level statistical verdicts
    (``suite``, ``api``, ``effort``, ``state``, ``reason``, ``more_samples``).
    """
    by: dict[str, list[Mapping[str, Any]]] = {}
    for item in sorted(items, key=lambda i: [str(i.get(k) or "") for k in ITEM_KEY]):
        by.setdefault(str(item.get("change", "")), []).append(item)
    regressions, known = by.get("regression", []), by.get("known failure", [])
    facts = [("run", run_id), ("endpoint", safe_endpoint(endpoint)), ("model", model or "-")]

    def listed(heading: str, rows: list[str], sep: str = "\n", gap: str = "\n") -> Section:
        return (f"### {heading}{gap}", rows, sep) if rows else None

    matrix_head, matrix_rows = _flipped(items)
    changed = server_changed or {}
    said = [_regression(i, diff=True, server=changed.get(str(i.get("suite")))) for i in regressions]
    head = _header(by, items, decisions, facts, requests, exit_status, stopped, notices)
    sections: dict[str, Section] = {
        "title": (head, [], ""),
        "regressed and flipped cases": listed(
            f"Regressed and flipped cases\n\n{matrix_head}", matrix_rows, gap=""
        ),
        "regressions": listed("Regressions", said, "\n\n", ""),
        "decisions": listed(
            "Statistical decisions\n\n" + _head(_decision_head(decisions)),
            _decision_rows(decisions),
            gap="",
        ),
        "improved": listed("Improved", [_bullet(i, "now passing") for i in by.get("improved", [])]),
        "new": listed("New", [_new(i) for i in by.get("new", [])]),
        "known failures": listed(
            f"Known failures\n\n<details>\n<summary>{_plural(len(known), 'known failure')}"
            "</summary>",
            [*(_bullet(i, "still failing") for i in known), "\n</details>"] if known else [],
        ),
        "API errors": listed("API errors", [_bullet(i, _error(i)) for i in by.get("error", [])]),
        "judge": listed(
            "Judge verdicts that contradict themselves",
            [
                f"- {_code(item_id(i))} ({_inline(i.get('outcome'))}): {_inline(said)}"
                for i in sorted(items, key=lambda i: [str(i.get(k) or "") for k in ITEM_KEY])
                for said in i.get("judge_inconsistent") or ()
            ],
        ),
        "results": (
            "### Results\n\n" + _head(summary_headers(items)),
            [_row(r) for r in summary_rows(items)],
            "\n",
        ),
        "ignored": listed(
            "Effort settings with no measurable effect", [f"- {_inline(t)}" for t in ignored]
        ),
        "baselines": listed("Baselines", [f"- {_inline(line)}" for line in baseline_lines]),
    }
    brief = listed(
        "Regressions",
        [_regression(i, diff=False, server=changed.get(str(i.get("suite")))) for i in regressions],
    )
    cut: list[str] = []
    for name, smaller, what in (
        ("known failures", None, f"known failures ({len(known)})"),
        ("new", None, "new items"),
        ("improved", None, "improved items"),
        ("regressions", brief, "regression diffs"),
        ("regressions", None, "the list of regressions (the matrix above has them)"),
    ):
        if sections[name] is not None and len(_join(sections, cut)) > LIMIT:
            sections[name] = smaller
            cut.append(what)
    squeezed = ("ignored", "judge", "baselines", "API errors", "decisions", "regressions")
    for name in (*squeezed, "regressed and flipped cases", "results"):
        _squeeze(sections, cut, name)
    return _join(sections, cut)
