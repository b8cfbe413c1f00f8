"""The run ``glm-harness merge`` makes of shards, pure: its items rebuilt for the
end-of-run table, its ``summary.json`` document and its end-of-run lines.

items.jsonl holds the gate's side of each item (outcome, samples' outcomes, change, the
baseline's outcomes); the table also needs each sample's latency, tokens, reasoning length
and tool calls, which the records hold. :func:`item_summaries` puts the two together into
the summary dicts a run keeps (``reports.terminal.record`` plus the gate's fields).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from harness.gate.merge import Merged, ShardRun
from harness.gate.runs import Key, key_of
from harness.gate.verdicts import INTERRUPTED
from harness.reports.endrun import (
    change_list,
    decision_lines,
    endpoint_text,
    judge_lines,
    requests_line,
    sample_line,
    server_change_lines,
    summary_document,
)
from harness.reports.terminal import check_value, inconsistent_verdicts, shorten, summary_lines


def item_summaries(merged: Merged) -> list[dict[str, Any]]:
    """Each item line with its samples' figures from the records (a sample whose record
    was lost only lacks its figures; its outcome is in the item line)."""
    by: dict[Key, list[dict[str, Any]]] = defaultdict(list)
    for record in merged.parsed:
        by[key_of(record)].append(record)
    found: dict[str, list[int]] = {}
    for run in merged.runs:
        sampled = run.summary.get("sampled")
        found.update(sampled if isinstance(sampled, dict) else {})
    return [
        _item(line, sorted(by[key_of(line)], key=_index), found.get(str(line["suite"])))
        for line in merged.items
    ]


def _index(record: dict[str, Any]) -> int:
    index = record.get("sample")
    return index if isinstance(index, int) else 0


def _item(line: dict[str, Any], done: list[dict[str, Any]], sampled: Any) -> dict[str, Any]:
    graded = [r for r in done if r.get("error") is None]
    usage: list[dict[str, Any]] = [
        r["usage"] if isinstance(r.get("usage"), dict) else {} for r in done
    ]
    calls = [len(r.get("tool_calls") or ()) for r in done]
    odd = [
        f"sample {r.get('sample')}: {said}"
        for r in done
        for said in inconsistent_verdicts(c for c in r.get("checks") or () if isinstance(c, dict))
    ]
    return {
        **_shown(line, done),
        **line,
        **({"judge_inconsistent": odd} if odd else {}),
        **({"sampled": list(sampled)} if sampled else {}),
        "cached": sum(1 for r in done if r.get("cached")),
        "latency_ms": [r["latency_ms"] for r in graded if r.get("latency_ms") is not None],
        "first_answer_ms": [
            r["first_answer_ms"] for r in done if r.get("first_answer_ms") is not None
        ],
        "output_tokens": [u["output_tokens"] for u in usage if u.get("output_tokens") is not None],
        "reasoning_chars": [
            r.get("reasoning_chars") or len(r.get("reasoning") or "") for r in graded
        ],
        **({"tool_calls": calls} if any(calls) else {}),
        "reasoning_tokens": [
            u["reasoning_tokens"] for u in usage if u.get("reasoning_tokens") is not None
        ],
    }


def _shown(line: dict[str, Any], done: list[dict[str, Any]]) -> dict[str, Any]:
    """What a run keeps of a failing item's sample to show (its answer, failed checks and
    error): a failed sample first, then a truncated one, then an error, as a run picks."""
    bad = next(
        (r for outcome in ("fail", "truncated", "error") for r in done if r["outcome"] == outcome),
        None,
    )
    if bad is None or line["outcome"] == "pass":
        return {}
    checks = [c for c in bad.get("checks") or () if isinstance(c, dict) and not c.get("passed")]
    return {
        "answer": shorten(str(bad.get("answer") or ""), 4000),
        "failed_checks": [
            f"{c.get('name')}: {c.get('detail')} [observed: {check_value(c.get('observed'))}]"
            for c in checks
        ],
        **({"error": bad["error"]} if bad.get("error") is not None else {}),
    }


def canary(runs: Sequence[ShardRun]) -> dict[str, Any] | None:
    """The canaries' finding: a shard's that stopped its run, else the first shard's."""
    found: list[dict[str, Any]] = [
        r.summary["canary"] for r in runs if isinstance(r.summary.get("canary"), dict)
    ]
    stopped = [c for c in found if c.get("state") in ("failed", "error")]
    return (stopped or found)[0] if found else None


def server_changes(runs: Sequence[ShardRun]) -> dict[str, str]:
    out: dict[str, str] = {}
    for run in runs:
        said = run.summary.get("server_changes")
        out.update(said if isinstance(said, dict) else {})
    return out


