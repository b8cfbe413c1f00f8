"""Pure reporting: results -> lines of text. The plugin decides where they go."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tabulate import tabulate

from harness.checks.grading import Verdict
from harness.checks.regexes import quoted
from harness.checks.tools import call_text
from harness.gate.stats import percentile, wilson
from harness.models import EFFORTS, Case, CheckResult, Message, Usage, arm

PROMPT_CHARS = 400
TOOL_CALLS_SHOWN = 10
ANSWER_CHARS = 1200


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more chars]"


# What must not reach a terminal raw: control characters but tab and newline (NUL, ESC
# sequences, carriage returns), C1 controls, Unicode line separators, lone surrogates.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def visible(text: str) -> str:
    """``text`` with each character of :data:`_INVISIBLE` as its Python escape (``\\x00``)."""
    return _INVISIBLE.sub(lambda m: repr(m.group())[1:-1], text)


def prompt_text(messages: Sequence[Message]) -> str:
    return "\n".join(_turn(m) for m in messages)


def _turn(message: Message) -> str:
    """``[user] text``; an assistant turn's calls and a tool turn's call id shown too."""
    head = f"[{message.role}]" if message.tool_call_id is None else f"[tool {message.tool_call_id}]"
    calls = "".join(f" -> {call_text(call)}" for call in message.tool_calls)
    return f"{head} {message.content}{calls}".rstrip()


def _value(value: Any) -> str:
    if isinstance(value, str):
        return repr(shorten(value, 200))
    try:
        return shorten(json.dumps(value, ensure_ascii=False, default=str), 300)
    except (TypeError, ValueError):
        return shorten(repr(value), 300)


check_value = _value  # how a failed check's observed value is shown (records rebuilt too)


def check_lines(result: CheckResult, depth: int = 0) -> list[str]:
    """A check and, indented, the nested checks that explain it."""
    mark = "ok  " if result.passed else "FAIL"
    detail = f": {result.detail}" if result.detail else ""
    weight = f" (weight {result.weight:g})" if result.weight != 1.0 and depth == 0 else ""
    lines = [
        f"{'  ' * depth}{mark} {result.name}{weight}{detail}  [observed: {_value(result.observed)}]"
    ]
    for child in result.children:
        lines += check_lines(child, depth + 1)
    return lines


def failure_text(
    suite_path: str, case: Case, api: str, effort: str, verdict: Verdict,
    budget: int | None = None,
) -> str:  # fmt: skip
    """What a failing item's report shows: where, the prompt, the answer, the failed checks."""
    counts = ", ".join(f"{n} {o}" for o, n in sorted(verdict.counts.items()))
    lines = [
        f"case {case.id} ({case.defined_in or suite_path}:{case.line})"
        + (f"  prompt: {case.variant}" if case.variant else "")
        + f"  api: {api}  effort: {effort}"
        + (f"  thinking budget: {budget}" if budget is not None else ""),
        f"outcome: {verdict.outcome.upper()}  samples: {counts}  "
        f"pass rate {verdict.pass_rate:.2f} (needs {verdict.min_pass_rate:.2f})",
        "prompt:",
        *("  " + line for line in shorten(prompt_text(case.messages), PROMPT_CHARS).splitlines()),
    ]
    sample = verdict.first_bad()
    if sample is None:
        return "\n".join(lines)
    done = sample.completion
    lines.append(
        f"sample {sample.index}: {sample.outcome}  (HTTP {done.status}, finish {done.finish}, "
        f"{done.latency_ms:.0f} ms)"
    )
    if sample.outcome == "error":
        lines.append(f"error: {visible(done.error or '')}")
        if not sample.checks:  # no answer; a judge's error keeps the answer and the checks
            return "\n".join(lines)
    usage = done.usage
    if done.tool_calls:  # the calls as made: a reply that is only a call is no empty answer
        lines.append(f"tool calls ({len(done.tool_calls)}):")
        lines += [f"  {visible(call_text(call))}" for call in done.tool_calls[:TOOL_CALLS_SHOWN]]
        if len(done.tool_calls) > TOOL_CALLS_SHOWN:
            lines.append(f"  ... and {len(done.tool_calls) - TOOL_CALLS_SHOWN} more")
    if done.tool_calls and not done.answer:
        lines.append("answer: none besides the tool calls")
    else:
        lines.append(f"answer ({len(done.answer)} chars):")
        shown = visible(shorten(done.answer, ANSWER_CHARS))
        lines += ["  " + line for line in shown.splitlines() or ['""']]
    if not done.answer and done.reasoning and sample.outcome == "fail":
        lines.append(f"the answer is empty: the model only reasoned (finish {done.finish})")
    if sample.extracted is not None:
        lines.append(f"extracted: {sample.extracted!r}")
    elif case.extract is not None and sample.outcome != "truncated":  # never ran on those
        lines.append(f"extracted: nothing (pattern {quoted(case.extract.pattern)} did not match)")
    lines.append(f"reasoning: {len(done.reasoning)} chars; tokens: {_token_counts(usage)}")
    if sample.outcome == "truncated":
        lines.append(
            "the token budget ran out before the answer was complete "
            "(raise params.max_output_tokens or lower the effort)"
        )
        return "\n".join(lines)
    if case.threshold is not None:
        lines.append(f"score {sample.score:.2f} < threshold {case.threshold:.2f}")
    lines.append("checks:")
    for result in sample.checks:
        lines += ["  " + line for line in check_lines(result)]
    return "\n".join(lines)


