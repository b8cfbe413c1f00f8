"""One cell of the case matrix in HTML: its outcome, score and marks, and the ``<details>``
it opens onto: why it failed, the baseline's answer beside the new one when they differ,
the rendered prompt, and every sample with its checks (pass or fail, what each observed),
its answer, its reasoning (folded until clicked), latency and tokens.

Long texts are cut to the cell's share of the page (:class:`Caps`) with their full length
said. Every text is escaped: answers, prompts, check details and errors are hostile.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.gate.runs import sample_of
from harness.reports.markup import cut, number
from harness.reports.matrix import Cell, Column, Row
from harness.reports.svg import esc

MAX_CHECKS = 40  # per sample, nested ones included; the rest is counted


@dataclass(frozen=True, slots=True)
class Caps:
    """How many characters of each text a cell shows."""

    prompt: int
    answer: int
    reasoning: int
    observed: int


def prompt_text(request: object) -> str:
    """The messages a request sent, rendered as ``role: text`` blocks (Chat ``messages``;
    Responses ``instructions`` and ``input``, a string or items)."""
    body = request.get("body") if isinstance(request, dict) else None
    if not isinstance(body, dict):
        return ""
    blocks = [f"instructions: {body['instructions']}"] if body.get("instructions") else []
    messages = body.get("messages", body.get("input"))
    if isinstance(messages, str):
        return "\n\n".join([*blocks, f"user: {messages}"])
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = "\n".join(
                str(p.get("text")) if isinstance(p, dict) and "text" in p else _compact(p)
                for p in content
            )
        role = message.get("role") or message.get("type") or "?"
        blocks.append(f"{role}: {content if isinstance(content, str) else _compact(content)}")
    return "\n\n".join(blocks)


def _compact(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def _text(name: str, text: str, limit: int, full: object = None) -> str:
    """A ``<pre>`` of ``text`` cut to ``limit``, labelled (by CSS, from ``data-label``) with
    ``name`` and, when it was cut, its full length."""
    shown, note = cut(text, limit, _int(full))
    return f'<pre data-label="{esc(name + (f" ({note})" if note else ""))}">{esc(shown)}</pre>'


def _checks(checks: object, caps: Caps) -> str:
    """Every check on a line, nested ones indented under their group: pass or FAIL, its
    detail and what it observed (a failed one in a ``check-fail`` span); after
    :data:`MAX_CHECKS` only a count."""
    lines: list[str] = []
    seen = 0

    def walk(found: object, depth: int) -> None:
        nonlocal seen
        for check in found if isinstance(found, list) else []:
            if not isinstance(check, dict):
                continue
            seen += 1
            if seen <= MAX_CHECKS:
                ok = check.get("passed") is True
                observed, _ = cut(_compact(check.get("observed")), caps.observed)
                detail = f": {check['detail']}" if check.get("detail") else ""
                said = f"{'· ' * depth}{'✓ pass' if ok else '✗ FAIL'} {check.get('name')}{detail}"
                said = esc(f"{said}; observed: {observed}")
                lines.append(said if ok else f'<span class="check-fail">{said}</span>')
            walk(check.get("children"), depth + 1)

    walk(checks, 0)
    lines += [esc(f"and {seen - MAX_CHECKS} more checks")] if seen > MAX_CHECKS else []
    return f'<p class="checks">{"<br>".join(lines)}</p>' if lines else "<p>no checks</p>"


def _usage(record: Mapping[str, Any]) -> str:
    sample = sample_of(dict(record)) if record.get("outcome") != "error" else None
    found = record.get("usage")
    usage: Mapping[str, Any] = found if isinstance(found, dict) else {}
    parts = []
    for name in ("input_tokens", "output_tokens"):
        value = number(usage.get(name))
        parts.append(f"{value:.0f}" if value is not None else "-")
    tokens = f"tokens {parts[0]} in / {parts[1]} out"
    if sample is not None and (
        sample.estimated or number(usage.get("reasoning_tokens")) is not None
    ):
        tokens += f" / {sample.reasoning:.0f} reasoning{' (est.)' if sample.estimated else ''}"
    return tokens


def sample_html(record: Mapping[str, Any], caps: Caps) -> str:
    """One sample: outcome, latency, tokens and finish; its checks, error, answer and
    reasoning."""
    outcome = str(record.get("outcome"))
    latency = number(record.get("latency_ms"))
    facts = [f"sample {record.get('sample', '-')}: {outcome}"]
    facts += [f"{latency:,.0f} ms" if latency is not None else "no latency", _usage(record)]
    facts += [f"finish {record['finish']}"] if record.get("finish") else []
    facts += ["cached"] if record.get("cached") else []
    attempts = number(record.get("attempts"))
    facts += [f"{attempts:.0f} attempts"] if attempts is not None and attempts > 1 else []
    out = [f'<p class="facts">{esc(" · ".join(facts))}</p>', _checks(record.get("checks"), caps)]
    if record.get("error"):
        out.append(_text("error", str(record["error"]), caps.answer))
    calls = _calls(record.get("tool_calls"))
    if calls:  # the calls as made, apart from the answer (a calls-only reply has none)
        out.append(_text(f"tool calls ({len(calls)})", "\n".join(calls), caps.answer))
    answer = str(record.get("answer") or "")
    if answer or not calls:
        out.append(_text("answer", answer, caps.answer, record.get("answer_chars")))
    reasoning = str(record.get("reasoning") or "")
    if reasoning:
        shown, note = cut(reasoning, caps.reasoning, _int(record.get("reasoning_chars")))
        length = _int(record.get("reasoning_chars")) or len(reasoning)
        said = f"reasoning, {length:,} characters" + (f"; {note}" if note else "")
        said += ": click to unfold"  # folded by CSS until focused (a details costs more)
        out.append(f'<pre class="fold" tabindex="0" data-label="{esc(said)}">{esc(shown)}</pre>')
    return "".join(out)


def _calls(found: object) -> list[str]:
    """A record's tool calls as ``name(arguments)`` lines (the raw text as sent)."""
    if not isinstance(found, list):
        return []
    out = []
    for call in found:
        if isinstance(call, Mapping):
            error = f"  [{call['error']}]" if call.get("error") else ""
            out.append(f"{call.get('name', '?')}({call.get('raw', '')}){error}")
    return out


