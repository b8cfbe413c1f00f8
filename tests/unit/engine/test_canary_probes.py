"""harness.engine.canary: which probes a run gets, and how an answer is judged (pure)."""

from __future__ import annotations

import pytest

from harness.engine.canary import BUDGET, CAP, NONE_CAP, PROMPT, Probe, judge, plan
from harness.models import Completion, Usage


def completion(
    answer: str = "49403",
    reasoning: str = "",
    *,
    truncated: bool = False,
    tokens: int | None = None,
) -> Completion:
    return Completion(
        answer=answer, reasoning=reasoning, usage=Usage(reasoning_tokens=tokens),
        finish="length" if truncated else "stop", truncated=truncated, latency_ms=1.0, status=200,
    )  # fmt: skip


def test_the_plan_probes_only_the_apis_the_run_uses() -> None:
    assert plan([("chat", "high", False), ("chat", "none", False)]) == (
        Probe("chat", "none", "none"),
        Probe("chat", "thinking", "high"),  # the suites' thinking effort
    )
    assert plan([("responses", "default", False), ("responses", "low", False)]) == (
        Probe("responses", "none", "none"),
        Probe("responses", "thinking", "default"),
    )
    assert plan([("chat", "none", False)])[1] == Probe("chat", "thinking", "default")
    assert plan([]) == ()


def test_budgets_are_probed_on_chat_when_an_item_has_one() -> None:
    probes = plan([("chat", "default", True), ("responses", "default", False)])
    assert [p.kind for p in probes] == ["none", "thinking", "budget", "none", "thinking"]
    body = probes[2].request("m").body
    assert body["thinking_token_budget"] == BUDGET
    assert body["messages"] == [{"role": "user", "content": PROMPT}]
    assert "reasoning_effort" not in body  # thinking on: the default


def test_the_requests_are_build_requests() -> None:
    none = Probe("responses", "none", "none").request("m").body
    assert none["reasoning"] == {"effort": "none"}
    assert none["chat_template_kwargs"] == {"enable_thinking": False}
    assert none["max_output_tokens"] == NONE_CAP
    assert Probe("chat", "thinking", "high").request("m").body["max_completion_tokens"] == CAP


@pytest.mark.parametrize(
    ("probe", "got", "broken"),
    [
        (Probe("chat", "none", "none"), completion(), []),
        (Probe("responses", "none", "none"), completion(reasoning="hmm"),
         ["the endpoint ignores effort none on responses (reasoning came back)"]),
        (Probe("chat", "thinking", "default"), completion("", "step1 step2", truncated=True), []),
        (Probe("chat", "thinking", "default"), completion("", "", truncated=True),
         ["thinking on (effort default) gives no reasoning on chat"]),
        (Probe("responses", "thinking", "high"), completion("x", "thought"),
         ["a cap of 16 tokens (max_output_tokens) did not truncate the reply on responses"]),
        (Probe("chat", "thinking", "default"), completion("x"),
         ["thinking on (effort default) gives no reasoning on chat",
          "a cap of 16 tokens (max_completion_tokens) did not truncate"]),
        (Probe("chat", "budget", "default"), completion("x", "a b c", tokens=16), []),
        (Probe("chat", "budget", "default"), completion("x", "a b c", tokens=200),
         ["thinking_token_budget 16 did not cut the reasoning on chat (200 reasoning tokens)"]),
        # no token count reported: the words of the reasoning count
        (Probe("chat", "budget", "default"), completion("x", " ".join(["w"] * 100)),
         ["thinking_token_budget 16 did not cut the reasoning on chat (100 reasoning tokens)"]),
        (Probe("chat", "budget", "default"), completion("", "w w", truncated=True, tokens=2),
         ["thinking_token_budget 16 did not cut the reasoning on chat (it ran to the cap"]),
    ],
)  # fmt: skip
def test_judge(probe: Probe, got: Completion, broken: list[str]) -> None:
    found = judge(probe, got)
    assert len(found) == len(broken)
    for said, start in zip(found, broken, strict=True):
        assert said.startswith(start)