def inconsistent_verdicts(checks: Iterable[Mapping[str, Any]]) -> list[str]:
    """``score 1.00 but pass false`` for each judge verdict among ``checks`` (``name`` and
    ``observed``, as records.jsonl keeps them) that ``checks.judge`` marked inconsistent."""
    said = []
    for check in checks:
        seen = check.get("observed")
        if check.get("name") != "judge" or not isinstance(seen, Mapping):
            continue
        marks = zip(  # an older run's record has no "inconsistent": nothing is said
            seen.get("scores", ()),
            seen.get("passes", ()),
            seen.get("inconsistent", ()),
            strict=False,
        )
        said += [f"score {s:.2f} but pass {str(ok).lower()}" for s, ok, odd in marks if odd]
    return said


def record(
    suite: str, case: Case, api: str, effort: str, verdict: Verdict, budget: int | None = None
) -> dict[str, Any]:
    """The JSON-able summary of one item, carried in ``user_properties``."""
    done = [s.completion for s in verdict.samples]
    bad = verdict.first_bad()
    extra: dict[str, Any] = {}
    odd = [
        f"sample {s.index}: {said}"
        for s in verdict.samples
        for said in inconsistent_verdicts(
            {"name": c.name, "observed": c.observed} for c in s.checks
        )
    ]
    if odd:  # said even when the item passed (min_score decided)
        extra["judge_inconsistent"] = odd
    if bad is not None and verdict.outcome != "pass":
        extra["answer"] = shorten(bad.completion.answer, 4000)
        extra["failed_checks"] = [
            f"{c.name}: {c.detail} [observed: {_value(c.observed)}]"
            for c in bad.checks
            if not c.passed
        ]
        if bad.completion.error is not None:
            extra["error"] = bad.completion.error
    return {
        **extra,
        "suite": suite,
        "case": case.id,
        **({"variant": case.variant} if case.variant else {}),
        "api": api,
        "effort": effort,
        **({"budget": budget} if budget is not None else {}),
        "outcome": verdict.outcome,
        "passes": verdict.passes,
        "samples": len(verdict.samples),
        "score": verdict.score,
        "outcomes": [s.outcome for s in verdict.samples],
        "cached": sum(1 for c in done if c.cached),
        "latency_ms": [c.latency_ms for c in done if c.error is None],
        "first_answer_ms": [c.first_answer_ms for c in done if c.first_answer_ms is not None],
        "output_tokens": [c.usage.output_tokens for c in done if c.usage.output_tokens is not None],
        "reasoning_chars": [len(c.reasoning) for c in done if c.error is None],
        **(
            {"tool_calls": [len(c.tool_calls) for c in done]}
            if any(c.tool_calls for c in done)
            else {}
        ),
        "reasoning_tokens": [
            c.usage.reasoning_tokens for c in done if c.usage.reasoning_tokens is not None
        ],
    }


HEADERS = [
    "suite",
    "api",
    "effort",
    "cases",
    "pass rate [95% CI]",
    "score",
    "p50 ms",
    "p95 ms",
    "1st tok ms",
    "out tok",
    "reason tok",
    "trunc",
    "errors",
]


def _mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return sum(items) / len(items) if items else None


