"""Attacks from a hostile server, on real sockets (tests/server/hostile.py).

Each test runs the plugin against a server that misbehaves on purpose and asserts what is
refused, what the user sees, and that nothing else in the run is lost: the other cases
are graded and recorded, ``summary.json`` is written, and the token is nowhere.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import secrets
import time
import types
import urllib.parse
from collections.abc import Iterator

import pytest

from tests.plugin.conftest import write
from tests.server.hostile import HostileServer, Seen, chat_body, chunked, reply, trickle

SUITE = """
    name: hostile
    prompt: "Ask {{ word }}"
    apis: [chat]
    params: {max_output_tokens: 64}
    cases:
      - {id: good, vars: {word: good}, expect: [{contains: fine}]}
      - {id: attack, vars: {word: attack}, expect: [{contains: fine}]}
"""
PIECE = 12


def new_token() -> str:
    # base64-like, as Azure keys are: '/' and '+' are what JSON and URL layers escape
    return f"glm/tok+{secrets.token_hex(12)}/{secrets.token_hex(4)}=="


def leaks(token: str, text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    pieces = [token[i : i + PIECE] for i in range(len(token) - PIECE + 1)]
    return [p for p in pieces if p in text]


def prompt_of(seen: Seen) -> str:
    body = seen.json or {}
    return " ".join(str(m.get("content", "")) for m in body.get("messages", []))


def serve(attack: Iterator[bytes | float] | list[bytes | float]):  # type: ignore[no-untyped-def]
    """A script: ``good`` gets a fine answer, ``attack`` gets ``attack`` (made fresh each
    time when it is a function)."""

    def script(seen: Seen) -> list[bytes | float] | Iterator[bytes | float]:
        if "attack" not in prompt_of(seen):
            return reply(chat_body("all fine"))
        return attack() if callable(attack) else attack

    return script


@pytest.fixture
def token(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> str:
    value = new_token()
    monkeypatch.setenv("GLM_API_KEY", value)
    write(project, "suites/hostile.yaml", SUITE)
    return value


def run(project: pytest.Pytester, server: HostileServer, *args: str) -> pytest.RunResult:
    return project.runpytest("--glm-suite", f"--glm-base-url={server.url}", *args)


def records(project: pytest.Pytester) -> dict[str, dict[str, object]]:
    (path,) = project.path.glob("results/runs/*/records.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return {str(r["case"]): r for r in lines}


def summary(project: pytest.Pytester) -> dict[str, object]:
    (path,) = project.path.glob("results/runs/*/summary.json")
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def everything(project: pytest.Pytester, result: pytest.RunResult) -> str:
    files = [p for p in project.path.rglob("*") if p.is_file()]
    texts = [p.read_bytes().decode("utf-8", "replace") for p in files]
    return "\n".join([result.stdout.str(), result.stderr.str(), *texts])


def encodings(token: str) -> dict[str, str]:
    """The token as layers between the model and the harness may echo it."""
    header = f"Bearer {token}"
    return {
        "json-slash": json.dumps(header).replace("/", "\\/")[1:-1],
        "json-unicode": "".join(f"\\u{ord(c):04x}" for c in header),
        "json-in-json": json.dumps(json.dumps(header))[1:-1],
        "percent": urllib.parse.quote(header, safe=""),
        "percent-plus": urllib.parse.quote_plus(header),
        "base64": base64.b64encode(header.encode()).decode(),
        "html": "".join(f"&#{ord(c)};" for c in header),
        "mixed": token[:9] + "".join(f"\\u{ord(c):04X}" for c in token[9:14]) + token[14:],
    }


ENCODINGS = list(encodings("x"))
ECHO_SUITE = (
    "prompt: 'Ask {{ word }}'\napis: [chat]\nexpect: [{contains: fine}]\ncases:\n"
    + "".join(
        f"  - {{id: {form}, vars: {{word: {form}}}}}\n  - {{id: {form}-error, vars: {{word: {form}-error}}}}\n"
        for form in ENCODINGS
    )
)


def test_an_echoed_token_in_any_encoding_is_written_and_shown_nowhere(
    project: pytest.Pytester, token: str
) -> None:
    """A gateway echoes the Authorization header back in the answer, the reasoning and an
    error message, in each encoding a JSON or HTTP layer may give it: no piece of the token
    is in any file the runs write (records, summary, cache, baselines, JUnit XML, the
    Markdown report) or in their output, however verbose; the rest of the text is kept."""
    forms = encodings(token)
    write(project, "suites/echo.yaml", ECHO_SUITE)

    def script(seen: Seen) -> list[bytes | float]:
        word = prompt_of(seen).removeprefix("Ask ")
        echoed = forms[word.removesuffix("-error")]
        if word.endswith("-error"):
            error = f'{{"error":{{"message":"denied for {echoed}","type":"BadRequestError"}}}}'
            return reply(error.encode(), status=400)
        # raw JSON text: the echo is spliced in as the gateway would write it
        message = f'"content":"all fine, your header was {echoed}","reasoning":"{echoed}"'
        answer = f'{{"choices":[{{"index":0,"message":{{"role":"assistant",{message}}},"finish_reason":"stop"}}]}}'
        return reply(answer.encode())

    with HostileServer(script) as server:
        result = run(
            project, server, "suites/echo.yaml", "-vv", "--showlocals", "--tb=long",
            "--junitxml=j.xml", "-o", "junit_logging=all", "--glm-report=r.md",
        )  # fmt: skip
        update = run(
            project, server, "suites/echo.yaml", "-k", "not error", "--glm-update-baselines"
        )
        replay = run(project, server, "suites/echo.yaml", "-k", "not error", "--glm-cache=only")
    assert all(s.headers["authorization"] == f"Bearer {token}" for s in server.seen)
    result.assert_outcomes(passed=len(forms), errors=len(forms))
    replay.assert_outcomes(passed=len(forms))
    names = {p.name for p in project.path.rglob("*")}
    assert {"records.jsonl", "summary.json", "echo.json", "j.xml", "r.md"} <= names
    text = "\n".join([everything(project, result), update.stdout.str(), replay.stdout.str()])
    assert leaks(token, text) == []
    assert [form for form, echoed in forms.items() if echoed in text] == []
    assert text.count("all fine, your header was") >= len(forms)  # the rest is kept


def test_a_token_cut_by_the_message_limit_leaks_no_piece(
    project: pytest.Pytester, token: str
) -> None:
    # an HTML proxy page whose text is cut at 200 characters inside the token (every
    # offset is tried by tests/integration/test_hostile_client.py)
    page = f"<html><body><p>{'x' * 160} Bearer {token} rejected</p></body></html>"
    with HostileServer(serve(reply(page.encode(), 502, {"Content-Type": "text/html"}))) as server:
        result = run(project, server, "-k", "attack", "--glm-retries=0")
    result.assert_outcomes(errors=1)
    assert leaks(token, everything(project, result)) == []


def test_a_retry_after_date_beyond_the_calendar_is_capped_and_retried(
    project: pytest.Pytester, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 503 whose Retry-After is an HTTP date in the year 99999999999: it used to raise
    OverflowError inside the client (with the token in a local variable shown by
    --showlocals); now it waits the 60 s cap (the test's clock records it instead of
    sleeping) and retries, and the sample is recorded."""
    served: list[int] = []

    def script(seen: Seen) -> list[bytes | float]:
        if "attack" not in prompt_of(seen):
            return reply(chat_body("all fine"))
        served.append(1)
        if len(served) == 1:
            late = {"Retry-After": "Fri, 31 Dec 99999999999 23:59:59 GMT"}
            return reply(b'{"error": {"message": "busy"}}', 503, late)
        return reply(chat_body("all fine now"))

    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:
        waits.append(delay)
        await real_sleep(0)

    import harness.engine.runner

    fake = types.SimpleNamespace(**{**vars(asyncio), "sleep": sleep})
    monkeypatch.setattr(harness.engine.runner, "asyncio", fake)
    with HostileServer(script) as server:
        result = run(project, server, "-vv", "--showlocals", "--tb=long", "--junitxml=j.xml")
    result.assert_outcomes(passed=2)
    assert waits == [60.0]  # docs/reliability.md: Retry-After is honoured up to 60 s
    assert len(served) == 2
    assert records(project)["attack"]["attempts"] == 2
    assert leaks(token, everything(project, result)) == []