def _int(value: object) -> int | None:
    found = number(value)
    return None if found is None else int(found)


def _baseline(cell: Cell, caps: Caps) -> str:
    """The baseline's outcomes, and its answer beside this run's when they differ."""
    item = cell.item
    was = item.get("baseline_outcomes")
    now = [str(r.get("outcome")) for r in cell.records]
    if not isinstance(was, list) or (was == now and "baseline_answer" not in item):
        return ""  # no baseline, or nothing changed
    date = f" of {item['baseline_date']}" if item.get("baseline_date") else ""
    line = f"baseline{date}: {' '.join(map(str, was)) or '-'}; this run: {' '.join(now)}"
    out = [f'<p class="facts">{esc(line)}</p>']
    before = item.get("baseline_answer")
    shown = next((r for r in cell.records if r.get("outcome") != "pass"), None)
    shown = shown or (cell.records[0] if cell.records else None)
    after = str(shown.get("answer") or "") if shown is not None else ""
    if isinstance(before, str) and before != after:
        which = f"this run's answer (sample {shown.get('sample') if shown else '-'})"
        out.append('<div class="versus">')
        out += [_text("baseline answer", before, caps.answer), _text(which, after, caps.answer)]
        out.append("</div>")
    return "".join(out)


def _failed(checks: object) -> list[dict[str, Any]]:
    """The checks that failed, the innermost of a group that failed."""
    found = []
    for check in checks if isinstance(checks, list) else []:
        if isinstance(check, dict) and check.get("passed") is not True:
            inner = _failed(check.get("children"))
            found += inner or [check]
    return found


def why(cell: Cell, caps: Caps) -> str:
    """Why a cell does not pass, first thing in its panel: the first sample that did not
    pass, its failed checks (up to three) with what they observed, or its error."""
    bad = next((r for r in cell.records if r.get("outcome") != "pass"), None)
    if cell.passed or bad is None:
        return ""
    where = f"sample {bad.get('sample', '-')} {bad.get('outcome')}"
    if bad.get("error"):
        said = [f"{where}: {cut(str(bad['error']), caps.observed)[0]}"]
    else:
        said = [
            f"{where}: {c.get('name')}{': ' + str(c['detail']) if c.get('detail') else ''}"
            f" (observed: {cut(_compact(c.get('observed')), caps.observed)[0]})"
            for c in _failed(bad.get("checks"))[:3]
        ] or [f"{where} (finish {bad.get('finish') or '-'})"]
    return "".join(f'<p class="why">{esc(line)}</p>' for line in said)


def cell_html(
    row: Row, column: Column, caps: Caps, first: Column, css: str = "", marked: bool = True
) -> str:
    """The ``<td>`` of ``row`` in ``column`` (``css``: the column's classes; ``marked``:
    show the change against the baseline); a dash when the case did not run there."""
    cell = row.cells.get(column)
    if cell is None:
        return f'<td class="none {css}" title="not run in this column">-</td>'
    flip = row.flipped(column)
    classes = [f"o-{cell.outcome}", *(["regressed"] if cell.regressed else [])]
    classes += [*(["flip"] if flip else []), *([css] if css else [])]
    score = f" {cell.score:.2f}" if cell.score is not None else ""
    runs = f" <i>{cell.passes}/{cell.samples}</i>" if cell.samples > 1 else ""
    kind = cell.change.replace(" ", "-")
    mark = f' <em class="mark m-{kind}">{esc(cell.mark)}</em>' if cell.mark and marked else ""
    said = "passes" if cell.passed else "does not pass"
    flipped = f' <span class="flip" title="{esc(f"{said} here, unlike {first.name}")}">≠</span>'
    head = f"<b>{esc(cell.outcome)}</b>{esc(score)}{runs}{mark}{flipped if flip else ''}"
    prompt = prompt_text(cell.records[0].get("request")) if cell.records else ""
    panel = [why(cell, caps), _baseline(cell, caps)]
    panel += [_text("prompt", prompt, caps.prompt)] if prompt else []
    several = len(cell.records) > 1  # then each sample in a box of its own
    panel += [
        f'<div class="sample">{sample_html(r, caps)}</div>' if several else sample_html(r, caps)
        for r in cell.records
    ]
    return (
        f'<td class="{" ".join(classes)}"><details><summary>{head}</summary>'
        f'<div class="panel">{"".join(panel)}</div></details></td>'
    )
