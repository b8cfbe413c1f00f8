"""``glm-harness judge-agreement LABELS.jsonl``: does the judge agree with hand labels?

Each line of LABELS.jsonl is one labelled answer, in one of two forms:

- ``{"label": "pass", "judge": "fail"}``: both verdicts given (``id`` optional);
- ``{"suite": "explanations", "case": "gravity", "label": "pass"}`` with ``--run RUN``: the
  judge's verdict is read from that run's records (``api``, ``effort``, ``sample`` narrow
  the match and default to the only one there is; ``check`` picks the n-th judge check of
  the case, 0 by default).

A label is ``true``/``false`` or ``"pass"``/``"fail"`` (any other string is a category of
its own). Prints accuracy with a Wilson 95% interval, Cohen's kappa, the confusion matrix
and the disagreements. Samples where the judge gave no verdict are counted, not scored.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tabulate import tabulate

from harness.errors import AgreementError
from harness.gate.compare import CompareError, read_records
from harness.gate.stats import wilson

EXIT_OK, EXIT_INVALID = 0, 2
_WORDS = {True: "pass", False: "fail"}
# Landis & Koch (1977), the usual reading of kappa: above each bound, that word
BANDS = (
    (0.0, "slight"), (0.2, "fair"), (0.4, "moderate"), (0.6, "substantial"),
    (0.8, "almost perfect"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Agreement:
    labelled: int
    scored: int  # labelled items with a judge verdict
    no_verdict: list[str]
    accuracy: float
    accuracy_ci: tuple[float, float]
    kappa: float | None  # None: undefined (both raters used one and the same category)
    reading: str
    categories: list[str]
    confusion: dict[str, dict[str, int]]  # human label -> judge verdict -> count
    disagreements: list[dict[str, str]]


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's kappa of (rater A, rater B) pairs: (p_o - p_e) / (1 - p_e)."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(first[k] * second[k] for k in first) / (n * n)
    return None if expected == 1 else (observed - expected) / (1 - expected)


def _label(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return _WORDS[value]
    if isinstance(value, str) and value.strip():
        return value.strip().lower()
    raise AgreementError(f'{where}: expected true, false or a label such as "pass", got {value!r}')


def _judge_verdicts(run: str, results: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(suite, case) -> the run's samples of that case (their records)."""
    try:
        _, records = read_records(run, results)
    except CompareError as exc:
        raise AgreementError(str(exc)) from None
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        samples.setdefault((str(record["suite"]), str(record["case"])), []).append(record)
    return samples


def _from_run(
    item: dict[str, Any], where: str, samples: dict[tuple[str, str], list[dict[str, Any]]]
) -> str | None:
    """The judge's verdict on the labelled sample; None when the judge gave none."""
    for key in ("suite", "case"):
        if not isinstance(item.get(key), str):
            raise AgreementError(f"{where}: {key}: missing (give judge, or suite and case)")
    found = samples.get((item["suite"], item["case"]), [])
    for key in ("api", "effort", "sample"):
        if key in item:
            found = [r for r in found if r.get(key) == item[key]]
    what = f"{item['suite']}::{item['case']}"
    if len(found) != 1:
        many = "more than one sample; give api, effort and sample" if found else "no sample"
        raise AgreementError(f"{where}: {what}: {many} in the run")
    judges = [c for c in found[0].get("checks", []) if c.get("name") == "judge"]
    index = item.get("check", 0)
    if not isinstance(index, int) or not 0 <= index < len(judges):
        raise AgreementError(
            f"{where}: check: {what} has {len(judges)} judge check(s), no {index!r}"
        )
    if found[0].get("outcome") == "error" and "score" not in judges[index].get("observed", {}):
        return None
    return _WORDS[bool(judges[index].get("passed"))]


def measure(labels: Path, run: str | None = None, results: Path = Path("results")) -> Agreement:
    """Read the labels (and the run) and measure the agreement."""
    try:
        lines = labels.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise AgreementError(f"{labels}: cannot read it ({exc})") from None
    samples = _judge_verdicts(run, results) if run is not None else None
    pairs: list[tuple[str, str, str]] = []  # id, human, judge
    missing: list[str] = []
    for number, line in ((n, text) for n, text in enumerate(lines, 1) if text.strip()):
        where = f"{labels}:{number}"
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise AgreementError(f"{where}: not JSON ({exc})") from None
        if not isinstance(item, dict) or "label" not in item:
            raise AgreementError(f"{where}: label: missing (each line is an object with label)")
        ident = str(
            item.get("id")
            or (f"{item['suite']}::{item.get('case')}" if "suite" in item else f"line {number}")
        )
        human = _label(item["label"], f"{where}: label")
        if "judge" in item:
            judge: str | None = _label(item["judge"], f"{where}: judge")
        elif samples is None:
            raise AgreementError(f"{where}: judge: missing, and no --run to read it from")
        else:
            judge = _from_run(item, where, samples)
        if judge is None:
            missing.append(ident)
        else:
            pairs.append((ident, human, judge))
    if not pairs:
        raise AgreementError(f"{labels}: no labelled item with a judge verdict")
    n, agree = len(pairs), sum(h == j for _, h, j in pairs)
    kappa = cohen_kappa([(h, j) for _, h, j in pairs])
    categories = sorted({h for _, h, _ in pairs} | {j for _, _, j in pairs})
    confusion = {h: dict.fromkeys(categories, 0) for h in categories}
    for _, h, j in pairs:
        confusion[h][j] += 1
    reading = "undefined: both used one and the same label" if kappa is None else next(
        (word for bound, word in reversed(BANDS) if round(kappa, 9) > bound), "poor"
    )  # fmt: skip
    return Agreement(
        labelled=n + len(missing), scored=n, no_verdict=missing, accuracy=agree / n,
        accuracy_ci=wilson(agree, n), kappa=kappa, reading=reading, categories=categories,
        confusion=confusion,
        disagreements=[{"id": i, "label": h, "judge": j} for i, h, j in pairs if h != j],
    )  # fmt: skip


def render(result: Agreement, fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps(asdict(result), indent=2) + "\n"
    low, high = result.accuracy_ci
    kappa = "-" if result.kappa is None else f"{result.kappa:.3f}"
    rows = [[f"label {h}", *(result.confusion[h][j] for j in result.categories)]
            for h in result.categories]  # fmt: skip
    lines = [
        f"labelled: {result.labelled}; with a judge verdict: {result.scored}"
        + (f"; no verdict: {len(result.no_verdict)}" if result.no_verdict else ""),
        f"accuracy: {result.accuracy:.3f} [95% CI {low:.3f}, {high:.3f}]",
        f"Cohen's kappa: {kappa} ({result.reading})",
        "",
        tabulate(rows, ["", *(f"judge {j}" for j in result.categories)], tablefmt="simple"),
    ]
    if result.disagreements:
        lines += ["", "disagreements:"]
        lines += [
            f"  {d['id']}: label {d['label']}, judge {d['judge']}" for d in result.disagreements
        ]
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("labels", help="JSON lines: label (and judge, or suite/case with --run)")
    parser.add_argument("--run", default=None, help="read the judge's verdicts from this run")
    parser.add_argument("--results", default="results", help="where run ids are looked up")
    parser.add_argument("--format", choices=["text", "json"], default="text")


def main(args: argparse.Namespace) -> int:
    try:
        result = measure(Path(args.labels), args.run, Path(args.results))
    except AgreementError as exc:
        sys.stderr.write(f"glm-harness judge-agreement: {exc}\n")
        return EXIT_INVALID
    sys.stdout.write(render(result, args.format))
    return EXIT_OK
