"""Canaries: a few cheap requests that check the endpoint still behaves as the suites
assume, before a run judges answers against baselines.

Per API the run uses (:func:`plan`):

- ``none``: effort ``none`` must give no reasoning (thinking off);
- ``thinking``: thinking on (effort ``default``, or the effort the suites use) with a cap
  of :data:`CAP` tokens must give reasoning, and be truncated (the cap is spent thinking);
- ``budget`` (Chat, when an item has a thinking budget): a ``thinking_token_budget`` of
  :data:`BUDGET` must cut the reasoning short of the cap.

Requests are built by :func:`~harness.engine.requests.build_request` and sent by the
:class:`~harness.engine.runner.Engine` as a run sends them (retries, the concurrency limit,
the reply cap, the token scrubbed), never from or into the cache: they test the server
now. :func:`judge` is pure. A probe that cannot run (the server errors, refuses the token,
does not answer within the deadline) is an API error, not a failed canary; a 400 or 422
is the server refusing what the suites send, so it fails the canary.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from harness.engine.requests import build_request
from harness.errors import AuthError
from harness.models import APIS, EFFORTS, Api, Completion, Message, Request

if TYPE_CHECKING:
    from harness.engine.runner import Engine

PROMPT = "glm-harness canary: what is 127 * 389? Think it through, then reply with only the number."
NONE_CAP = 64  # effort none: room for the answer
CAP = 16  # thinking on: spent while thinking, so the reply is truncated
BUDGET = 16  # thinking_token_budget of the budget probe
BUDGET_CAP = 256  # room for the thinking the budget allows, then the answer
BUDGET_SLACK = 2 * BUDGET + 8  # reasoning tokens still counted as cut by the budget
DEADLINE = 120.0  # seconds for all the probes, retries included
REFUSED = (400, 422)  # the server refuses what the suites send: a failed canary

Kind = Literal["none", "thinking", "budget"]
State = Literal["passed", "failed", "error"]


@dataclass(frozen=True, slots=True)
class Probe:
    """One canary request: which API, which assumption, with which effort."""

    api: Api
    kind: Kind
    effort: str

    @property
    def cap(self) -> int:
        return {"none": NONE_CAP, "thinking": CAP, "budget": BUDGET_CAP}[self.kind]

    def request(self, model: str) -> Request:
        return build_request(
            self.api,
            messages=(Message("user", PROMPT),),
            effort=self.effort,
            params={"max_output_tokens": self.cap, "temperature": 0},
            model=model,
            budget=BUDGET if self.kind == "budget" else None,
        )

    def name(self) -> str:
        budget = f" with thinking_token_budget {BUDGET}" if self.kind == "budget" else ""
        return f"{self.api} effort {self.effort}{budget}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the canaries found: ``passed``, ``failed`` (``failures`` says which
    assumptions no longer hold) or ``error`` (``problem``: why they could not run)."""

    state: State
    failures: tuple[str, ...] = ()
    problem: str | None = None
    probes: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    sent: int = 0

    def data(self) -> dict[str, Any]:
        """summary.json's ``canary``."""
        return {
            "state": self.state,
            **({"failures": list(self.failures)} if self.failures else {}),
            **({"problem": self.problem} if self.problem else {}),
            "probes": [dict(p) for p in self.probes],
            "sent": self.sent,
        }


def plan(arms: Iterable[tuple[Api, str, bool]]) -> tuple[Probe, ...]:
    """The probes for a run whose items are ``(api, effort, has a thinking budget)``: per
    API used, effort none and thinking on (``default`` when an item uses it, else the
    first other effort items use); on Chat, a budget probe when an item has a budget."""
    efforts: dict[Api, set[str]] = {}
    budgeted: set[Api] = set()
    for api, effort, budget in arms:
        efforts.setdefault(api, set()).add(effort)
        if budget:
            budgeted.add(api)
    probes: list[Probe] = []
    for api in (a for a in APIS if a in efforts):
        on = [e for e in EFFORTS if e in efforts[api] and e != "none"]
        thinking = "default" if "default" in on or not on else on[0]
        probes += [Probe(api, "none", "none"), Probe(api, "thinking", thinking)]
        if api == "chat" and api in budgeted:
            probes.append(Probe(api, "budget", thinking))
    return tuple(probes)