def test_a_retry_after_of_an_hour_waits_the_60_second_cap(
    project: pytest.Pytester, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 429 with ``Retry-After: 3600`` and a 503 with ``retry-after-ms: 3600000``, through
    the plugin as a run builds its engine: each waits the cap docs/reliability.md promises,
    60 s (the test's clock records the waits instead of sleeping), then retries."""
    busy = {
        "good": (429, {"Retry-After": "3600"}),
        "attack": (503, {"retry-after-ms": "3600000"}),
    }
    served: list[str] = []

    def script(seen: Seen) -> list[bytes | float]:
        if seen.method != "POST":  # what else a run may ask (the server's version)
            return reply(b'{"error": {"message": "not here"}}', 404)
        word = "attack" if "attack" in prompt_of(seen) else "good"
        served.append(word)
        if served.count(word) == 1:
            status, headers = busy[word]
            return reply(b'{"error": {"message": "busy"}}', status, headers)
        return reply(chat_body("all fine now"))

    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:
        waits.append(delay)
        await real_sleep(0)

    import harness.engine.runner

    fake = types.SimpleNamespace(**{**vars(asyncio), "sleep": sleep})
    monkeypatch.setattr(harness.engine.runner, "asyncio", fake)
    with HostileServer(script) as server:
        result = run(project, server)
    result.assert_outcomes(passed=2)
    assert waits == [60.0, 60.0]  # not an hour
    assert sorted(served) == ["attack", "attack", "good", "good"]
    assert {case: r["attempts"] for case, r in records(project).items()} == {
        "good": 2,
        "attack": 2,
    }


def test_a_gzip_bomb_is_refused_at_the_cap(project: pytest.Pytester, token: str) -> None:
    """408 KB of gzip that inflates to 400 MB: refused after 16 MiB, with the option that
    raises the cap; the good case is still graded and summary.json written."""
    bomb = gzip.compress(b" " * 400_000_000, compresslevel=9)
    assert len(bomb) < 1_000_000
    headers = {"Content-Encoding": "gzip"}
    with HostileServer(serve(reply(bomb, 200, headers))) as server:
        started = time.monotonic()
        result = run(project, server, "--glm-retries=0")
        took = time.monotonic() - started
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.re_match_lines(
        [r".*reply larger than 16 MiB after decompression; raise --glm-max-reply-mb.*"]
    )
    assert records(project)["good"]["outcome"] == "pass"
    assert records(project)["attack"]["outcome"] == "error"
    assert summary(project)
    assert took < 20


def test_the_reply_cap_is_an_option(project: pytest.Pytester, token: str) -> None:
    big = chat_body("all fine " + "x" * 3_000_000)  # about 3 MB, uncompressed
    with HostileServer(serve(reply(big))) as server:
        small = run(project, server, "-k", "attack", "--glm-retries=0", "--glm-max-reply-mb=1")
        roomy = run(project, server, "-k", "attack", "--glm-cache=off", "--glm-max-reply-mb=8")
    small.assert_outcomes(errors=1)
    small.stdout.re_match_lines(
        [r".*reply larger than 1 MiB on the wire; raise --glm-max-reply-mb.*"]
    )
    roomy.assert_outcomes(passed=1)


def test_an_endless_stream_ends_at_the_cap(project: pytest.Pytester, token: str) -> None:
    event = b'data: {"choices":[{"index":0,"delta":{"reasoning":"' + b"hmm " * 256 + b'"}}]}\n\n'

    def endless() -> Iterator[bytes | float]:
        yield from chunked(iter(lambda: event, None), headers={"Content-Type": "text/event-stream"})

    with HostileServer(serve(endless)) as server:
        result = run(project, server, "--glm-stream", "--glm-retries=0", "--glm-max-reply-mb=2")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.re_match_lines([r".*reply larger than 2 MiB on the wire.*"])


@pytest.mark.parametrize("kind", ["trickle", "endless-stream"])
def test_the_timeout_is_a_deadline_for_the_whole_request(
    project: pytest.Pytester, token: str, kind: str
) -> None:
    """A server that trickles 2 bytes every 0.2 s (each read well within the timeout), or a
    stream whose events never end: --glm-timeout 1 ends the attempt after 1 s."""
    if kind == "trickle":
        attack: object = lambda: trickle(b"".join(reply(chat_body("all fine"))), 2, 0.2)  # noqa: E731
        extra: tuple[str, ...] = ()
    else:
        event = b'data: {"choices":[{"index":0,"delta":{"reasoning":"hmm "}}]}\n\n'
        attack = lambda: chunked(  # noqa: E731
            iter(lambda: event, None), headers={"Content-Type": "text/event-stream"}, pause=0.05
        )
        extra = ("--glm-stream",)
    with HostileServer(serve(attack)) as server:  # type: ignore[arg-type]
        started = time.monotonic()
        result = run(project, server, "--glm-timeout=1", "--glm-retries=1", *extra)
        took = time.monotonic() - started
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.re_match_lines([r".*error: timeout after 1s \(2 attempts\).*"])
    assert records(project)["attack"]["error"] == "timeout after 1s (2 attempts)"
    assert took < 2 * 1 + 1 + 8  # two attempts of 1 s, one backoff, pytest's own start-up


def test_deeply_nested_json_is_an_api_error_and_the_run_is_kept(
    project: pytest.Pytester, token: str
) -> None:
    deep = b'{"choices": [{"message": {"content": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}]}"
    with HostileServer(serve(reply(deep))) as server:
        result = run(project, server, "--glm-retries=0")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.re_match_lines([r".*malformed JSON response: nested too deeply to parse.*"])
    assert records(project)["attack"]["outcome"] == "error"
    assert summary(project)


def test_an_error_page_of_unclosed_scripts_is_read_in_linear_time(
    project: pytest.Pytester, token: str
) -> None:
    page = b"<html>" + b"<script>x" * 1_000_000  # 9 MB: the old snippet regex took minutes
    with HostileServer(serve(reply(page, 503, {"Content-Type": "text/html"}))) as server:
        started = time.monotonic()
        result = run(project, server, "--glm-retries=2")
        took = time.monotonic() - started
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.re_match_lines([r".*error: HTTP 503: \(empty body\) \(3 attempts\).*"])
    assert took < 10


def test_the_hostile_server_answers_as_scripted() -> None:
    with HostileServer(lambda seen: reply(chat_body("ok"))) as server:
        import httpx

        got = httpx.post(server.url + "/v1/chat/completions", json={"messages": []})
    assert got.json()["choices"][0]["message"]["content"] == "ok"


def test_the_writers_mask_the_token_even_when_the_client_let_it_through(
    project: pytest.Pytester, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: with the client's own scrub switched off, every file and line the
    harness writes (records, cache, baselines, summary, the Markdown report, JUnit XML,
    failure reports, the end-of-run summary) still masks the token."""
    import harness.engine.client
    from harness.secret import Secret

    monkeypatch.setattr(harness.engine.client.Client, "_scrub", lambda self, text: text)
    monkeypatch.setattr(harness.engine.client.Client, "_scrubbed", lambda self, done: done)
    monkeypatch.setattr(Secret, "scrub_bytes", lambda self, data: data)
    echoed = encodings(token)["json-slash"]
    answer = f'{{"choices":[{{"index":0,"message":{{"role":"assistant","content":"fine {echoed}"}},"finish_reason":"stop"}}]}}'
    wrong = f'{{"choices":[{{"index":0,"message":{{"role":"assistant","content":"no: {token}"}},"finish_reason":"stop"}}]}}'

    def script(seen: Seen) -> list[bytes | float]:
        return reply((wrong if "attack" in prompt_of(seen) else answer).encode())

    with HostileServer(script) as server:
        result = run(
            project, server, "-vv", "--junitxml=j.xml", "-o", "junit_logging=all",
            "--glm-report=r.md",
        )  # fmt: skip
        assert records(project)["good"]["answer"] == "fine Bearer ***"
        update = run(project, server, "--glm-update-baselines")
    result.assert_outcomes(passed=1, failed=1)
    assert "no: ***" in result.stdout.str()  # the failure report of the wrong answer
    text = everything(project, result) + update.stdout.str()
    assert leaks(token, text) == []


def test_the_end_of_run_summary_masks_the_token_even_when_the_client_let_it_through(
    project: pytest.Pytester, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The end-of-run summary masks as its last step too: with the client's scrub off, a
    canary that could not run (a 500 echoing the token) says why in the glm-harness
    section, text no record or report passes through first."""
    import harness.engine.client
    from harness.secret import Secret

    monkeypatch.setattr(harness.engine.client.Client, "_scrub", lambda self, text: text)
    monkeypatch.setattr(harness.engine.client.Client, "_scrubbed", lambda self, done: done)
    monkeypatch.setattr(Secret, "scrub_bytes", lambda self, data: data)

    def script(seen: Seen) -> list[bytes | float]:
        if "glm-harness canary" in prompt_of(seen):
            return reply(json.dumps({"error": {"message": f"upstream saw {token}"}}).encode(), 500)
        return reply(chat_body("all fine"))

    with HostileServer(script) as server:
        result = run(project, server, "--glm-canary", "--glm-retries=0")
    assert result.ret == 6  # a canary that cannot run is an API error
    result.stdout.re_match_lines([r"glm-harness: canary could not run \(.*upstream saw \*\*\*.*"])
    assert leaks(token, result.stdout.str() + result.stderr.str()) == []
