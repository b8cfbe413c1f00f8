"""Prompts: a case's messages for each prompt variant of ``prompts:`` (a suite without
variants: the case's own template, prompt or messages, else the suite's), rendered with
its vars. An undefined name is shown at the case (a dataset row's own line)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import TemplateError
from harness.models import Message, ToolCall
from harness.suites.sites import Site
from harness.suites.source import Path
from harness.suites.templates import Templates, UndefinedNames

PROMPT_KEYS = ("template", "prompt", "messages")
SYSTEM_KEYS = ("system", "system_template")
Rendered = tuple[str, set[str]]  # a template's text and the files it read
Prompt = tuple[str, list[Message], set[str]]  # variant id, messages, files read
Fail = Callable[..., None]  # (site, path, message, *, key=False, case=None)


@dataclass(frozen=True, slots=True)
class Variant:
    """A prompt variant of ``prompts:`` (``id`` "": the suite has none; the case's or the
    suite's own prompt is used)."""

    id: str
    keys: Mapping[str, Any]
    site: Site


def _call(spec: Mapping[str, Any], turn: int, number: int) -> ToolCall:
    """A call an assistant turn made: its arguments a mapping (sent as JSON text) or the
    JSON text itself; an id of its own, else one made from its place."""
    arguments = spec.get("arguments", {})
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    parsed: Any = arguments
    error = None
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except (ValueError, RecursionError) as exc:
            parsed, error = None, f"not JSON: {exc}"
    call_id = spec.get("id") or f"call_{turn}_{number}"
    return ToolCall(call_id, spec["name"], parsed, raw, error)


class _Reported(Exception):
    """A problem was recorded; stop building this part."""


class Prompts:
    """Renders the prompts of one suite document's cases; mistakes go to ``fail``."""

    def __init__(self, data: dict[str, Any], suite: Site, templates: Templates, fail: Fail) -> None:
        self.data = data
        self.suite = suite
        self.templates = templates
        self.fail = fail

    def variants(self) -> list[Variant]:
        """The suite's prompt variants; one unnamed variant when it has no ``prompts:``."""
        raw = self.data.get("prompts")
        if raw is None:
            return [Variant("", {}, self.suite)]
        if not isinstance(raw, list):
            return []
        own = [k for k in PROMPT_KEYS if k in self.data]
        if own:
            message = f"set either prompts or {own[0]}: prompts lists every prompt of the suite"
            self.fail(self.suite, (own[0],), message, key=True)
        out: list[Variant] = []
        seen: dict[str, int] = {}
        for k, item in enumerate(raw):
            site = self.suite.at(("prompts", k))
            if not site.clean(()):  # the schema's problem is reported; look at the others
                continue
            if item["id"] in seen:
                first = f"first at line {seen[item['id']]}"
                self.fail(site, ("id",), f"duplicate prompt id {item['id']!r} ({first})")
                continue
            seen[item["id"]] = site.line()
            if not any(key in item for key in PROMPT_KEYS):
                self.fail(site, (), "a prompt variant needs one of template, prompt or messages")
                continue
            out.append(Variant(item["id"], item, site))
        return out

    def prompts(
        self, raw: Mapping[str, Any], site: Site, variants: list[Variant],
        variables: Mapping[str, Any],
    ) -> list[Prompt] | None:  # fmt: skip
        """The case's messages for each variant (None when any failed, all reported)."""
        if not variants:
            return None
        own = [k for k in PROMPT_KEYS if k in raw]
        if variants[0].id and own:
            message = "a case of a suite with prompts: runs through every variant; "
            message += "it cannot set its own " + own[0]
            self.fail(site, (own[0],), message, key=True)
            return None
        out: list[Prompt] = []
        for variant in variants:
            files: set[str] = set()
            messages = self.messages(raw, site, variant, variables, files)
            if messages is not None:
                out.append((variant.id, messages, files))
        return out if len(out) == len(variants) else None

    def messages(
        self, raw: Mapping[str, Any], site: Site, variant: Variant,
        variables: Mapping[str, Any], files: set[str],
    ) -> list[Message] | None:  # fmt: skip
        """Render one variant's prompt (a suite without variants: the case's own template,
        prompt or messages, else the suite's)."""
        owner: Mapping[str, Any]
        if variant.id:
            owner, source = variant.keys, variant.site
        elif any(k in raw for k in PROMPT_KEYS):
            owner, source = raw, site
        else:
            owner, source = self.data, self.suite
        given = [k for k in PROMPT_KEYS if k in owner]
        if not given:
            message = "no prompt: set one of template, prompt or messages (here or on the suite)"
            self.fail(site, (), message)
            return None
        if len(given) > 1:
            self.fail(source, (given[1],), f"set only one of {', '.join(given)}", key=True)
            return None
        sys_owner: Mapping[str, Any] = self.data
        sys_site = self.suite
        if any(k in raw for k in SYSTEM_KEYS):
            sys_owner, sys_site = raw, site
        elif variant.id and any(k in variant.keys for k in SYSTEM_KEYS):
            sys_owner, sys_site = variant.keys, variant.site
        checked = [(source, given[0]), (sys_site, "system"), (sys_site, "system_template")]
        checked += [(self.suite, "vars"), (site, "vars")]
        if not all(where.clean((key,)) for where, key in checked):
            return None
        out: list[Message] = []
        try:
            if "system" in sys_owner and "system_template" in sys_owner:
                message = "set only one of system, system_template"
                self.fail(sys_site, ("system_template",), message)
                return None
            for key, how in (("system", self.inline), ("system_template", self.file)):
                if key in sys_owner:
                    text = self.render(
                        how, sys_owner[key], variables, sys_site, (key,), files, site
                    )
                    out.append(Message("system", text))
            key = given[0]
            if key != "messages":
                how = self.file if key == "template" else self.inline
                text = self.render(how, owner[key], variables, source, (key,), files, site)
                return [*out, Message("user", text)]
            failed = False
            for j, item in enumerate(owner["messages"]):
                where = ("messages", j)
                if not self.turn_ok(item, source, where):
                    failed = True
                    continue
                part = "template" if "template" in item else "content"
                how = self.file if part == "template" else self.inline
                try:
                    text = ""
                    if part in item:
                        text = self.render(
                            how, item[part], variables, source, (*where, part), files, site
                        )
                except _Reported:  # go on: every message's mistakes are reported
                    failed = True
                    continue
                try:
                    calls = tuple(
                        _call(self.rendered(spec, variables, source, (*where, "tool_calls", k),
                                            files, site), j, k)
                        for k, spec in enumerate(item.get("tool_calls", ()))
                    )  # fmt: skip
                except _Reported:
                    failed = True
                    continue
                out.append(
                    Message(item["role"], text, item.get("name"), calls, item.get("tool_call_id"))
                )
            return None if failed else out
        except _Reported:
            return None

    def rendered(
        self, value: Any, variables: Mapping[str, Any], site: Site, path: Path,
        files: set[str], case: Site,
    ) -> Any:  # fmt: skip
        """``value`` with every string in it that holds Jinja markup rendered (a call's
        arguments, as a conversation writes them: ``{city: "{{ city }}"}``)."""
        if isinstance(value, str):
            if "{{" in value or "{%" in value:
                return self.render(self.inline, value, variables, site, path, files, case)
            return value
        if isinstance(value, Mapping):
            return {
                k: self.rendered(v, variables, site, (*path, k), files, case)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [
                self.rendered(v, variables, site, (*path, n), files, case)
                for n, v in enumerate(value)
            ]
        return value

    def turn_ok(self, item: Mapping[str, Any], site: Site, where: Path) -> bool:
        """A turn's keys fit its role: one of content or template (an assistant turn with
        tool_calls may have neither); tool_calls on assistant turns only; a ``tool`` turn
        answers a call by its ``tool_call_id``."""
        role, texts = item["role"], [k for k in ("content", "template") if k in item]
        problems: list[tuple[Path, str]] = []
        if len(texts) > 1 or (not texts and not (role == "assistant" and "tool_calls" in item)):
            problems.append(((), "a message needs exactly one of content or template"))
        if "tool_calls" in item and role != "assistant":
            problems.append((("tool_calls",), "only an assistant turn makes tool calls"))
        if role == "tool" and "tool_call_id" not in item:
            problems.append(((), "a tool turn needs tool_call_id: the id of the call it answers"))
        if "tool_call_id" in item and role != "tool":
            problems.append((("tool_call_id",), "only a tool turn answers a call"))
        for path, message in problems:
            self.fail(site, (*where, *path), message, key=bool(path))
        return not problems

    def inline(self, source: str, variables: Mapping[str, Any]) -> Rendered:
        return self.templates.render_string(source, variables)

    def file(self, name: str, variables: Mapping[str, Any]) -> Rendered:
        text, used = self.templates.render_file(name, variables)
        return text, used | {name}

    def render(
        self, how: Any, value: str, variables: Mapping[str, Any], site: Site, path: Path,
        files: set[str], case: Site,
    ) -> str:  # fmt: skip
        try:
            text, used = how(value, variables)
        except UndefinedNames as exc:  # the case's vars lack a name: shown at the case
            for message in exc.messages:
                self.fail(site, path, message, case=case)
            raise _Reported from None
        except TemplateError as exc:
            self.fail(site, path, exc.message)
            raise _Reported from None
        files.update(used)
        return str(text)
