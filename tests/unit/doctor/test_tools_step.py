"""The doctor's tools step, read from a completion (harness.doctor.tools)."""

from __future__ import annotations

import pytest

from harness.doctor.tools import AUTO_REFUSED, tools_request, tools_step
from harness.models import Completion, ToolCall, Usage


def done(answer: str = "", *, error: str | None = None, status: int = 200, finish: str = "stop",
         calls: tuple[ToolCall, ...] = ()) -> Completion:  # fmt: skip
    return Completion(answer, "", Usage(), finish, finish == "length", 5.0, status, error,
                      tool_calls=calls)  # fmt: skip


VLLM_400 = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'


@pytest.mark.parametrize(
    ("completion", "status", "summary"),
    [
        (done(error=f"BadRequestError: {VLLM_400}", status=400), "warn", AUTO_REFUSED),
        (done(error="BadRequestError: tools are not supported", status=400), "warn", "a request offering a tool failed: HTTP 400: BadRequestError: tools are not supported"),
        (done(error="timeout after 5s", status=0), "warn", "a request offering a tool failed: timeout after 5s"),
        (done(calls=(ToolCall("c", "get_time", {"city": "Paris"}, '{"city": "Paris"}'),), finish="tool_calls"), "ok", 'tools accepted (tool_choice auto); the model called get_time({"city": "Paris"})'),
        (done(calls=(ToolCall("c", "get_time", None, "x" * 100, "not JSON"),)), "ok", f"the model called get_time({'x' * 60}...)"),
        (done("It is noon."), "ok", 'the model did not call get_time (answered "It is noon.")'),
        (done("", finish="length"), "ok", "the model did not call get_time (ran out of tokens)"),
        (done("<tool_call>get_time"), "warn", "tools accepted, but the call came back as text in the answer"),
    ],
)  # fmt: skip
def test_what_the_step_says(completion: Completion, status: str, summary: str) -> None:
    step = tools_step("chat", completion, 1)
    assert (step.name, step.status) == ("chat tools", status)
    assert summary in step.summary


def test_the_request_offers_one_tool_with_tool_choice_auto() -> None:
    chat = tools_request("chat", "m", 256).body
    responses = tools_request("responses", "m", 256).body
    assert (chat["tool_choice"], responses["tool_choice"]) == ("auto", "auto")
    assert chat["tools"][0]["function"]["name"] == responses["tools"][0]["name"] == "get_time"
    assert chat["max_completion_tokens"] == responses["max_output_tokens"] == 256
