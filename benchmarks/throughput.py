"""Throughput benchmark: how close does ``pytest --glm-suite`` get to the ideal wall time?

The script starts its own fake OpenAI-compatible server in a child process (stdlib asyncio,
HTTP/1.1 keep-alive) that answers every POST to ``/v1/chat/completions`` or ``/v1/responses``
with "Answer: 42" after ``--latency`` seconds, and counts requests (GET ``/stats``). It writes
a throwaway project (``suites/bench.yaml`` with ``--cases`` cases, an empty ``evals/``) and
runs the harness on it as a subprocess:

0. warm-up: 10 cases, not measured, so that Python's bytecode caches exist as they do on
   any machine after the first run (the benchmark lets the child write them even when
   ``PYTHONDONTWRITEBYTECODE`` is set). Every run loads pytest and glm-harness only
   (``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 -p harness.plugin``), not the other plugins of the
   environment it runs in;
1. cold (``--glm-cache=refresh``): wall time against the ideal ``cases x latency /
   concurrency``, harness CPU seconds per case and peak RSS of the pytest process
   (``os.wait4``); every item must pass and the server must see exactly one request per case;
2. warm (``--glm-cache=use``): wall time and requests received (should be none);
3. RSS (``--rss-cases``, default 10000; 0 skips): a cold run with ``--glm-cache=off``,
   peak RSS only.

It prints the figures next to the targets (ratio <= 1.25, CPU < 2 ms a case, RSS < 250 MB
for 10,000 cases, warm rerun < 5 s with 0 requests) with PASS/MISS for each; it exits 0
even on a MISS unless ``--strict``.

    python benchmarks/throughput.py                       # N=2000, 0.2 s, concurrency 64
    python benchmarks/throughput.py --cases 200 --rss-cases 0 --keep /tmp/bench
"""

from __future__ import annotations

import argparse
import asyncio
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

TARGET_RATIO = 1.25
TARGET_CPU_MS = 2.0
TARGET_RSS_MB = 250.0
TARGET_RSS_CASES = 10_000
TARGET_WARM_S = 5.0


# --- the fake server (runs in a child process) -------------------------------------------


def _reply(path: str, body: bytes) -> dict[str, Any]:
    try:
        model = json.loads(body).get("model") or "bench"
    except ValueError:
        model = "bench"
    created = int(time.time())
    if path == "/v1/chat/completions":
        message = {"role": "assistant", "content": "Answer: 42", "reasoning": "thinking"}
        return {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
    text = {"type": "output_text", "text": "Answer: 42", "annotations": []}
    item = {
        "id": "msg-bench",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [text],
    }
    return {
        "id": "resp-bench",
        "object": "response",
        "created_at": created,
        "model": model,
        "status": "completed",
        "output": [item],
        "usage": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15},
    }