def shard_data(merged: Merged) -> dict[str, Any]:
    """summary.json's ``shard`` of a merged run: which shards of how many, from which runs,
    which are missing (``--allow-partial``), and the torn record lines left out."""
    return {
        "of": merged.of,
        "merged": [run.shard[0] for run in merged.runs],
        "missing": list(merged.missing),
        **({"empty": list(merged.empty)} if merged.empty else {}),
        "runs": {
            str(run.shard[0]): str(run.summary.get("run_id", run.path.name)) for run in merged.runs
        },
        **({"notes": merged.notes()} if merged.notes() else {}),
    }


def summary(
    merged: Merged,
    items: Sequence[dict[str, Any]],
    head: dict[str, Any],
    tail: dict[str, Any],
) -> dict[str, Any]:
    """summary.json of the merged run, with the keys a run writes: ``head`` gives its run
    id, time and exit status, ``tail`` its requests, losses, decisions, efforts, budgets."""
    first = merged.runs[0].summary
    found = canary(merged.runs)
    changes = server_changes(merged.runs)
    status = int(head["exit_status"])
    baselines = list(dict.fromkeys(b for r in merged.runs for b in r.summary.get("baselines", ())))
    return summary_document(
        items,
        {
            **head,
            "interrupted": status == INTERRUPTED,
            "endpoint": first.get("endpoint"),
            "model": first.get("model"),
            **{k: first[k] for k in ("model_file", "model_sha256") if k in first},
            "server": first.get("server"),
            **({"server_changes": changes} if changes else {}),
            **({"canary": found} if found is not None else {}),
        },
        {"shard": shard_data(merged), **tail, "baselines": baselines},
    )


def lines(
    merged: Merged, items: Sequence[dict[str, Any]], data: dict[str, Any], where: str
) -> list[str]:
    """What a run prints at its end, for the merged run whose summary is ``data`` and
    whose folder is ``where``: the shards merged first, then the table, the request
    counters, the changes against baselines, the paired tests and where the records are."""
    given = ", ".join(f"{run.shard[0]}/{run.shard[1]} {run.path}" for run in merged.runs)
    out = [f"merged: shard{'s' if len(merged.runs) > 1 else ''} {given} -> {where}"]
    out += [f"shard {k}/{merged.of}: no case ran in it (--empty-shard)" for k in merged.empty]
    out += [f"WARNING {note}" for note in merged.notes()]
    changes = data.get("server_changes") or {}
    out += server_change_lines(changes)
    for run in merged.runs:
        state = (run.summary.get("canary") or {}).get("state")
        if state in ("failed", "error"):
            said = "failed" if state == "failed" else "could not run"
            out.append(f"{run.label}: canary {said}; nothing of its suites was sent")
    shown = str(data.get("model") or "-")
    if data.get("model_sha256"):
        shown += f" (sha256:{str(data['model_sha256'])[:12]})"
    out += [endpoint_text(data.get("endpoint"), shown), *sample_line(items)]
    out += summary_lines(items)
    out += [f"effort: {n['text']}" for n in data["ignored_efforts"]]
    out += [f"thinking budget: {n['text']}" for n in data["budgets"]]
    out += [requests_line(data["requests"]), *judge_lines(data["requests"])]
    out += change_list(items, changes)
    out += [f"baselines: {b}" for b in data["baselines"]]
    out += decision_lines(data["decisions"], changes)
    out.append(f"records: {where}/records.jsonl")
    lost = int(data.get("records_lost", 0))
    if lost:
        out.append(
            f"WARNING records: {lost} record{'' if lost == 1 else 's'} not written in the "
            f"shards ({data.get('records_lost_reason')}); the verdicts above are complete"
        )
    return out + [f"WARNING {problem}" for problem in data.get("not_written", ())]


def markdown(merged: Merged, items: Sequence[dict[str, Any]], data: dict[str, Any]) -> str:
    """``merge --report FILE.md``: the merged run as ``--glm-report`` writes a run, for a
    pull request comment; the shards merged and what is missing said under the title."""
    from harness.reports.markdown import markdown_report

    given = ", ".join(
        f"{k}/{merged.of}" for k in sorted([*merged.empty, *(r.shard[0] for r in merged.runs)])
    )
    states = [(run.summary.get("canary") or {}).get("state") for run in merged.runs]
    stopped = next((s for s in states if s in ("failed", "error")), None)
    changes = data.get("server_changes") or {}
    return markdown_report(
        items,
        run_id=str(data["run_id"]),
        endpoint=data.get("endpoint"),
        model=str(data.get("model") or "-"),
        requests=data["requests"],
        baseline_lines=data["baselines"],
        decisions=[d for d in data["decisions"] if d["gates"]],
        ignored=[n["text"] for n in data["ignored_efforts"]],
        exit_status=int(data["exit_status"]),
        notices=[
            *server_change_lines(changes),
            f"merged from shards {given} of {merged.of}",
            *(f"shard {k}/{merged.of}: no case ran in it" for k in merged.empty),
            *merged.notes(),
        ],
        server_changed=changes,
        stopped={"failed": "canary failed", "error": "canary could not run"}.get(str(stopped)),
    )
