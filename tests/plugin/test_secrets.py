"""The API token (``GLM_API_KEY``) is written nowhere and shown nowhere.

A distinctive token goes through every kind of run: passing; refused with a 401 whose
message echoes the token; failing, as verbose as pytest gets (``-vv --showlocals --tb=long
--junitxml --glm-report``, debug logging, in a real subprocess); updating baselines;
replaying from the cache. Then every file under the project (records, summary, cache
entries, baselines, JUnit XML, the Markdown report, pytest's own cache, the subprocess's
captured output) and every run's stdout and stderr is searched for the token, and for any
12-character piece of it (a message cut short must not leak half a token either).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from pathlib import Path

import httpcore  # noqa: F401  (kept for the session: see test_fault_matrix.py)
import httpx
import pytest

from harness.engine.client import Client
from harness.engine.parse import error_message
from harness.plugin.state import RunState
from harness.settings.values import Settings
from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

RETRIES = 2
PIECE = 12  # the shortest piece of the token that counts as a leak

SUITE = """
    name: sec
    prompt: "Ask {{ word }}"
    apis: [chat]
    params: {max_output_tokens: 64}
    cases:
      - {id: good, vars: {word: good}, expect: [{contains: fine}]}
      - {id: bad, vars: {word: bad}, expect: [{contains: never}]}
      - {id: echo400, vars: {word: echo400}, expect: [{contains: fine}]}
      - {id: echo500, vars: {word: echo500}, expect: [{contains: fine}]}
      - {id: refused, vars: {word: refused}, expect: [{contains: fine}]}
      - {id: refusedhtml, vars: {word: refusedhtml}, expect: [{contains: fine}]}
"""


def new_token() -> str:
    return f"glmtok-{secrets.token_hex(16)}"


def pieces(token: str) -> list[str]:
    return [token[i : i + PIECE] for i in range(len(token) - PIECE + 1)]


def leaks(token: str, text: str | bytes) -> list[str]:
    """The pieces of ``token`` found in ``text``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [p for p in pieces(token) if p in text]


def rules(token: str) -> list[Rule]:
    echoed = f"the key Bearer {token} is not valid for this deployment"
    return [
        Rule(match=r"\bgood\b", answer="all fine"),
        Rule(match=r"\bbad\b", answer="all fine"),
        Rule(match=r"\becho400\b", status=400, error_message=f"bad request from {token}"),
        # retried, then an error: the message went through every attempt
        Rule(match=r"\becho500\b", status=500, error_message=f"upstream rejected {token}"),
        Rule(match=r"\brefused\b", status=401, error_message=echoed),
        Rule(match=r"\brefusedhtml\b", status=401, error_shape="html", error_message=echoed),
    ]


