"""Frozen data objects, built once at the boundary and passed around read-only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


class Match(Protocol):
    """What callers read of a regex match (as of ``re.Match``)."""

    def group(self, index: int = 0, /) -> str | None: ...

    def groups(self) -> tuple[str | None, ...]: ...

    def span(self, index: int = 0, /) -> tuple[int, int]: ...


class Pattern(Protocol):
    """A compiled suite regex (``harness.checks.registry.regexes.SafePattern``, run by RE2)."""

    @property
    def pattern(self) -> str: ...

    def search(self, text: str) -> Match | None: ...


Api = Literal["chat", "responses"]
Outcome = Literal["pass", "fail", "truncated", "error"]

APIS: tuple[Api, ...] = ("chat", "responses")
EFFORTS: tuple[str, ...] = (
    "default", "none", "minimal", "low", "medium", "high", "xhigh", "max",
)  # fmt: skip
OUTCOMES: tuple[Outcome, ...] = ("pass", "fail", "truncated", "error")


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the server reported them; ``None`` where it reported nothing."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call: one the model made, or one an assistant turn of a conversation
    made. ``arguments`` is the parsed JSON; when the text did not parse it is ``None`` and
    ``error`` says why. ``raw`` is the arguments text as sent."""

    id: str
    name: str
    arguments: Any = None
    raw: str = ""
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Tool:
    """A function a case offers the model: its name, description and ``parameters`` (a
    JSON Schema, checked at collection)."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Completion:
    """One answer from either API, normalised.

    ``finish`` is ``stop``, ``length`` (token budget ran out), ``error`` (the request
    failed; ``error`` holds the message) or whatever other value the server gave.
    """

    answer: str
    reasoning: str
    usage: Usage
    finish: str
    truncated: bool
    latency_ms: float
    status: int
    error: str | None = None
    cached: bool = False
    # streamed replies only: ms from sending to the first reasoning / answer text
    first_reasoning_ms: float | None = None
    first_answer_ms: float | None = None
    tool_calls: tuple[ToolCall, ...] = ()  # the calls the model made, in order


@dataclass(frozen=True, slots=True)
class Judged:
    """A judge's verdicts on one answer (``{score, pass, reason}`` each, validated), or
    why there is none (``error``)."""

    verdicts: tuple[Mapping[str, Any], ...] = ()
    answers: tuple[str, ...] = ()  # the judge's raw answers, in sample order
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Subject:
    """What a check looks at: ``text`` (the answer after ``extract``), ``value`` (a JSON
    value when a pointer selected one, else the text), the whole completion and
    ``baseline``, the baseline's answer after ``extract`` (``None`` when there is none yet);
    ``judged``, for a ``judge`` check, its judge's verdicts on this answer."""

    text: str
    value: Any
    completion: Completion
    baseline: str | None = None
    judged: Judged | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A check's verdict. ``observed`` is always set: the score, the number, the errors."""

    name: str
    passed: bool
    observed: Any
    detail: str = ""
    weight: float = 1.0
    children: tuple[CheckResult, ...] = ()


class Check(Protocol):
    """A built check: a closure over its validated parameters."""

    def __call__(self, subject: Subject) -> CheckResult: ...


@dataclass(frozen=True, slots=True)
class BoundCheck:
    """A check of a case, with its name, weight and the suite line it came from."""

    name: str
    weight: float
    line: int
    run: Check


@dataclass(frozen=True, slots=True)
class Message:
    """A turn of the prompt. An assistant turn may carry ``tool_calls`` (the calls it made);
    a ``tool`` turn answers one, named by ``tool_call_id``, with ``content``."""

    role: str
    content: str
    name: str | None = None  # OpenAI's participant name (sent on Chat; Responses has none)
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class StructuredOutput:
    """A JSON Schema the server must follow (``response_format`` / ``text.format``)."""

    name: str
    schema: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Case:
    """One case of a suite, with suite defaults applied and its prompt rendered."""

    id: str
    line: int
    messages: tuple[Message, ...]
    apis: tuple[Api, ...]
    efforts: tuple[str, ...]
    params: Mapping[str, Any]
    samples: int
    min_pass_rate: float
    threshold: float | None
    checks: tuple[BoundCheck, ...]
    extract: Pattern | None = None
    structured_output: StructuredOutput | None = None
    files: tuple[str, ...] = ()
    stream: bool = False
    variant: str = ""  # the prompt variant's id; "" in a suite without ``prompts:``
    budgets: tuple[int | None, ...] = (None,)  # thinking budgets (Chat); None: no budget
    tools: tuple[Tool, ...] = ()  # functions offered to the model
    tool_choice: str | Mapping[str, str] | None = None  # auto | required | none | {name: X}
    defined_in: str = ""  # the dataset file of a dataset row ("" : the suite file)


@dataclass(frozen=True, slots=True)
class Suite:
    """A loaded suite: ``cases`` holds one ``Case`` per case and prompt variant (in
    ``variants`` order, the variants of a case together)."""

    name: str
    path: str
    description: str
    cases: tuple[Case, ...]
    variants: tuple[str, ...] = ()


def arm(variant: str, api: str, effort: str, budget: int | str | None = None) -> str:
    """What an item runs a case through: ``chat-default``, ``terse-chat-default``,
    ``chat-high-t1024`` (a thinking budget last)."""
    text = f"{variant}-{api}-{effort}" if variant else f"{api}-{effort}"
    return f"{text}-t{budget}" if budget not in (None, "") else text


@dataclass(frozen=True, slots=True)
class Request:
    """An HTTP request to send: API path relative to the base URL and the JSON body."""

    api: Api
    path: str
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SampleResult:
    """One sample of a case x api x effort, graded."""

    index: int
    outcome: Outcome
    score: float
    completion: Completion
    checks: tuple[CheckResult, ...] = field(default=())
    extracted: str | None = None
