"""Asking the judge: one answer's ``judge`` checks, each sample of each, through the engine.

Runs on the engine's loop (a ``then`` coroutine): every verdict request goes through the
engine's judge lane, with the answers' retries and cache, and is counted apart from them;
reading the verdicts runs on the grading threads (:meth:`Engine.offload`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.checks.judge import VERDICT_FORMAT, JudgeCheck, collect, parse_verdict
from harness.engine.requests import build_request
from harness.errors import AuthError
from harness.models import Case, Completion, Judged, Message, Request
from harness.settings.values import Settings

if TYPE_CHECKING:
    from harness.engine.runner import Engine


def question_of(messages: Sequence[Message]) -> str:
    """What the judge is told the question was: the prompt without its system messages."""
    asked = [m for m in messages if m.role != "system"]
    if len(asked) == 1:
        return asked[0].content
    return "\n\n".join(f"[{m.role}] {m.content}" for m in asked)


def judge_request(settings: Settings, judge: JudgeCheck, question: str, answer: str) -> Request:
    """The request that asks ``judge``'s question about ``answer`` (structured output on)."""
    params = {"max_output_tokens": judge.max_output_tokens, "temperature": judge.temperature}
    return build_request(
        settings.judge.api,
        messages=judge.messages(question, answer),
        effort=settings.judge.effort,
        params=params,
        model=settings.judge_model,
        structured_output=VERDICT_FORMAT,
    )


def _valid(completion: Completion) -> bool:
    return parse_verdict(completion)[0] is not None


async def judge_answer(
    engine: Engine, settings: Settings, case: Case, text: str
) -> dict[int, Judged]:
    """The verdicts of every ``judge`` check of ``case`` on ``text`` (the answer after
    ``extract``), by the check's index in ``case.checks``."""
    question = question_of(case.messages)

    async def one(judge: JudgeCheck) -> Judged:
        request = judge_request(settings, judge, question, text)
        try:
            done = await asyncio.gather(
                *(
                    engine.judge(
                        request, sample=k, max_output_tokens=judge.max_output_tokens, keep=_valid
                    )
                    for k in range(judge.samples)
                )
            )
        except AuthError as exc:
            return Judged(error=f"the judge endpoint refused the credentials: {exc}")
        # reading the verdicts is grading: off the request loop, like the answers'
        return await engine.offload(collect, [completion for completion, _ in done])

    judges = {n: b.run for n, b in enumerate(case.checks) if isinstance(b.run, JudgeCheck)}
    found = await asyncio.gather(*(one(judge) for judge in judges.values()))
    return dict(zip(judges, found, strict=True))


def has_judge(case: Case) -> bool:
    return any(isinstance(bound.run, JudgeCheck) for bound in case.checks)