@pytest.fixture
def token(project: pytest.Pytester, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> str:
    value = new_token()
    monkeypatch.setenv("GLM_API_KEY", value)
    server.api_key = value  # the server insists on it: every request carried the token
    server.rules = rules(value)
    write(project, "suites/sec.yaml", SUITE)
    return value


def run(project: pytest.Pytester, server: ScriptedServer, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", f"--glm-retries={RETRIES}", *args
    )


def output(result: pytest.RunResult) -> str:
    return result.stdout.str() + "\n" + result.stderr.str()


def test_the_token_is_written_and_shown_nowhere(
    project: pytest.Pytester, server: ScriptedServer, token: str
) -> None:
    # the server really does echo the token: the harness has something to hide
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as http:
        for word in ("refused", "refusedhtml", "echo400"):
            body = {"model": "m", "messages": [{"role": "user", "content": f"Ask {word}"}]}
            reply = http.post("/v1/chat/completions", json=body)
            assert reply.status_code in (400, 401)
            assert token in reply.text
    server.reset()
    server.api_key = token
    server.rules = rules(token)

    outputs: dict[str, str] = {}

    # (a) a passing run
    result = run(project, server, "-k", "good")
    result.assert_outcomes(passed=1)
    outputs["pass"] = output(result)

    # (b) refused: a 401 echoing the token stops the run; the message shows *** instead
    for case in ("refused", "refusedhtml"):
        result = run(project, server, "-k", case, "-vv", "--showlocals", "--tb=long")
        assert result.ret == 6
        result.stdout.re_match_lines(
            [
                r".*the endpoint refused the credentials: HTTP 401: .*the key Bearer \*\*\* is not valid.*"
            ]
        )
        outputs[case] = output(result)

    # (c) a failing run, as verbose as it gets, in a real process (its own stdout/stderr)
    result = project.runpytest_subprocess(
        "--glm-suite",
        f"--glm-base-url={server.url}",
        f"--glm-retries={RETRIES}",
        "-k",
        "good or bad or echo400 or echo500",
        "-vv",
        "--showlocals",
        "--tb=long",
        "--junitxml=j.xml",
        "-o",
        "junit_logging=all",
        "--log-level=DEBUG",
        "--glm-report=r.md",
    )
    assert result.ret == 1  # a failing case
    result.stdout.re_match_lines_random(
        [
            r"error: HTTP 400: BadRequestError: bad request from \*\*\* \(1 attempt\)",
            rf"error: HTTP 500: InternalServerError: upstream rejected \*\*\* \({1 + RETRIES} attempts\)",
        ]
    )
    outputs["fail"] = output(result)

    # (d) baselines written from a run
    result = run(project, server, "-k", "good or bad", "--glm-update-baselines")
    assert (project.path / "results" / "baselines" / "sec.json").is_file()
    outputs["baselines"] = output(result)

    # ... and a replay from the cache
    result = run(project, server, "-k", "good", "--glm-cache=only")
    result.assert_outcomes(passed=1)
    outputs["replay"] = output(result)

    assert server.requests, "the runs reached the server"
    assert all(r.headers.get("authorization") == f"Bearer {token}" for r in server.requests)

    files = [p for p in project.path.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"records.jsonl", "summary.json", "sec.json", "j.xml", "r.md"} <= names
    assert any(p.parent.parent.name == ".cache" for p in files)  # cache entries
    found = {str(p.relative_to(project.path)): leaks(token, p.read_bytes()) for p in files}
    assert {name: hit for name, hit in found.items() if hit} == {}
    assert {run: leaks(token, text) for run, text in outputs.items() if leaks(token, text)} == {}


def test_a_token_cut_by_the_message_limit_does_not_leak_at_any_offset(
    project: pytest.Pytester, server: ScriptedServer, token: str
) -> None:
    # HTML proxy pages echoing the header, whose text the harness cuts at 200 characters:
    # "... Bearer glmtok-0123456789ab" [cut]. One case per padding, so that the cut falls
    # at every offset of the token.
    pages = {f"cut{n}": "x" * n + f" Bearer {token}" for n in range(100, 180)}
    server.rules = [
        Rule(match=rf"\b{word}\b", status=400, error_shape="html", error_message=page)
        for word, page in pages.items()
    ]
    cuts = set()  # where the cut falls in the token, in the message unscrubbed
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as http:
        for word in pages:
            body = {"model": "m", "messages": [{"role": "user", "content": f"Ask {word}"}]}
            text = error_message(400, http.post("/v1/chat/completions", json=body).content)
            cuts |= {k for k in range(1, len(token)) if text.endswith(f"Bearer {token[:k]}")}
    assert cuts == set(range(1, len(token)))
    cases = "".join(
        f"  - {{id: {w}, vars: {{word: {w}}}, expect: [{{contains: x}}]}}\n" for w in pages
    )
    write(project, "suites/cut.yaml", 'prompt: "Ask {{ word }}"\napis: [chat]\ncases:\n' + cases)

    result = run(project, server, "suites/cut.yaml")
    assert result.ret == 6
    [path] = project.path.glob("results/runs/*/records.jsonl")
    shown = {r["case"]: r["error"] for r in map(json.loads, path.read_text().splitlines())}
    assert sorted(shown) == sorted(pages)
    for case, error in shown.items():
        message = re.sub(r" \(\d+ attempts?\)$", "", error)
        assert "x" * 50 in message, case  # the page's text, cut
        # the reply was scrubbed before it was cut: not even a head of the token too short
        # to count as a leak is left
        after = re.findall(r"Bearer (\S*)", message)
        assert all("***".startswith(head) for head in after), (case, error)
    text = output(result) + "".join(
        p.read_text(errors="replace") for p in project.path.rglob("*") if p.is_file()
    )
    assert leaks(token, text) == []


def test_reprs_never_show_the_token(tmp_path: Path) -> None:
    token = new_token()
    settings = Settings(
        base_url="http://127.0.0.1:9",
        model="m",
        api_key=token,
        headers={"azureml-model-deployment": "blue"},
        retries=RETRIES,
    )
    assert leaks(token, repr(settings)) == []
    assert leaks(token, str(settings)) == []

    async def client_reprs() -> list[str]:
        client = Client("http://127.0.0.1:9", api_key=token, headers={"x-extra": "1"})
        try:
            return [repr(client), str(client), repr(client._headers)]
        finally:
            await client.aclose()

    assert [leaks(token, text) for text in asyncio.run(client_reprs())] == [[], [], []]

    state = RunState(
        settings=settings,
        evals_dir=tmp_path / "evals",
        suites_dir=tmp_path / "suites",
        results_dir=tmp_path / "results",
    )
    try:
        assert leaks(token, repr(state)) == []
        state.engine()  # the engine and its client, built with the token
        assert leaks(token, repr(state)) == []
        assert leaks(token, repr(state.engine())) == []
    finally:
        state.close()


def test_a_judge_token_is_written_and_shown_nowhere(
    project: pytest.Pytester, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A judge at its own endpoint that echoes its token, in garbage verdicts, in errors and
    in verdict reasons: the token is in no file and no output, and never reaches the run's
    endpoint; the run's token never reaches the judge."""
    run_token, judge_token = new_token(), new_token()
    monkeypatch.setenv("GLM_API_KEY", run_token)
    monkeypatch.setenv("GLM_JUDGE_API_KEY", judge_token)
    server.api_key = run_token
    server.rules = [Rule(match=".", answer="all fine")]
    write(
        project, "suites/judged.yaml",
        "prompt: 'Say {{ w }}'\napis: [chat]\nexpect: [{judge: 'Says it.'}]\n"
        "cases: [{id: a, vars: {w: a}}, {id: b, vars: {w: b}}, {id: c, vars: {w: c}}]\n",
    )  # fmt: skip
    verdict = f'{{"score": 0.9, "pass": true, "reason": "key {judge_token} ok"}}'
    with ScriptedServer(api_key=judge_token) as judge:
        judge.rules = [
            Rule(match="Say a", answer=verdict),
            Rule(match="Say b", answer=f"not JSON, but Bearer {judge_token}"),
            Rule(match="Say c", status=500, error_message=f"judge rejected {judge_token}"),
        ]
        result = project.runpytest(
            "--glm-suite", f"--glm-base-url={server.url}", f"--glm-judge-base-url={judge.url}",
            f"--glm-retries={RETRIES}", "-vv", "--showlocals", "--tb=long", "--glm-report=r.md",
        )  # fmt: skip
        assert {r.headers.get("authorization") for r in judge.requests} == {f"Bearer {judge_token}"}
    assert {r.headers.get("authorization") for r in server.requests} == {f"Bearer {run_token}"}
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.re_match_lines_random([
        r"error: judge: no JSON object in the judge's answer: 'not JSON, but Bearer \*\*\*'",
        r"error: judge: the judge's request failed: HTTP 500: .*judge rejected \*\*\* .*",
    ])  # fmt: skip
    text = output(result) + "".join(
        p.read_text(errors="replace") for p in project.path.rglob("*") if p.is_file()
    )
    assert "key *** ok" in text  # the verdict's reason, kept in the records
    assert leaks(judge_token, text) == []
    assert leaks(run_token, text) == []
