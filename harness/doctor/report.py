"""``glm-harness doctor``'s findings and how they are shown. Pure: no I/O.

A :class:`Report` is a list of :class:`Step` s, each ``ok``, ``warn``, ``FAIL`` or ``skip``
(not run, because an earlier step failed), and a verdict: ``ready`` (all ok), ``usable
with warnings (N)`` or ``not usable: <first failure>``. :func:`render_text` fits it on one
screen; :func:`render_json` gives the same facts as JSON. Both take the token to remove
from what they return, whatever a server echoed.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.doctor.openapi import FieldReport
from harness.doctor.pinned import SchemaDiff
from harness.secret import Secret

Status = Literal["ok", "warn", "FAIL", "skip"]

EXIT_READY = 0  # ready, or usable with warnings
EXIT_FAIL = 1
EXIT_USAGE = 2

_WIDTH = 100
_NAME_WIDTH = 21
_INDENT = " " * (6 + _NAME_WIDTH)
_SNIPPET = 40
_THINK_END = "</think>"


@dataclass(frozen=True, slots=True)
class Step:
    """One line of the diagnosis; ``facts`` go to the JSON output only."""

    name: str
    status: Status
    summary: str
    details: tuple[str, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Report:
    """Every step's finding about one endpoint."""

    base_url: str
    model: str
    token_set: bool
    steps: tuple[Step, ...]

    @property
    def warnings(self) -> int:
        return sum(step.status == "warn" for step in self.steps)

    @property
    def failure(self) -> Step | None:
        return next((step for step in self.steps if step.status == "FAIL"), None)

    @property
    def verdict(self) -> str:
        failed = self.failure
        if failed is not None:
            return f"not usable: {failed.name}: {failed.summary}"
        if self.warnings:
            return f"usable with warnings ({self.warnings})"
        return "ready"

    @property
    def exit_code(self) -> int:
        return EXIT_FAIL if self.failure is not None else EXIT_READY


def skipped(name: str, why: str) -> Step:
    return Step(name, "skip", why)


def field_step(api: str, fields: FieldReport) -> Step:
    """What the schema says about the fields the harness sends to ``api``."""
    name = f"{api} fields"
    facts = {"declared": list(fields.declared), "undeclared": list(fields.undeclared)}
    if not fields.found:
        why = f"/openapi.json has no request schema for POST {fields.path}"
        return Step(name, "warn", f"{why}; the server may not serve this API", facts=facts)
    if fields.open_body:
        return Step(name, "warn", "the request schema lists no fields; cannot tell", facts=facts)
    if not fields.undeclared:
        summary = f"all {len(fields.declared)} fields the harness sends are declared"
        return Step(name, "ok", summary, facts=facts)
    missing = ", ".join(fields.undeclared)
    summary = f"not declared (may be silently ignored): {missing}"
    return Step(name, "warn", summary, (f"the other {len(fields.declared)} are declared",), facts)


def schema_step(diff: SchemaDiff, version: str) -> Step:
    """The request fields ``diff.api``'s schema adds, removes or changes against vLLM
    ``version``'s (top-level fields and their own fields; types and enums)."""
    name = f"{diff.api} schema"
    facts: dict[str, Any] = {"added": list(diff.added), "removed": list(diff.removed)}
    facts |= {"changed": list(diff.changed), "pinned": version}
    if not diff.found:
        return Step(name, "skip", f"no request schema for POST {diff.path}", facts=facts)
    if diff.same:
        return Step(name, "ok", f"the request fields of vLLM {version}", facts=facts)
    parts = [
        f"{what} {', '.join(names)}"
        for what, names in (
            ("added:", diff.added), ("removed:", diff.removed), ("changed:", diff.changed),
        )
        if names
    ]  # fmt: skip
    summary = f"not vLLM {version}'s request fields: {'; '.join(parts)}"
    hint = (f"the harness is checked against vLLM {version}; see docs/doctor.md",)
    return Step(name, "warn", summary, hint, facts)


def chat_reasoning(body: bytes) -> Step:
    """Which field of a Chat Completions reply carries the reasoning."""
    message = _dict(_first(_dict(_json(body)).get("choices"))).get("message")
    message = _dict(message)
    filled = [k for k in ("reasoning", "reasoning_content") if _text(message.get(k))]
    content = _text(message.get("content"))
    chars = max((len(_text(message.get(k))) for k in filled), default=0)
    if filled:
        where = " and ".join(f"message.{k}" for k in filled)
        return Step("chat reasoning", "ok", f"{where} ({chars} chars)", facts={"field": where})
    if _THINK_END in content:
        return Step(
            "chat reasoning",
            "warn",
            "leaked into message.content before </think> (an old glm45 reasoning parser); "
            "the harness splits it off",
            facts={"field": "content </think> leak"},
        )
    return Step(
        "chat reasoning",
        "warn",
        "none: neither message.reasoning nor message.reasoning_content was filled",
        ("thinking is off, or the server runs without a reasoning parser",),
        {"field": None},
    )