async def _serve(latency: float, conn: Any) -> None:
    stats = {"requests": 0, "in_flight": 0, "max_in_flight": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line.strip():
                    break
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = h.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, payload = 200, {}
                if method == "POST" and path in ("/v1/chat/completions", "/v1/responses"):
                    stats["requests"] += 1
                    stats["in_flight"] += 1
                    stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
                    await asyncio.sleep(latency)
                    stats["in_flight"] -= 1
                    payload = _reply(path, body)
                elif method == "GET" and path == "/stats":
                    payload = {k: stats[k] for k in ("requests", "max_in_flight")}
                elif method == "GET" and path == "/health":
                    payload = {"status": "ok"}
                else:
                    status, payload = 404, {"error": {"message": f"no route {method} {path}"}}
                data = json.dumps(payload).encode()
                close = headers.get("connection", "").lower() == "close"
                writer.write(
                    f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                    f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
                if close:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    conn.send(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def run_server(latency: float, conn: Any) -> None:
    """Child-process entry point: serve until terminated; sends the port through ``conn``."""
    asyncio.run(_serve(latency, conn))


# --- the benchmark ------------------------------------------------------------------------


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/stats", timeout=10) as response:
        data: dict[str, int] = json.load(response)
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


def run_pytest(
    root: Path, url: str, args: argparse.Namespace, cache: str, label: str
) -> dict[str, Any]:
    """Runs the harness once; returns wall s, CPU s, peak RSS MB, exit code, requests seen."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "harness.plugin",
        "--glm-suite",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--glm-base-url={url}",
        f"--glm-concurrency={args.concurrency}",
    ]
    if not args.no_cache_flags:
        cmd += [f"--glm-cache={cache}", f"--glm-results={root / 'results'}"]
    # Like a user's machine, let Python keep its bytecode caches (a warm-up run fills them):
    # without them every run recompiles pytest, httpx, jsonschema... from source.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GLM_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    # pytest and glm-harness only: other plugins installed beside them (hypothesis, xdist
    # in the development environment) would be measured too.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    log = root / f"{label}.log"
    before = stats(url)["requests"]
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss": usage.ru_maxrss / 1024,
        "code": proc.returncode,
        "requests": stats(url)["requests"] - before,
        "log": log,
    }


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
    p.add_argument("--keep", type=Path, help="write the project here and keep it")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    p.add_argument(
        "--no-cache-flags",
        action="store_true",
        help="for harness versions without --glm-cache (omits --glm-cache and "
        "--glm-results; the warm run then sends every request again)",
    )
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
        warmup = root / "warmup"  # compiles bytecode caches; not measured
        write_project(warmup, 10, args.api)
        check(run_pytest(warmup, url, args, "off", "warmup"), 10, "warm-up run")
        timed = root / "timed"
        write_project(timed, args.cases, args.api)
        cold = run_pytest(timed, url, args, "refresh", "cold")
        check(cold, args.cases, "cold run")
        in_flight = stats(url)["max_in_flight"]
        warm = run_pytest(timed, url, args, "use", "warm")
        check(warm, None, "warm run")  # its request count is a target, reported below
        rss = None
        if args.rss_cases > 0:
            rss_root = root / "rss"
            write_project(rss_root, args.rss_cases, args.api)
            rss = run_pytest(rss_root, url, args, "off", "rss")
            check(rss, args.rss_cases, "RSS run")
        code = report(args, cold, warm, rss, in_flight)
        done = True
        return code
    finally:
        server.terminate()
        server.join(5)
        if tmp is not None and done:
            shutil.rmtree(tmp, ignore_errors=True)


def report(
    args: argparse.Namespace,
    cold: dict[str, Any],
    warm: dict[str, Any],
    rss: dict[str, Any] | None,
    in_flight: int,
) -> int:
    ideal = args.cases * args.latency / args.concurrency
    ratio = cold["wall"] / ideal if ideal else float("inf")
    cpu_ms = cold["cpu"] / args.cases * 1000
    rows: list[tuple[str, str, str, bool | None]] = [
        ("cases (N)", f"{args.cases}", "", None),
        ("latency s", f"{args.latency:g}", "", None),
        ("concurrency (C)", f"{args.concurrency}", "", None),
        ("server max in flight", f"{in_flight}", "", None),
        ("cold wall s", f"{cold['wall']:.2f}", "", None),
        ("ideal s (N x latency / C)", f"{ideal:.2f}", "", None),
        ("ratio wall / ideal", f"{ratio:.3f}", f"<= {TARGET_RATIO}", ratio <= TARGET_RATIO),
        ("harness CPU ms / case", f"{cpu_ms:.3f}", f"< {TARGET_CPU_MS}", cpu_ms < TARGET_CPU_MS),
        ("cold peak RSS MB", f"{cold['rss']:.1f}", "", None),
        (
            "warm rerun wall s",
            f"{warm['wall']:.2f}",
            f"< {TARGET_WARM_S:g}",
            warm["wall"] < TARGET_WARM_S,
        ),
        ("warm rerun requests", f"{warm['requests']}", "0", warm["requests"] == 0),
    ]
    if rss is not None:
        rows += [
            ("RSS run cases", f"{args.rss_cases}", "", None),
            (
                "RSS run peak RSS MB",
                f"{rss['rss']:.1f}",
                f"< {TARGET_RSS_MB:g} (for {TARGET_RSS_CASES})",
                rss["rss"] < TARGET_RSS_MB,
            ),
        ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'figure':<{width}}  {'value':>10}  {'target':<22}  result")
    for name, value, target, ok in rows:
        verdict = "" if ok is None else ("PASS" if ok else "MISS")
        print(f"{name:<{width}}  {value:>10}  {target:<22}  {verdict}")
    if args.no_cache_flags:
        print("(--no-cache-flags: the warm run had no cache, so its figures mean nothing)")
    missed = [name for name, _, _, ok in rows if ok is False]
    if args.keep:
        print(f"project and logs kept in {args.keep}")
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