def judge(probe: Probe, completion: Completion) -> list[str]:
    """The assumptions ``completion`` (an answer, not an error) breaks, in words."""
    api, reasoning = probe.api, completion.reasoning.strip()
    if probe.kind == "none":
        if reasoning:
            return [
                f"the endpoint ignores effort none on {api} (reasoning came back): its chat "
                "template or server flags changed"
            ]
        return []
    if probe.kind == "thinking":
        found = []
        if not reasoning:
            found.append(
                f"thinking on (effort {probe.effort}) gives no reasoning on {api}: the server "
                "runs without a reasoning parser, or its template or flags turn thinking off"
            )
        if not completion.truncated:
            cap = "max_completion_tokens" if api == "chat" else "max_output_tokens"
            found.append(
                f"a cap of {CAP} tokens ({cap}) did not truncate the reply on {api} (finish "
                f"{completion.finish}): the server ignores or raises the token cap"
            )
        return found
    used = completion.usage.reasoning_tokens or len(reasoning.split())
    if reasoning and completion.truncated and not completion.answer.strip():
        return [
            f"thinking_token_budget {BUDGET} did not cut the reasoning on chat (it ran to "
            f"the cap of {BUDGET_CAP} tokens): the server ignores thinking budgets"
        ]
    if used > BUDGET_SLACK:
        return [
            f"thinking_token_budget {BUDGET} did not cut the reasoning on chat ({used} "
            "reasoning tokens): the server ignores thinking budgets"
        ]
    return []


def run(
    engine: Engine, probes: Sequence[Probe], *, model: str, deadline: float = DEADLINE
) -> Outcome:
    """Send every probe at once and judge the answers; blocks at most ``deadline``
    seconds."""
    futures = [engine.probe(p.request(model), max_output_tokens=p.cap) for p in probes]
    done, _ = concurrent.futures.wait(futures, timeout=deadline)
    failures: list[str] = []
    problems: list[str] = []
    shown: list[dict[str, Any]] = []
    for probe, future in zip(probes, futures, strict=True):
        where = {"api": probe.api, "probe": probe.kind, "effort": probe.effort, "cap": probe.cap}
        where |= {"budget": BUDGET} if probe.kind == "budget" else {}
        if future not in done:
            future.cancel()
            problems.append(f"{probe.name()}: no answer within {deadline:g}s")
            shown.append({**where, "outcome": "error", "error": problems[-1]})
            continue
        try:
            completion, _ = future.result()
        except AuthError as exc:
            problems.append(f"{probe.name()}: the endpoint refused the credentials: {exc}")
            shown.append({**where, "outcome": "error", "error": problems[-1]})
            continue
        except Exception as exc:  # a bug: the canary cannot tell, so it does not gate
            problems.append(f"{probe.name()}: {type(exc).__name__}: {exc}")
            shown.append({**where, "outcome": "error", "error": problems[-1]})
            continue
        found, error = _verdict(probe, completion)
        failures += found
        problems += [] if error is None else [error]
        outcome = "error" if error else "failed" if found else "ok"
        shown.append({**where, "outcome": outcome, **_facts(completion)})
    sent, problem = engine.canary_stats.sent, "; ".join(problems) or None
    # an assumption seen broken fails the canary even if another probe could not run
    state: State = "failed" if failures else "error" if problems else "passed"
    return Outcome(state, tuple(failures), problem, tuple(shown), sent)


def _verdict(probe: Probe, completion: Completion) -> tuple[list[str], str | None]:
    """(broken assumptions, why the probe could not run)."""
    if completion.error is None:
        return judge(probe, completion), None
    if completion.status in REFUSED:
        what = {"none": "effort none", "budget": f"thinking_token_budget {BUDGET}"}.get(
            probe.kind, f"effort {probe.effort}"
        )
        return [f"the endpoint refuses {what} on {probe.api}: {completion.error}"], None
    return [], f"{probe.name()}: {completion.error}"


def _facts(completion: Completion) -> dict[str, Any]:
    return {
        "status": completion.status,
        "finish": completion.finish,
        "truncated": completion.truncated,
        "reasoning_chars": len(completion.reasoning),
        "reasoning_tokens": completion.usage.reasoning_tokens,
        "answer": completion.answer[:100],
        **({"error": completion.error} if completion.error else {}),
    }
