"""Throughput benchmark (issue 18): every speed and memory figure, measured in one run.

The script starts the fake OpenAI-compatible server of ``benchmarks/fakeserver.py`` in a
child process ("Answer: 42" after ``--latency`` seconds, requests counted), writes
throwaway projects (``suites/bench.yaml`` with ``--cases`` cases) and runs pytest on them
as subprocesses, each one measured with ``os.wait4`` (wall, CPU of the process and of the
xdist workers it waited for, peak RSS):

0. warm-up: 10 cases, not measured, so that Python's bytecode caches exist as they do on
   any machine after the first run. Every run loads pytest and glm-harness only
   (``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 -p harness.plugin``, plus ``-p xdist`` for ``-n``);
1. pytest's floor: the same number of no-op items of a non-python file type (a conftest
   collector, one item per line), run by pytest alone: the CPU a case pytest itself costs;
2. one process, cold (``--glm-cache=refresh``): wall against the ideal ``cases x latency /
   concurrency`` and harness CPU a case against the floor; every item must pass and the
   server must see exactly one request per case;
3. ``-n 2`` (pytest-xdist), cold: the same figures, the same request count;
4. warm (``--glm-cache=use``): wall and requests received (none);
5. start-up: a one-case suite, warm cache (no request): the wall of a whole run;
6. memory (``--rss-cases``, default 10000; 0 skips): a cold run, peak RSS.

It prints the figures beside the targets of issue 18 with PASS/MISS for each; it exits 0
even on a MISS unless ``--strict``.

    python benchmarks/throughput.py                       # N=2000, 0.2 s, concurrency 64
    python benchmarks/throughput.py --cases 200 --rss-cases 0 --keep /tmp/bench
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from fakeserver import run_server

TARGET_RATIO = 1.10  # wall / ideal, one process and -n 2
TARGET_FLOOR = 1.5  # harness CPU a case / pytest's floor
TARGET_START_S = 1.0
TARGET_RSS_MB = 250.0
TARGET_RSS_CASES = 10_000
TARGET_WARM_S = 5.0
WORKERS = 2

FLOOR_CONFTEST = """
import pytest


class NoOp(pytest.Item):
    def runtest(self):
        pass

    def reportinfo(self):
        return self.path, 0, self.name


class Lines(pytest.File):
    def collect(self):
        for name in self.path.read_text().split():
            yield NoOp.from_parent(self, name=name)


def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".items":
        return Lines.from_parent(parent, path=file_path)
"""


# --- the benchmark ------------------------------------------------------------------------


def stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/stats", timeout=10) as response:
        data: dict[str, Any] = json.load(response)
    return data


def write_project(root: Path, cases: int, api: str) -> None:
    (root / "suites").mkdir(parents=True, exist_ok=True)
    (root / "evals").mkdir(exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")  # pins the rootdir to this folder
    lines = [
        "name: bench",
        'prompt: "Question {{ n }}"',
        f"apis: [{api}]",
        "efforts: [default]",
        "params: {max_output_tokens: 64}",
        "extract: 'Answer:\\s*(.+)'",
        "expect:",
        "  - finished: true",
        "cases:",
    ]
    for i in range(cases):
        lines += [f"  - id: c{i:05d}", f"    vars: {{n: {i}}}", "    expect: [{number: 42}]"]
    (root / "suites" / "bench.yaml").write_text("\n".join(lines) + "\n")


def write_floor(root: Path, cases: int) -> None:
    """pytest's floor: ``cases`` no-op items from one non-python file."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "conftest.py").write_text(FLOOR_CONFTEST)
    (root / "bench.items").write_text("".join(f"c{i:05d}[chat-default]\n" for i in range(cases)))


def measure(root: Path, cmd: list[str], label: str) -> dict[str, Any]:
    """Runs ``cmd`` in ``root``; its wall s, CPU s (with the children it waited for), peak
    RSS MB and exit code."""
    # Like a user's machine, let Python keep its bytecode caches (a warm-up run fills them).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GLM_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    # pytest and glm-harness only: other plugins installed beside them would be measured too
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    log = root / f"{label}.log"
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss": usage.ru_maxrss / 1024,
        "code": os.waitstatus_to_exitcode(status),
        "log": log,
    }


