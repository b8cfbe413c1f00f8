"""The doctor's tools step: does the endpoint take a request offering a tool, with
``tool_choice: auto``, on each API?

vLLM started without ``--enable-auto-tool-choice`` (and a ``--tool-call-parser``) refuses
``tool_choice: auto`` with a 400, so every suite with ``tools:`` would end in errors; the
step says so in plain words. A server that accepts the request but returns the call as
text (``<tool_call>...`` in the answer) has no parser, or the wrong one, for the model.
Whether the model chose to call is not the server's business: any accepted request is
``ok``.
"""

from __future__ import annotations

from harness.doctor.report import Step, snippet
from harness.engine.requests import build_request
from harness.models import Api, Completion, Message, Request, Tool

TOOL = Tool(
    "get_time",
    "The current local time in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
PROMPT = "What time is it in Paris? Use the get_time tool."
AUTO_REFUSED = (
    "the server does not accept tool_choice auto: "
    "start vLLM with --enable-auto-tool-choice --tool-call-parser glm47"
)
_AUTO_MARKS = ("enable-auto-tool-choice", "tool-call-parser", '"auto" tool choice')


def tools_request(api: Api, model: str, max_output_tokens: int) -> Request:
    """The step's request: :data:`PROMPT`, :data:`TOOL` offered, ``tool_choice: auto``."""
    return build_request(
        api,
        messages=(Message("user", PROMPT),),
        effort="default",
        params={"max_output_tokens": max_output_tokens, "temperature": 0},
        model=model,
        tools=(TOOL,),
        tool_choice="auto",
    )


def tools_step(api: Api, done: Completion, attempts: int) -> Step:
    """What the reply to :func:`tools_request` says about the endpoint's tools."""
    name = f"{api} tools"
    facts: dict[str, object] = {"status": done.status, "attempts": attempts}
    if done.error is not None:
        facts["accepted"] = False
        error = _shown(done.error, 300)
        said = error if done.status == 0 else f"HTTP {done.status}: {error}"
        if done.status == 400 and any(mark in done.error for mark in _AUTO_MARKS):
            return Step(name, "warn", AUTO_REFUSED, (f"the server said: {said}",), facts)
        summary = f"a request offering a tool failed: {said}"
        hint = "suites with tools: will end in errors on this endpoint"
        return Step(name, "warn", summary, (hint,), facts)
    calls = done.tool_calls
    facts |= {"accepted": True, "finish": done.finish, "calls": [c.name for c in calls]}
    if calls:
        made = ", ".join(f"{_shown(c.name)}({_shown(c.raw)})" for c in calls[:3])
        summary = f"tools accepted (tool_choice auto); the model called {made}"
        return Step(name, "ok", summary, facts=facts)
    if "tool_call" in done.answer.lower():
        summary = "tools accepted, but the call came back as text in the answer"
        hint = "no tool-call parser, or the wrong one: start vLLM with --tool-call-parser glm47"
        return Step(name, "warn", summary, (hint, f"answer {snippet(done.answer)}"), facts)
    why = "ran out of tokens" if done.truncated else f"answered {snippet(done.answer)}"
    summary = f"tools accepted (tool_choice auto); the model did not call {TOOL.name} ({why})"
    return Step(name, "ok", summary, facts=facts)


def _shown(text: str, limit: int = 60) -> str:
    """``text`` on one line, cut, control characters escaped (it came from the server)."""
    flat = " ".join(text.split())
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in flat[:limit])
    return shown + "..." if len(flat) > limit else shown
