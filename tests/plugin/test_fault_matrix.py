"""Every fault the scripted server can inject, through the whole plugin in ONE run.

One suite holds one case per fault, once with faults that never recover (more faults than
the run has attempts) and once with faults that clear after one or two tries, plus a few
normal cases. From ``records.jsonl``, for each case: the outcome (pass after recovery, or
error), the exact number of attempts (never past 1 + retries), the message the user sees;
from the server, how many requests each case made; from the run, the exit code (6: API
errors and nothing worse) and the request counters in ``summary.json``.

Kept fast: ``--glm-retries=2`` (backoff 0.5 s, then 1 s) and ``--glm-timeout=0.5`` for the
stalls; every case runs concurrently, so the run takes about as long as its slowest case
(a stall that times out three times: ~3 s).
"""

from __future__ import annotations

import email.utils
import json
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# httpx imports httpcore lazily and keeps a map of its exception classes from the first
# request on. pytester's in-process runs drop the modules a run imported, so a second run
# would re-import httpcore with new classes the map does not know, and a transport error
# (connection refused) would escape unmapped. Imported here, once, for the session.
import httpcore  # noqa: F401
import pytest

from tests.plugin.conftest import write
from tests.server.app import Fault, Rule, ScriptedServer

RETRIES = 2
MAX_ATTEMPTS = 1 + RETRIES
NEVER = 10  # faults served to a case that never recovers: more than it has attempts
AZURE = "ms-azureml-model-error-statuscode"
PAST = email.utils.formatdate(time.time() - 3600, usegmt=True)  # an HTTP date an hour ago
TIMEOUT = 0.5


@dataclass(frozen=True)
class Row:
    """One case of the matrix: the fault, how many times it is served, what must happen."""

    word: str  # the case id and the word its prompt carries (the server matches on it)
    fault: Fault
    served: int  # how many of the case's requests get the fault (NEVER: all of them)
    attempts: int  # attempts recorded and requests the server sees
    error: str | None = None  # regex the `error` field must match in full (None: a pass)


def status(code: int, word: str, **kw: Any) -> Fault:
    return Fault(status=code, message=f"{word} fault", **kw)


def never(word: str, fault: Fault, error: str, attempts: int = MAX_ATTEMPTS) -> Row:
    return Row(word, fault, NEVER, attempts, error)


def recovers(word: str, fault: Fault, after: int) -> Row:
    return Row(word, fault, after, after + 1)


def tries(n: int) -> str:
    return re.escape(f"({n} attempt{'' if n == 1 else 's'})")


def http(code: int, kind: str, word: str, n: int = MAX_ATTEMPTS) -> str:
    return re.escape(f"HTTP {code}: {kind}: {word} fault ") + tries(n)