def run_pytest(
    root: Path, url: str, args: argparse.Namespace, cache: str, label: str, *extra: str
) -> dict[str, Any]:
    """Runs the harness once; the figures of :func:`measure` and the requests it sent."""
    cmd = [sys.executable, "-m", "pytest", "-p", "harness.plugin", "--glm-suite", "-q"]
    cmd += ["-p", "no:cacheprovider", f"--glm-base-url={url}"]
    cmd += [f"--glm-concurrency={args.concurrency}", f"--glm-cache={cache}"]
    cmd += [f"--glm-results={root / 'results'}", *extra]
    before = stats(url)["requests"]
    with urllib.request.urlopen(f"{url}/mark", timeout=10):
        pass
    run = measure(root, cmd, label)
    after = stats(url)
    run["requests"] = after["requests"] - before
    run["in_flight"] = after["max_in_flight"]
    if after["first"] is not None:  # the requests' own span, start-up and collection aside
        run["span"] = after["last"] - after["first"]
    return run


def run_floor(root: Path, cases: int) -> dict[str, Any]:
    write_floor(root, cases)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    run = measure(root, cmd, "floor")
    run["requests"] = 0
    return run


def check(run: dict[str, Any], want_requests: int | None, label: str) -> None:
    """Exits 1 with the output's tail unless the run passed (and saw ``want_requests``)."""
    if run["code"] == 0 and want_requests in (None, run["requests"]):
        return
    tail = run["log"].read_text(errors="replace").splitlines()[-30:]
    print("\n".join(tail))
    want = "exit 0" + ("" if want_requests is None else f" and {want_requests} requests")
    print(
        f"{label}: exit code {run['code']}, server saw {run['requests']} requests "
        f"(want {want}); full output in {run['log']}"
    )
    sys.exit(1)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=2000, help="cases in the timed runs")
    p.add_argument("--latency", type=float, default=0.2, help="server seconds per request")
    p.add_argument("--concurrency", type=int, default=64, help="--glm-concurrency")
    p.add_argument("--api", choices=["chat", "responses"], default="chat")
    p.add_argument(
        "--rss-cases",
        type=int,
        default=TARGET_RSS_CASES,
        help="cases in the peak-RSS run (0 skips it)",
    )
    p.add_argument("--no-xdist", action="store_true", help="skip the -n 2 run")
    p.add_argument("--keep", type=Path, help="write the projects here and keep them")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=run_server, args=(args.latency, child), daemon=True)
    server.start()
    tmp = None  # a temp project is removed unless a run failed (its logs then stay)
    done = False
    try:
        if not parent.poll(30):
            raise SystemExit("the fake server did not start within 30 s")
        url = f"http://127.0.0.1:{parent.recv()}"
        if args.keep:
            root = args.keep.resolve()
        else:
            root = tmp = Path(tempfile.mkdtemp(prefix="glm-bench-"))
        runs: dict[str, dict[str, Any]] = {}
        warmup = root / "warmup"  # compiles bytecode caches; not measured
        write_project(warmup, 10, args.api)
        check(run_pytest(warmup, url, args, "off", "warmup"), 10, "warm-up run")
        runs["floor"] = run_floor(root / "floor", args.cases)
        check(runs["floor"], None, "pytest's floor")
        timed = root / "timed"
        write_project(timed, args.cases, args.api)
        runs["cold"] = run_pytest(timed, url, args, "refresh", "cold")
        check(runs["cold"], args.cases, "cold run")
        if not args.no_xdist:
            xdist = ("-p", "xdist", "-n", str(WORKERS))
            runs["xdist"] = run_pytest(timed, url, args, "refresh", "xdist", *xdist)
            check(runs["xdist"], args.cases, f"-n {WORKERS} run")
        runs["warm"] = run_pytest(timed, url, args, "use", "warm")
        check(runs["warm"], None, "warm run")  # its request count is a target, reported below
        one = root / "one"
        write_project(one, 1, args.api)
        check(run_pytest(one, url, args, "refresh", "one-cold"), 1, "one-case run")
        runs["start"] = run_pytest(one, url, args, "use", "one-warm")
        check(runs["start"], 0, "one-case warm run")
        if args.rss_cases > 0:
            rss_root = root / "rss"
            write_project(rss_root, args.rss_cases, args.api)
            runs["rss"] = run_pytest(rss_root, url, args, "off", "rss")
            check(runs["rss"], args.rss_cases, "RSS run")
        code = report(args, runs)
        done = True
        return code
    finally:
        server.terminate()
        server.join(5)
        if tmp is not None and done:
            shutil.rmtree(tmp, ignore_errors=True)