def _fmt(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def has_variants(records: Iterable[Mapping[str, Any]]) -> bool:
    """True when some record ran a named prompt variant (tables then show its column)."""
    return any(rec.get("variant") for rec in records)


def has_budgets(records: Iterable[Mapping[str, Any]]) -> bool:
    """True when some record ran with a thinking budget (tables then show its column)."""
    return any(rec.get("budget") is not None for rec in records)


def item_id(rec: Mapping[str, Any]) -> str:
    """``suite::case[api-effort]``, with a variant first and a budget last."""
    where = arm(rec.get("variant", ""), rec["api"], rec["effort"], rec.get("budget"))
    return f"{rec['suite']}::{rec['case']}[{where}]"


def summary_headers(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """``HEADERS``, with a prompt column after the suite and a budget column after the
    effort when some record has them."""
    records = list(records)
    prompt = ["prompt"] if has_variants(records) else []
    budget = ["budget"] if has_budgets(records) else []
    calls = ["calls"] if has_calls(records) else []
    return [HEADERS[0], *prompt, *HEADERS[1:3], *budget, *HEADERS[3:-2], *calls, *HEADERS[-2:]]


def has_calls(records: Iterable[Mapping[str, Any]]) -> bool:
    """True when some sample made a tool call (tables then count them)."""
    return any(rec.get("tool_calls") for rec in records)


def budget_rank(budget: object) -> tuple[int, int]:
    """Budgets small to large; no budget (unlimited) after them all."""
    return (1, 0) if not isinstance(budget, int) else (0, budget)


def summary_rows(records: Iterable[Mapping[str, Any]]) -> list[list[str]]:
    """One row per suite x (prompt) x api x effort (x budget); the pass rate is over
    samples, with a Wilson interval. The prompt and budget columns are there when some
    record has a variant or a budget."""
    records = list(records)
    named, budgeted, called = has_variants(records), has_budgets(records), has_calls(records)
    Group = tuple[str, str, str, str, Any]
    groups: dict[Group, list[Mapping[str, Any]]] = defaultdict(list)
    for rec in records:
        where = (rec["suite"], rec.get("variant", ""), rec["api"], rec["effort"])
        groups[(*where, rec.get("budget"))].append(rec)
    rows = []

    def order(key: Group) -> tuple[Any, ...]:
        rank = EFFORTS.index(key[3]) if key[3] in EFFORTS else len(EFFORTS)  # low to high
        return key[0], key[1], key[2], rank, key[3], budget_rank(key[4])

    for (suite, variant, api, effort, budget), recs in sorted(
        groups.items(), key=lambda kv: order(kv[0])
    ):
        outcomes = [o for r in recs for o in r["outcomes"]]
        passes = outcomes.count("pass")
        low, high = wilson(passes, len(outcomes))
        latency = [x for r in recs for x in r["latency_ms"]]
        rows.append(
            [
                suite,
                *([variant or "-"] if named else []),
                api,
                effort,
                *([str(budget) if budget is not None else "-"] if budgeted else []),
                str(len(recs)),
                f"{passes / len(outcomes):.2f} [{low:.2f}, {high:.2f}]" if outcomes else "-",
                _fmt(_mean(r["score"] for r in recs), ".2f"),
                _fmt(percentile(latency, 50)),
                _fmt(percentile(latency, 95)),
                _fmt(percentile([x for r in recs for x in r.get("first_answer_ms", [])], 50)),
                _fmt(_mean(x for r in recs for x in r["output_tokens"])),
                reasoning_cell(recs),
                *([str(sum(n for r in recs for n in r.get("tool_calls", ())))] if called else []),
                str(outcomes.count("truncated")),
                str(outcomes.count("error")),
            ]
        )
    return rows


def summary_lines(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The end-of-run table, and one line of outcome counts."""
    if not records:
        return []
    table = tabulate(
        summary_rows(records),
        headers=summary_headers(records),
        tablefmt="simple",
        disable_numparse=True,
    )
    items: dict[str, int] = defaultdict(int)
    for rec in records:
        items[rec["outcome"]] += 1
    counts = ", ".join(f"{items[o]} {o}" for o in ("pass", "fail", "truncated", "error"))
    odd = [
        f"judge verdict inconsistent: {item_id(rec)} ({rec['outcome']}), {said}"
        for rec in records
        for said in rec.get("judge_inconsistent", ())
    ]
    return [*table.splitlines(), "", f"items: {counts}", *odd]


def regression_text(described: str, entry: Mapping[str, Any], result: Verdict) -> str:
    """A regression: the usual failure report, then the baseline answer beside the new one."""
    import difflib

    shown = result.first_bad()
    now = shown.completion.answer if shown is not None else ""
    was = str(entry.get("answer", ""))
    diff = difflib.unified_diff(
        was.splitlines(), now.splitlines(), "baseline answer", "answer now", lineterm="", n=2
    )
    lines = [
        f"REGRESSION: passed in the baseline of {entry.get('date')} "
        f"(pass rate {entry.get('pass_rate')}), now {result.outcome}",
        described,
        "answer diff (baseline -> now):",
        *("  " + visible(line) for line in list(diff)[:80]),
    ]
    return "\n".join(lines)


def _token_counts(usage: Usage) -> str:
    """``input 20, output 30, reasoning 25``; a count the server left out reads "not
    reported" (never ``None``)."""
    counts = {
        "input": usage.input_tokens,
        "output": usage.output_tokens,
        "reasoning": usage.reasoning_tokens,
    }
    if all(value is None for value in counts.values()):
        return "not reported"
    return ", ".join(
        f"{name} {'not reported' if value is None else value}" for name, value in counts.items()
    )


CHARS_PER_TOKEN = 4  # a rough estimate for English text; marked "est." wherever it is used


def reasoning_cell(recs: Iterable[Mapping[str, Any]]) -> str:
    """Mean reasoning tokens as the server reported them; when it reported 0 or nothing
    (vLLM often does for GLM) but there is reasoning text, an estimate marked ``est.``."""
    recs = list(recs)
    reported = [x for r in recs for x in r.get("reasoning_tokens", []) if x]
    if reported:
        return _fmt(_mean(reported))
    chars = [x for r in recs for x in r.get("reasoning_chars", [])]
    if chars and any(chars):
        return f"{sum(chars) / len(chars) / CHARS_PER_TOKEN:.0f} est."
    return "0" if any(r.get("reasoning_tokens") for r in recs) else "-"