ROWS = [
    # -- never recover: an `error` outcome after 1 + retries attempts ---------------------
    never(
        "e429secs",
        status(429, "e429secs", retry_after="0"),
        http(429, "RateLimitError", "e429secs"),
    ),
    never(
        "e429date",
        status(429, "e429date", retry_after=PAST),
        http(429, "RateLimitError", "e429date"),
    ),
    never("e429bare", status(429, "e429bare"), http(429, "RateLimitError", "e429bare")),
    never("e408", status(408, "e408"), http(408, "RequestTimeoutError", "e408")),
    never(
        "e424client",
        status(424, "e424client", headers={AZURE: "400"}),
        http(424, "APIError", "e424client", 1),
        attempts=1,  # the model itself said 400: not worth another try
    ),
    never(
        "e424server",
        status(424, "e424server", headers={AZURE: "503"}),
        http(424, "APIError", "e424server"),
    ),
    never("e500", status(500, "e500"), http(500, "InternalServerError", "e500")),
    never("e502", status(502, "e502"), http(502, "APIError", "e502")),
    never("e503", status(503, "e503"), http(503, "ServiceUnavailableError", "e503")),
    never("e504", status(504, "e504"), http(504, "APIError", "e504")),
    never(
        "ereset",
        Fault(kind="reset"),
        r"connection error: (ReadError|RemoteProtocolError): .* " + tries(MAX_ATTEMPTS),
    ),
    never(
        "ecut",
        Fault(kind="cut"),
        r"connection error: RemoteProtocolError: peer closed connection without sending "
        r"complete message body.* " + tries(MAX_ATTEMPTS),
    ),
    never(
        "estall",
        Fault(kind="stall", stall=TIMEOUT + 2),
        re.escape(f"timeout after {TIMEOUT:g}s ") + tries(MAX_ATTEMPTS),
    ),
    never(
        "emalformed",
        Fault(kind="malformed"),
        re.escape('HTTP 200: malformed JSON response: {"choices": [ ') + tries(MAX_ATTEMPTS),
    ),
    never(
        "ehtml",
        status(502, "ehtml", error_shape="html"),
        # the proxy's page as text: tags dropped, whitespace collapsed (docs/requests.md)
        r"HTTP 502: 502 Bad Gateway 502 Bad Gateway ehtml fault nginx " + tries(MAX_ATTEMPTS),
    ),
    never(
        "eerror200",
        Fault(kind="error200", message="eerror200 fault"),
        http(200, "InternalServerError", "eerror200"),
    ),
    # -- recover after one or two tries: a pass, with the attempts it took ---------------
    recovers("r429secs", status(429, "r429secs", retry_after="0"), 2),
    recovers("r429date", status(429, "r429date", retry_after=PAST), 1),
    recovers("r429bare", status(429, "r429bare"), 1),
    recovers("r408", status(408, "r408"), 1),
    recovers("r424server", status(424, "r424server", headers={AZURE: "503"}), 1),
    recovers("r500", status(500, "r500"), 2),
    recovers("r502", status(502, "r502"), 1),
    recovers("r503", status(503, "r503"), 2),
    recovers("r504", status(504, "r504"), 1),
    recovers("rreset", Fault(kind="reset"), 2),
    recovers("rcut", Fault(kind="cut"), 1),
    recovers("rstall", Fault(kind="stall", stall=TIMEOUT + 2), 1),
    recovers("rmalformed", Fault(kind="malformed"), 2),
    recovers("rhtml", status(502, "rhtml", error_shape="html"), 1),
    recovers("rerror200", Fault(kind="error200", message="rerror200 fault"), 1),
    # a 424 whose model said 400 is final even though the next try would have worked
    Row(
        "e424once",
        status(424, "e424once", headers={AZURE: "400"}),
        1,
        1,
        http(424, "APIError", "e424once", 1),
    ),
]
NORMAL = ["okalpha", "okbeta", "okgamma"]
WORDS = [row.word for row in ROWS] + NORMAL


def suite() -> str:
    lines = [
        "name: faults",
        'prompt: "Probe {{ word }}"',
        "apis: [chat]",
        "params: {max_output_tokens: 64}",
        "cases:",
    ]
    for word in WORDS:
        lines += [
            f"  - id: {word}",
            f"    vars: {{word: {word}}}",
            f"    expect: [{{contains: {word}}}]",
        ]
    return "\n".join(lines) + "\n"


def rules() -> list[Rule]:
    rows = [
        Rule(match=rf"\b{row.word}\b", answer=f"{row.word} ok", faults=[row.fault] * row.served)
        for row in ROWS
    ]
    return [*rows, *(Rule(match=rf"\b{w}\b", answer=f"{w} ok") for w in NORMAL)]


def records(results: Path) -> dict[str, dict[str, Any]]:
    [run_dir] = (results / "runs").iterdir()
    lines = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert len(lines) == len(WORDS)  # every case recorded exactly once
    return {line["case"]: line for line in lines}


def summary(results: Path) -> dict[str, Any]:
    [run_dir] = (results / "runs").iterdir()
    data: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    return data


def run(project: pytest.Pytester, url: str, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "--glm-suite",
        f"--glm-base-url={url}",
        f"--glm-retries={RETRIES}",
        f"--glm-timeout={TIMEOUT}",
        "--glm-concurrency=64",
        "-p",
        "no:cacheprovider",
        *args,
    )


