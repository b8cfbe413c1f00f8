"""HTML report benchmark: how big is a 2,000-case run's page, and how fast does Chromium open it?

It writes a throwaway run folder shaped like a real one: ``--cases`` cases (default 2,000)
x 2 APIs x 2 efforts (``--columns`` 4; 8 adds two prompt variants, 2 keeps one effort),
``--samples`` samples each (default 1), with GLM-sized texts (a 600-character
prompt, a 1,500-character answer, 6,000 characters of reasoning, two checks), 8% failing,
1% truncated, 0.5% errors, and an items.jsonl where 3% of the items regressed against their
baseline (each with its baseline answer). Then:

1. ``build_page``: wall time and the page's size (target < 10 MB);
2. headless Chromium (``harness.reports.devtools``, no network): the time from navigating to
   the page to its load event, and to the first frame painted after it (target < 3 s),
   best of ``--repeat`` (default 3) fresh tabs; then the time a filter takes to apply (the
   "failing cells only" checkbox clicked, until the next frame).

It prints the figures next to the targets with PASS/MISS; it exits 0 even on a MISS unless
``--strict``, and 3 when no Chromium is found (``scripts/install-browser``).

    python benchmarks/html_report.py                   # 2,000 cases x 4 columns
    python benchmarks/html_report.py --columns 8 --keep /tmp/html-bench
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.reports.browser import find_browser  # noqa: E402
from harness.reports.devtools import Session  # noqa: E402
from harness.reports.html import build_page  # noqa: E402

TARGET_MB, TARGET_S = 10.0, 3.0
WORDS = ["the", "model", "considers", "each", "step", "of", "the", "problem", "before"]
WORDS += ["it", "answers", "with", "care"]
FRAME = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(1))))"
ERROR = "HTTP 503: overloaded (3 attempts)"


def text(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < chars:
        words.append(rng.choice(WORDS))
    return " ".join(words)[:chars]


def columns(count: int) -> list[tuple[str, str, str]]:
    variants = ("terse", "careful") if count >= 8 else ("",)
    efforts = ("low", "high") if count >= 4 else ("high",)
    return [(v, a, e) for v in variants for a in ("chat", "responses") for e in efforts]


def draw(rng: random.Random) -> str:
    found = rng.random()  # 0.5% errors, 1% truncated, 8% failing
    odds = (("error", 0.005), ("truncated", 0.015), ("fail", 0.095))
    return next((outcome for outcome, below in odds if found < below), "pass")


def checks(outcome: str) -> list[dict[str, Any]]:
    if outcome == "error":
        return []
    finished = {"name": "finished", "passed": outcome != "truncated", "observed": "stop"}
    label = {"name": "icontains", "passed": outcome == "pass", "observed": outcome == "pass"}
    label["detail"] = "'positive' in answer"
    return [{"detail": "", "weight": 1.0, "children": [], **c} for c in (finished, label)]


def record(rng: random.Random, texts: dict[str, str], where: dict[str, Any], outcome: str) -> str:
    body = {"model": "glm", "messages": [{"role": "user", "content": texts["prompt"]}]}
    usage = {"input_tokens": 150, "output_tokens": 1900, "reasoning_tokens": 1500}
    return json.dumps({
        **where, "request": {"path": f"/v1/{where['api']}", "body": body},
        "answer": "" if outcome == "error" else texts["answer"], "reasoning": texts["reasoning"],
        "usage": usage, "latency_ms": 800 + rng.random() * 4000,
        "finish": "length" if outcome == "truncated" else "stop",
        "error": ERROR if outcome == "error" else None, "cached": False, "attempts": 1,
        "score": float(outcome == "pass"), "outcome": outcome, "checks": checks(outcome),
    })  # fmt: skip


def write_run(folder: Path, cases: int, count: int, samples: int) -> int:
    """records.jsonl and items.jsonl of a synthetic run; the number of records."""
    rng = random.Random(17)
    texts = {name: text(rng, n) for name, n in (("prompt", 600), ("answer", 1500))}
    texts["reasoning"] = text(rng, 6000)
    folder.mkdir(parents=True)
    lines, items = [], []
    for case in range(cases):
        for variant, api, effort in columns(count):
            where: dict[str, Any] = {"suite": "bench", "case": f"r{case}", "api": api}
            where |= {"effort": effort}
            if variant:
                where |= {"variant": variant, "variant_index": int(variant == "careful")}
            outcomes = [draw(rng) for _ in range(samples)]
            lines += [record(rng, texts, {**where, "sample": n}, o) for n, o in enumerate(outcomes)]
            verdict = "pass" if all(o == "pass" for o in outcomes) else outcomes[0]
            regressed = verdict != "pass" and rng.random() < 0.35  # about 3% of all items
            change = "regression" if regressed else "pass" if verdict == "pass" else "known failure"
            item = {**where, "outcome": verdict, "change": change}
            item |= {"baseline_outcomes": ["pass"] * samples}
            item |= {"baseline_answer": text(rng, 1200)} if regressed else {}
            items.append(json.dumps(item))
    (folder / "records.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "items.jsonl").write_text("\n".join(items) + "\n", encoding="utf-8")
    return len(lines)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--columns", type=int, choices=(2, 4, 8), default=4)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="keep the run and page here")
    parser.add_argument("--strict", action="store_true", help="exit 1 on a MISS")
    args = parser.parse_args()
    binary = find_browser()
    if binary is None:
        sys.stderr.write("html_report: no Chromium found; run scripts/install-browser\n")
        return 3
    base = args.keep or Path(tempfile.mkdtemp(prefix="glm-html-bench-"))
    try:
        run = base / "run"
        records = write_run(run, args.cases, args.columns, args.samples)
        started = time.perf_counter()
        page = build_page(str(run))
        built = time.perf_counter() - started
        out = base / "report.html"
        out.write_text(page.text, encoding="utf-8")
        size = out.stat().st_size / 1e6
        cells = records // args.samples
        shape = f"{args.cases:,} cases x {len(columns(args.columns))} columns x {args.samples}"
        data = (run / "records.jsonl").stat().st_size / 1e6
        print(f"{shape} sample(s): {cells:,} cells, {records:,} records ({data:.1f} MB)")
        print(f"  build_page: {built:.2f} s")
        each = f"{size * 1e6 / cells:,.0f} bytes a cell"
        target = f"target < {TARGET_MB:g} MB: {verdict(size < TARGET_MB)}"
        print(f"  page: {size:.2f} MB ({each})  {target}")
        loads, paints, filters = [], [], []
        for _ in range(args.repeat):
            with Session(binary, window=(1200, 900)) as tab:
                loads.append(tab.open(out))
                started = time.perf_counter()
                tab.evaluate(FRAME)
                paints.append(loads[-1] + time.perf_counter() - started)
                started = time.perf_counter()
                tab.evaluate(f"document.querySelector('label[for=only-failing]').click(), {FRAME}")
                filters.append(time.perf_counter() - started)
                hidden = "document.querySelector('tr.case:not(.fails)').getClientRects().length"
                assert tab.evaluate(hidden) == 0, "the filter did not hide a passing case"
        load, paint = min(loads), min(paints)
        print(
            f"  Chromium: load event {load:.2f} s, first frame after it {paint:.2f} s"
            f" (best of {args.repeat})  target < {TARGET_S:g} s: {verdict(paint < TARGET_S)}"
        )
        print(f"  'failing cells only' applied in {min(filters):.2f} s")
        ok = size < TARGET_MB and paint < TARGET_S
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
