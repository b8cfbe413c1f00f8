"""``--glm-shard K/N``: every case in exactly one shard, chosen by a hash of suite and case
id, so a case keeps its shard as cases are added."""

from __future__ import annotations

import json

import pytest

from harness.errors import ConfigError
from harness.settings.values import parse_shard
from harness.suites.sampling import in_shard
from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer


def suite(cases: int) -> str:
    rows = "".join(f"  - {{id: c{n}}}\n" for n in range(cases))
    return f"prompt: 'Say ok'\napis: [chat]\nexpect: [{{contains: ok}}]\ncases:\n{rows}"


def ran(project: pytest.Pytester, server: ScriptedServer, shard: str) -> set[str]:
    result = project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider",
        "--glm-cache=off", f"--glm-shard={shard}",
    )  # fmt: skip
    result.stdout.re_match_lines([rf"glm-harness: --glm-shard {shard}: share .*"])
    runs = sorted((project.path / "results" / "runs").iterdir())
    summary = json.loads((runs[-1] / "summary.json").read_text())
    assert summary["shard"] == [int(x) for x in shard.split("/")]
    lines = (runs[-1] / "records.jsonl").read_text().splitlines()
    return {json.loads(line)["case"] for line in lines}


def test_the_shards_cover_every_case_once_and_keep_them_as_cases_are_added(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    server.rules = [Rule(match="Say ok", answer="ok")]
    write(project, "suites/s.yaml", suite(30))
    shares = [ran(project, server, f"{k}/3") for k in (1, 2, 3)]
    assert set().union(*shares) == {f"c{n}" for n in range(30)}
    assert sum(len(s) for s in shares) == 30
    assert all(shares)  # 30 cases over 3 shards: none is empty (by these ids)
    write(project, "suites/s.yaml", suite(40))
    grown = [ran(project, server, f"{k}/3") for k in (1, 2, 3)]
    for before, after in zip(shares, grown, strict=True):
        assert before <= after  # no case moved to another shard


def test_in_shard_is_a_partition() -> None:
    ids = [f"case-{n}" for n in range(200)]
    for n in (1, 2, 5):
        owners = [[k for k in range(1, n + 1) if in_shard("s", i, k, n)] for i in ids]
        assert all(len(o) == 1 for o in owners)
    assert in_shard("a", "x", 1, 7) == in_shard("a", "x", 1, 7)


@pytest.mark.parametrize("text", ["0/2", "3/2", "2", "a/b", "1/0", "-1/2"])
def test_a_shard_is_k_of_n(text: str) -> None:
    with pytest.raises(ConfigError, match=r"--glm-shard: .* is not K/N"):
        parse_shard(text)
    assert parse_shard("2/4") == (2, 4)