def report(args: argparse.Namespace, runs: dict[str, dict[str, Any]]) -> int:
    ideal = args.cases * args.latency / args.concurrency
    floor_ms = runs["floor"]["cpu"] / args.cases * 1000
    rows: list[tuple[str, str, str, bool | None]] = [
        ("cases (N)", f"{args.cases}", "", None),
        ("latency s", f"{args.latency:g}", "", None),
        ("concurrency (C)", f"{args.concurrency}", "", None),
        ("ideal s (N x latency / C)", f"{ideal:.2f}", "", None),
        ("pytest floor CPU ms / item", f"{floor_ms:.3f}", "", None),
        ("pytest floor wall s", f"{runs['floor']['wall']:.2f}", "", None),
    ]
    for key, label in (("cold", "one process"), ("xdist", f"-n {WORKERS}")):
        if key not in runs:
            continue
        run = runs[key]
        ratio = run["wall"] / ideal if ideal else float("inf")
        cpu_ms = run["cpu"] / args.cases * 1000
        rows += [
            (f"{label}: wall s", f"{run['wall']:.2f}", "", None),
            (f"{label}: wall / ideal", f"{ratio:.3f}", f"<= {TARGET_RATIO}", ratio <= TARGET_RATIO),
            (f"{label}: first request to last reply s", f"{run.get('span', 0):.2f}", "", None),
            (f"{label}: CPU ms / case", f"{cpu_ms:.3f}", "", None),
            (f"{label}: requests sent", f"{run['requests']}", f"{args.cases}", None),
        ]
        if key == "cold":
            x = cpu_ms / floor_ms
            rows += [
                ("one process: CPU / floor", f"{x:.2f}", f"<= {TARGET_FLOOR}", x <= TARGET_FLOOR),
                ("one process: peak RSS MB", f"{run['rss']:.1f}", "", None),
                ("server max in flight", f"{run['in_flight']}", "", None),
            ]
    warm, start = runs["warm"], runs["start"]
    rows += [
        (
            "warm rerun wall s",
            f"{warm['wall']:.2f}",
            f"< {TARGET_WARM_S:g}",
            warm["wall"] < TARGET_WARM_S,
        ),
        ("warm rerun requests", f"{warm['requests']}", "0", warm["requests"] == 0),
        (
            "start-up: 1-case run s",
            f"{start['wall']:.2f}",
            f"< {TARGET_START_S:g}",
            start["wall"] < TARGET_START_S,
        ),
    ]
    if "rss" in runs:
        rss = runs["rss"]["rss"]
        rows += [
            ("memory run cases", f"{args.rss_cases}", "", None),
            (
                "memory run peak RSS MB",
                f"{rss:.1f}",
                f"< {TARGET_RSS_MB:g} (for {TARGET_RSS_CASES})",
                rss < TARGET_RSS_MB,
            ),
        ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'figure':<{width}}  {'value':>10}  {'target':<22}  result")
    for name, value, target, ok in rows:
        verdict = "" if ok is None else ("PASS" if ok else "MISS")
        print(f"{name:<{width}}  {value:>10}  {target:<22}  {verdict}")
    missed = [name for name, _, _, ok in rows if ok is False]
    if args.keep:
        print(f"projects and logs kept in {args.keep}")
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
