"""Run records read back for comparison: ``records.jsonl`` -> samples by item, and
``items.jsonl`` -> the gate's verdict by item (:func:`read_items`).

A record's item is (suite, case, variant, api, effort, budget); records without a prompt
variant or a thinking budget (and those written before either existed) read ``""`` there.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import RunReadError

CHARS_PER_TOKEN = 4
AXES = ("variant", "api", "effort", "budget")  # what an item runs a case through, id order
Key = tuple[str, ...]  # suite, case, variant, api, effort, budget ("" for none)
RECORD_KEYS = ("suite", "case", "api", "effort", "outcome")  # what every record must have

CompareError = RunReadError  # the name compare's callers know


@dataclass(frozen=True, slots=True)
class Sample:
    """One graded (non-error) record, reduced to what is compared."""

    passed: bool
    reasoning: float
    estimated: bool  # reasoning is len(text)/4: the server reported 0 or nothing
    output: float | None
    latency_ms: float | None
    truncated: bool
    request: str  # path and body as canonical JSON: did both sides ask the same?


@dataclass(frozen=True, slots=True)
class Run:
    label: str
    samples: dict[Key, list[Sample]]  # every key seen, also those whose samples all errored
    errors: dict[Key, int]
    variant_order: dict[str, int] = field(default_factory=dict)  # place in a suite's prompts:


def sample_of(record: dict[str, Any]) -> Sample:
    """One graded record as compared (the reasoning estimate rule lives here)."""

    def _number(value: object) -> float | None:
        return None if isinstance(value, bool) or not isinstance(value, int | float) else value

    usage, text = record.get("usage"), record.get("reasoning")
    usage, text = usage if isinstance(usage, dict) else {}, text if isinstance(text, str) else ""
    reported = _number(usage.get("reasoning_tokens"))
    estimated = not reported and bool(text)
    chars = _number(record.get("reasoning_chars")) or len(text)  # the length before capping
    return Sample(
        passed=record["outcome"] == "pass",
        reasoning=chars / CHARS_PER_TOKEN if estimated else reported or 0.0,
        estimated=estimated,
        output=_number(usage.get("output_tokens")),
        latency_ms=_number(record.get("latency_ms")),
        truncated=record["outcome"] == "truncated" or record.get("finish") == "length",
        request=json.dumps(record.get("request"), sort_keys=True, default=str),
    )


def find_records(run: str, results: Path = Path("results")) -> Path:
    """The records.jsonl of ``run``: a records.jsonl, a run folder, or a run id under
    ``results/runs``."""
    found = [Path(run), Path(run, "records.jsonl"), results / "runs" / run / "records.jsonl"]
    path = next((candidate for candidate in found if candidate.is_file()), None)
    if path is None:
        raise CompareError(f"no run {run!r}: no records.jsonl there or in {results / 'runs'}")
    return path


def read_records(run: str, results: Path = Path("results")) -> tuple[Path, list[dict[str, Any]]]:
    """The records.jsonl of ``run`` (as :func:`find_records` takes it) and its records,
    each checked to be an object with suite, case, api, effort and outcome; raises
    ``CompareError`` naming the file and line of the first that is not. A last line cut
    short (no newline and not JSON: a run that stopped or a disk that filled while it was
    written) is skipped, and a warning on the ``harness`` logger says so."""
    path = find_records(run, results)
    try:
        lines = path.read_text(encoding="utf-8").split("\n")  # not splitlines: U+2028 is text
    except (OSError, UnicodeDecodeError) as exc:
        raise CompareError(f"{path}: cannot read it ({exc})") from None
    records = []
    for number, line in ((n, line) for n, line in enumerate(lines, 1) if line.strip()):
        try:
            record = json.loads(line)
        except ValueError as exc:
            if number == len(lines):  # the last line, with no newline after it: torn
                size = len(line.encode("utf-8"))
                logging.getLogger("harness").warning(
                    "%s: last line is incomplete (%d bytes), skipped", path, size
                )
                break
            raise CompareError(f"{path}:{number}: not a run record ({exc!r})") from None
        missing = [f for f in RECORD_KEYS if not isinstance(record, dict) or f not in record]
        if missing:
            raise CompareError(f"{path}:{number}: not a run record (no {missing[0]!r})")
        records.append(record)
    if not records:
        raise CompareError(f"{path}: no records")
    return path, _graded_once(path, records)


def _graded_once(path: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per sample of an item: the later where there are two, in the earlier's
    place. A pytest-xdist worker that dies has written the records of answers it fetched
    ahead; the worker started in its place runs those items again (its verdicts are the
    run's), so their samples are recorded twice."""
    kept: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in records:
        kept[(*key_of(record), str(record.get("sample", 0)))] = record
    twice = len(records) - len(kept)
    if twice:
        logging.getLogger("harness").warning(
            "%s: %d sample%s recorded twice (items ran again after a worker died); "
            "the later record is kept",
            path,
            twice,
            "" if twice == 1 else "s",
        )
    return list(kept.values())


def key_of(record: dict[str, Any]) -> Key:
    """A record's item: (suite, case, variant, api, effort, budget), "" where a record has
    no variant or no budget."""
    suite, case = str(record["suite"]), str(record["case"])
    variant, budget = record.get("variant") or "", record.get("budget")
    where = (str(variant), str(record["api"]), str(record["effort"]))
    return suite, case, *where, "" if budget is None else str(budget)


def load_run(run: str, results: Path = Path("results")) -> Run:
    """A run's records by item (:func:`key_of`); ``run`` as :func:`find_records` takes."""
    return run_of(*read_records(run, results))


def run_of(path: Path, records: Sequence[dict[str, Any]]) -> Run:
    """The records of one run (read from ``path``), by (suite, case, variant, api, effort)."""
    samples: dict[Key, list[Sample]] = defaultdict(list)
    errors: dict[Key, int] = defaultdict(int)
    order: dict[str, int] = {}
    for record in records:
        key = key_of(record)
        graded = samples[key]  # the key exists even when every sample errored
        errors[key] += record["outcome"] == "error"
        graded += [] if record["outcome"] == "error" else [sample_of(record)]
        index = record.get("variant_index")
        if key[2] and isinstance(index, int) and not isinstance(index, bool):
            order[key[2]] = min(order.get(key[2], index), index)
    return Run(path.parent.name, dict(samples), dict(errors), order)


def read_items(records: Path) -> tuple[dict[Key, dict[str, Any]], str]:
    """The items.jsonl beside ``records`` (the gate's verdict per item: its change against
    the baseline and the baseline's answer), by :func:`key_of`, and "" or why there is none:
    runs before it existed, interrupted runs and runs that wrote their baselines have none,
    and a file that cannot be read is no reason to refuse the records."""
    path = records.parent / "items.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        return {}, f"no {path.name} (a run that did not finish, wrote its baselines, or is older)"
    except (OSError, UnicodeDecodeError) as exc:
        return {}, f"{path.name} cannot be read ({exc})"
    found: dict[Key, dict[str, Any]] = {}
    for number, line in ((n, text) for n, text in enumerate(lines, 1) if text.strip()):
        try:
            item = json.loads(line)
            found[key_of(item)] = item
        except (ValueError, KeyError, TypeError):
            return {}, f"{path.name}:{number} is not an item line"
    return found, ""
