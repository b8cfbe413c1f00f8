"""Collection benchmark: how long does a 10,000-row dataset take to become pytest items?

It writes a throwaway project whose suite reads ``evals/data/rows.csv`` (``--rows`` rows:
id, text, label), renders a template per row and checks ``equals: "{{ label }}"`` (a check
rendered per row), then runs ``pytest --glm-suite --collect-only -q`` as a subprocess, which
sends nothing. For each shape it prints the wall time, CPU time and peak RSS of that
process (``os.wait4``), and the in-process time of ``load_suite`` alone:

- ``1 prompt x 1 API``: the issue's target (collected in under 2 s, RSS under 250 MB);
- ``2 prompts x 2 APIs``: four items a row, for scale.

pytest's own start-up is inside the wall time; ``--baseline`` also measures the same
command on a project with one row, so that what the rows cost shows apart.

    python benchmarks/collect.py                  # 10,000 rows
    python benchmarks/collect.py --rows 50000 --keep /tmp/collect
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 2.0
TARGET_RSS_MB = 250.0

SUITE = """\
dataset: data/rows.csv
apis: {apis}
{prompts}
expect:
  - equals: {{value: "{{{{ label }}}}", ignore_case: true}}
  - finished: true
"""
ONE = "template: ask.j2"
TWO = "prompts:\n  - {id: terse, template: ask.j2}\n  - {id: careful, template: careful.j2}"


def write_project(root: Path, rows: int, variants: int, apis: str) -> None:
    (root / "suites").mkdir(parents=True)
    (root / "evals" / "data").mkdir(parents=True)
    (root / "evals" / "ask.j2").write_text("Label this review: {{ text }}\n")
    (root / "evals" / "careful.j2").write_text("Read it twice.\n{{ text }}\nOne word.\n")
    lines = ["id,text,label", *(f"r{n},review number {n} of the set,positive" for n in range(rows))]
    (root / "evals" / "data" / "rows.csv").write_text("\n".join(lines) + "\n")
    suite = SUITE.format(apis=apis, prompts=ONE if variants == 1 else TWO)
    (root / "suites" / "rows.yaml").write_text(suite)


def collect(root: Path) -> dict[str, float]:
    """``pytest --glm-suite --collect-only`` in ``root``: wall s, CPU s, peak RSS MB, items."""
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("GLM_API_KEY", None)
    command = [sys.executable, "-m", "pytest", "-p", "harness.plugin", "--glm-suite"]
    command += ["--collect-only", "-q", "-p", "no:cacheprovider"]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, text=True)
    out = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"collection failed in {root}:\n{out[-2000:]}")
    items = sum(1 for line in out.splitlines() if "::" in line)
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss": usage.ru_maxrss / 1024,
        "items": items,
    }


def load_only(root: Path) -> float:
    """``load_suite`` alone, in this process (best of 3)."""
    from harness.suites.loader import load_suite

    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        load_suite(root / "suites" / "rows.yaml", evals_dir=root / "evals")
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, default=None, help="keep the projects here")
    parser.add_argument("--baseline", action="store_true", help="also time a one-row project")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="glm-collect-"))
    try:
        shapes = [("1 prompt x 1 API", 1, "[chat]"), ("2 prompts x 2 APIs", 2, "[chat, responses]")]
        print(f"collecting a {args.rows:,}-row CSV dataset (pytest --glm-suite --collect-only)")
        for number, (label, variants, apis) in enumerate(shapes):
            root = base / f"shape{number}"
            write_project(root, args.rows, variants, apis)
            found = collect(root)
            loaded = load_only(root)
            verdict = ""
            if number == 0:
                ok = found["wall"] < TARGET_S and found["rss"] < TARGET_RSS_MB
                verdict = f"  target < {TARGET_S:g} s, < {TARGET_RSS_MB:g} MB: "
                verdict += "PASS" if ok else "MISS"
            print(
                f"  {label}: {found['items']:,.0f} items, wall {found['wall']:.2f} s, "
                f"CPU {found['cpu']:.2f} s, peak RSS {found['rss']:.0f} MB; "
                f"load_suite {loaded:.2f} s{verdict}"
            )
        if args.baseline:
            root = base / "one-row"
            write_project(root, 1, 1, "[chat]")
            found = collect(root)
            print(f"  one row (pytest and plugin start-up): wall {found['wall']:.2f} s")
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