def responses_reasoning(body: bytes) -> Step:
    """Whether a Responses reply has a ``reasoning`` output item, and what fills it."""
    output = _dict(_json(body)).get("output")
    items = [_dict(i) for i in output] if isinstance(output, list) else []
    found = [i for i in items if i.get("type") == "reasoning"]
    name = "responses reasoning"
    for key, part in (("content", "reasoning_text"), ("summary", "summary_text")):
        texts = [t for i in found for t in _parts(i.get(key), part)]
        if texts:
            where = f"reasoning item, {key}"
            chars = sum(map(len, texts))
            return Step(name, "ok", f"{where} ({chars} chars)", facts={"field": where})
    if found:
        return Step(name, "warn", "a reasoning item with no text", facts={"field": "empty"})
    answer = "".join(t for i in items if i.get("type") == "message" for t in _parts(
        i.get("content"), "output_text"))  # fmt: skip
    if _THINK_END in answer:
        return Step(
            name,
            "warn",
            "leaked into the output text before </think>; the harness splits it off",
            facts={"field": "output_text </think> leak"},
        )
    return Step(
        name,
        "warn",
        "none: the reply has no reasoning output item",
        ("thinking is off, or the server runs without a reasoning parser",),
        {"field": None},
    )


def snippet(text: str, limit: int = _SNIPPET) -> str:
    """``text`` on one line, control characters escaped, cut at ``limit`` characters."""
    flat = " ".join(text.split())
    shown = json.dumps(flat[:limit], ensure_ascii=False)
    return shown[:-1] + '..."' if len(flat) > limit else shown


def render_text(report: Report, token: Secret | None) -> str:
    """The report on one screen: a header, a line per step (wrapped), the verdict."""
    token_state = "set" if report.token_set else "not set"
    lines = [f"glm-harness doctor: {report.base_url}, model {report.model}, token {token_state}"]
    for step in report.steps:
        head = f"{step.status:<5} {step.name:<{_NAME_WIDTH}}"
        lines += textwrap.wrap(
            f"{head}{step.summary}", _WIDTH, subsequent_indent=_INDENT, break_on_hyphens=False
        )
        for detail in step.details:
            lines += textwrap.wrap(
                detail, _WIDTH, initial_indent=_INDENT, subsequent_indent=_INDENT + "  "
            )
    lines += textwrap.wrap(f"verdict: {report.verdict}", _WIDTH, subsequent_indent="  ")
    if report.verdict != "ready":
        lines.append("what each line means and what to do: docs/doctor.md")
    return scrub("\n".join(lines) + "\n", token)


def render_json(report: Report, token: Secret | None) -> str:
    """The same facts as JSON (stable key order, trailing newline)."""
    data = {
        "base_url": report.base_url,
        "model": report.model,
        "token_set": report.token_set,
        "steps": [
            {
                "name": s.name,
                "status": s.status,
                "summary": s.summary,
                "details": list(s.details),
                "facts": dict(s.facts),
            }
            for s in report.steps
        ],
        "warnings": report.warnings,
        "verdict": report.verdict,
        "exit_code": report.exit_code,
    }
    return scrub(json.dumps(_scrubbed(data, token), indent=2, sort_keys=True) + "\n", token)


def scrub(text: str, token: Secret | None) -> str:
    """``text`` without the token in any encoding: a server or proxy may echo it back."""
    return token.scrub(text) if token else text


def _scrubbed(value: Any, token: Secret | None) -> Any:
    # before json.dumps: escaping (a quote, a backslash) could hide the token from scrub()
    if isinstance(value, str):
        return scrub(value, token)
    if isinstance(value, Mapping):
        return {k: _scrubbed(v, token) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(v, token) for v in value]
    return value


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "".join(_parts(value, "text"))


def _parts(parts: Any, kind: str) -> list[str]:
    if not isinstance(parts, list):
        return []
    texts = (p.get("text") for p in map(_dict, parts) if p.get("type") == kind)
    return [t for t in texts if isinstance(t, str) and t]