def test_every_fault_ends_in_its_stated_outcome_within_the_retry_bound(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/faults.yaml", suite())
    server.rules = rules()
    started = time.monotonic()
    result = run(project, server.url, "-v")
    elapsed = time.monotonic() - started

    seen = records(project.path / "results")
    problems = []
    for row in ROWS:
        rec = seen[row.word]
        asked = server.requests_for(rf"\b{row.word}\b")
        expected_outcome = "pass" if row.error is None else "error"
        if rec["outcome"] != expected_outcome:
            problems.append(f"{row.word}: outcome {rec['outcome']} ({rec['error']})")
        if rec["attempts"] != row.attempts:
            problems.append(f"{row.word}: {rec['attempts']} attempts, expected {row.attempts}")
        if asked != row.attempts or asked > MAX_ATTEMPTS:
            problems.append(f"{row.word}: the server saw {asked} requests, expected {row.attempts}")
        if row.error is None:
            if rec["error"] is not None or rec["answer"] != f"{row.word} ok":
                problems.append(f"{row.word}: {rec['error']!r} / {rec['answer']!r}")
        elif not re.fullmatch(row.error, rec["error"] or ""):
            problems.append(f"{row.word}: error {rec['error']!r} !~ {row.error!r}")
    for word in NORMAL:
        rec = seen[word]
        if (rec["outcome"], rec["attempts"], rec["error"]) != ("pass", 1, None):
            problems.append(f"{word}: {rec['outcome']}, {rec['attempts']} attempts")
        asked = server.requests_for(rf"\b{word}\b")
        if asked != 1:
            problems.append(f"{word}: sent {asked} times")
    assert not problems, "\n".join(problems)

    # status shown per item: recovered and normal cases PASSED, the rest ERROR
    errors = [row for row in ROWS if row.error is not None]
    result.stdout.re_match_lines_random(
        [rf".*::{row.word}\[chat-default\] ERROR.*" for row in errors]
        + [
            rf".*::{word}\[chat-default\] PASSED.*"
            for word in [r.word for r in ROWS if r.error is None] + NORMAL
        ]
    )
    # the failure report of an error item names the status, the message and the attempts
    result.stdout.re_match_lines_random(
        [
            r"error: HTTP 424: APIError: e424client fault \(1 attempt\)",
            r"error: timeout after 0.5s \(3 attempts\)",
        ]
    )
    assert result.ret == 6  # API errors and nothing worse

    data = summary(project.path / "results")
    sent = sum(row.attempts for row in ROWS) + len(NORMAL)
    assert data["exit_status"] == 6
    assert data["items"] == {
        "pass": len(WORDS) - len(errors),
        "fail": 0,
        "truncated": 0,
        "error": len(errors),
    }
    counters = data["requests"]
    assert counters["requests"] == len(WORDS)
    assert counters["sent"] == sent == len(server.suite_requests)
    assert counters["retries"] == sent - len(WORDS)
    assert counters["failed"] == len(errors)
    assert counters["cached"] == 0
    assert counters["shrinks"] >= 1  # the 429s halved the requests in flight
    result.stdout.re_match_lines(
        [
            rf"requests: {len(WORDS)} samples, 0 from cache, {sent} sent "
            rf"\({sent - len(WORDS)} retries\), {len(errors)} failed.*"
        ]
    )
    assert elapsed < 15, f"the fault matrix took {elapsed:.1f}s"


def test_connection_refused_is_an_error_after_every_attempt(project: pytest.Pytester) -> None:
    write(
        project,
        "suites/faults.yaml",
        suite().split("  - id: e429secs")[0]
        + ("  - id: okalpha\n    vars: {word: okalpha}\n    expect: [{contains: okalpha}]\n"),
    )
    with socket.socket() as sock:  # a port nobody listens on once this socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run(project, f"http://127.0.0.1:{port}")
    assert result.ret == 6
    rec = records_of(project.path / "results")["okalpha"]
    assert rec["outcome"] == "error"
    assert rec["status"] == 0
    assert rec["attempts"] == MAX_ATTEMPTS
    # anyio's wording for a refused connection (it tried every address the host has)
    assert rec["error"] == (
        "connection error: ConnectError: could not connect (refused or unreachable) "
        f"({MAX_ATTEMPTS} attempts)"
    )
    counters = summary(project.path / "results")["requests"]
    assert (counters["sent"], counters["retries"], counters["failed"]) == (MAX_ATTEMPTS, RETRIES, 1)
    result.stdout.re_match_lines([r"error: connection error: ConnectError: .*\(3 attempts\)"])


def records_of(results: Path) -> dict[str, dict[str, Any]]:
    [run_dir] = (results / "runs").iterdir()
    lines = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    return {line["case"]: line for line in lines}
