"""The glm-harness command: thin wrappers around the pytest plugin and the library.

glm-harness run [PYTEST ARGS...]     pytest --glm-suite [args]  (every suite by default)
glm-harness validate [SUITE...]      load suites and print every problem; no requests
glm-harness local [--port N]         serve the local llama.cpp model in the foreground
glm-harness compare RUN [RUN2]       levels of a setting within a run (--by effort|api|prompt),
                                     or two runs on the same cases; --format text|md|json
glm-harness report RUN --html OUT    one self-contained HTML page: tables and charts
glm-harness merge RUN [RUN...]       one run of --glm-shard K/N runs: records, summary, gate
glm-harness doctor [--local]         is the endpoint ready? reach, auth, fields, both APIs
glm-harness judge-agreement LABELS   the judge against hand labels: accuracy, Cohen's kappa
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.errors import ConfigError, SuiteError

EXIT_OK = 0
EXIT_INVALID = 2
EXIT_USAGE = 4


def _validate(paths: Sequence[str], evals: str, out: list[str]) -> int:
    files: list[Path] = []
    for name in paths or ["suites"]:
        path = Path(name)
        files += sorted([*path.rglob("*.yaml"), *path.rglob("*.yml")]) if path.is_dir() else [path]
    from harness.suites.loader import load_suite

    status = EXIT_OK
    for file in files:
        try:
            suite = load_suite(
                file, evals_dir=Path(evals), display=file.as_posix(), project_root=Path.cwd()
            )
        except SuiteError as exc:
            out.extend(str(p) for p in exc.problems)
            status = EXIT_INVALID
            continue
        items = sum(len(c.apis) * len(c.efforts) for c in suite.cases)
        cases = len({case.id for case in suite.cases})
        prompts = f", {len(suite.variants)} prompts" if suite.variants else ""
        out.append(f"{file.as_posix()}: ok ({cases} cases{prompts}, {items} items)")
    if not files:
        out.append("no suite files found")
        status = EXIT_INVALID
    return status


def _local(port: int | None) -> int:
    from harness.local.server import MODEL_ALIAS, serve_forever

    def stop_on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_term)  # `kill` stops it as cleanly as Ctrl-C
    try:
        server = serve_forever(port=port)
    except ConfigError as exc:
        sys.stderr.write(f"glm-harness local: {exc}\n")
        return EXIT_USAGE
    try:
        sys.stdout.write(
            f"serving {MODEL_ALIAS} at {server.url} (/v1/chat/completions and /v1/responses); "
            f"Ctrl-C stops it\n  GLM_BASE_URL={server.url} pytest --glm-suite\n"
        )
        sys.stdout.flush()
        status = server.wait()
        sys.stderr.write(f"glm-harness local: the server exited with status {status}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        server.stop()


def _compare(args: argparse.Namespace) -> int:
    from harness.gate.compare import CompareError, compare_runs, load_run, render

    try:
        results = Path(args.results)
        first = load_run(args.run, results)
        second = load_run(args.run2, results) if args.run2 is not None else None
        comparisons = compare_runs(first, second, by=args.by, ref=args.ref)
    except CompareError as exc:
        sys.stderr.write(f"glm-harness compare: {exc}\n")
        return EXIT_INVALID
    if args.by != "budget" or second is not None:
        sys.stdout.write(render(comparisons, args.format))
        return EXIT_OK
    from harness.gate import budgets

    curves = budgets.budget_curves(first)
    if args.format == "json":  # the comparisons and, beside them, what each budget buys
        listed = json.loads(render(comparisons, "json"))
        found = {"comparisons": listed, "budgets": budgets.as_json(curves)}
        sys.stdout.write(json.dumps(found, indent=2) + "\n")
    else:
        sys.stdout.write(render(comparisons, args.format))
        sys.stdout.write(budgets.render(curves, "md" if args.format == "md" else "text"))
    return EXIT_OK


def _merge(args: argparse.Namespace) -> int:
    """``glm-harness merge``: the shards' runs as one run folder, judged as one run (the
    paired tests over all cases); exits as the unsharded run would have, 4 on a refusal."""
    import os
    import time

    from harness.errors import MergeError
    from harness.fileio import dumps, write_atomic
    from harness.gate import merge, records, verdicts
    from harness.reports import merged as report
    from harness.secret import Secret, redact

    token = os.environ.get("GLM_API_KEY")
    held = Secret(token) if token else None  # masked in whatever is written or printed
    results = Path(args.results)
    try:
        shards = [merge.read_shard(run, results) for run in args.runs]
        found = merge.combine(shards, allow_partial=args.allow_partial, empty=args.empty_shard)
        out = Path(args.out) if args.out else results / "runs" / records.new_run_id()
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise MergeError(f"{out}: --out exists and is not an empty folder")
    except MergeError as exc:
        sys.stderr.write(redact(f"glm-harness merge: {exc}\n"))
        return EXIT_USAGE
    try:
        write_atomic(out / "records.jsonl", b"".join(found.records).decode("utf-8"))
        if found.items:
            write_atomic(out / records.ITEMS_FILE, records.item_text(found.items))
        items = report.item_summaries(found)
        decisions = verdicts.paired_decisions(found.items)
        status = merge.status(found, decisions)
        head = {
            "run_id": out.name,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "exit_status": status,
        }
        tail = {
            "requests": merge.requests(found.runs),
            **merge.losses(found.runs),
            "decisions": decisions,
            "ignored_efforts": verdicts.no_effect_efforts(items, out / "records.jsonl"),
            "budgets": verdicts.budget_notes(items, out / "records.jsonl"),
        }
        data = report.summary(found, items, head, tail)
        write_atomic(out / "summary.json", dumps(data))
        if args.report:
            write_atomic(Path(args.report), report.markdown(found, items, data))
    except (OSError, UnicodeDecodeError) as exc:
        sys.stderr.write(redact(f"glm-harness merge: {out}: not written ({exc})\n"))
        return EXIT_USAGE
    sys.stdout.write(redact("\n".join(report.lines(found, items, data, str(out))) + "\n"))
    del held
    return status


def _run(pytest_args: Sequence[str]) -> int:
    """``pytest --glm-suite`` with everything after ``run`` (a leading ``--`` dropped)."""
    args = list(pytest_args[1:] if pytest_args[:1] == ["--"] else pytest_args)
    return subprocess.call([sys.executable, "-m", "pytest", "--glm-suite", *args])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``glm-harness`` console script."""
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["run"]:  # not through argparse: it would claim pytest's options
        return _run(given[1:])
    parser = argparse.ArgumentParser(
        prog="glm-harness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="run suites: pytest --glm-suite [PYTEST ARGS] (every argument goes to pytest)"
    )
    run.add_argument("pytest_args", nargs=argparse.REMAINDER, help="pytest's arguments")
    validate = commands.add_parser("validate", help="check suite files without sending requests")
    validate.add_argument("paths", nargs="*", help="suite files or folders (default: suites/)")
    validate.add_argument("--evals", default="evals", help="templates and schemas folder")
    local = commands.add_parser("local", help="serve the local model until Ctrl-C")
    local.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    compare = commands.add_parser(
        "compare",
        help="compare efforts, APIs or prompts within a run, or two runs, on the same cases",
    )
    compare.add_argument("run", help="run folder, its records.jsonl, or a run id")
    compare.add_argument("run2", nargs="?", help="a second run: compared against RUN")
    compare.add_argument(
        "--by",
        choices=["effort", "api", "prompt", "budget"],
        default="effort",
        help="one run: what varies (ignored with RUN2)",
    )
    compare.add_argument(
        "--ref",
        default=None,
        help="reference level (default: lowest effort, chat, the suite's first prompt)",
    )
    compare.add_argument(
        "--format", choices=["text", "md", "json"], default="text", help="output (default: text)"
    )
    compare.add_argument("--results", default="results", help="where run ids are looked up")
    merging = commands.add_parser(
        "merge", help="make one run of --glm-shard runs: records, summary, the gate over all"
    )
    merging.add_argument("runs", nargs="+", metavar="RUN", help="the shards' run folders or ids")
    merging.add_argument(
        "--out", default=None, help="the merged run's folder (default: results/runs/<new id>)"
    )
    merging.add_argument(
        "--report", default=None, metavar="FILE.md", help="also write the run as Markdown"
    )
    merging.add_argument(
        "--allow-partial", action="store_true", help="merge although some shards are missing"
    )
    merging.add_argument(
        "--empty-shard",
        type=int,
        action="append",
        default=[],
        metavar="K",
        help="shard K ran no case (pytest exited 5, wrote no run): count it as merged",
    )
    merging.add_argument("--results", default="results", help="where run ids are looked up")
    chosen = given[:1]
    for name, module, summary in (
        ("report", "harness.reports.html", "write a self-contained HTML report of a run"),
        (
            "doctor",
            "harness.doctor.command",
            "check an endpoint: reach, auth, fields, one request per API",
        ),
        ("judge-agreement", "harness.reports.agreement", "agreement of the judge with hand labels"),
    ):
        sub = commands.add_parser(name, help=summary)
        sub.set_defaults(module=module)
        if name in chosen:  # only the command asked for is imported (httpx, the charts...)
            importlib.import_module(module).add_arguments(sub)
    args = parser.parse_args(argv)
    if getattr(args, "module", None):
        status: int = importlib.import_module(args.module).main(args)
        return status
    if args.command == "compare":
        return _compare(args)
    if args.command == "merge":
        return _merge(args)
    if args.command == "local":
        return _local(args.port)
    lines: list[str] = []
    status = _validate(args.paths, args.evals, lines)
    sys.stdout.write("\n".join(lines) + "\n")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
