"""YAML suite -> validated, rendered ``Suite``; every problem of a file reported at once.

Validation is the shipped JSON Schema (``schema/suite.schema.json``). What a schema cannot
see (regexes, schema files, templates and their variables, duplicate ids, check
parameters) is checked while building, for every part whose structure was valid, so that
one run reports all the mistakes of a file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path as FsPath
from typing import Any

from harness.checks.judge import JudgeCheck
from harness.checks.regexes import SafePattern, UnsafePattern, compile_safe
from harness.checks.registry import CheckContext, build_check
from harness.checks.schemas import SchemaRefused, check_sent_schema
from harness.errors import CheckSpecError, Problem, SuiteError, TemplateError
from harness.models import Api, BoundCheck, Case, Message, StructuredOutput, Suite
from harness.suites.problems import problems_from, schema_errors
from harness.suites.source import Located, Path, format_path, read_yaml
from harness.suites.templates import Templates, UndefinedNames

PROMPT_KEYS = ("template", "prompt", "messages")
NUMBER_KEYS = ("threshold", "min_pass_rate")
SYSTEM_KEYS = ("system", "system_template")
Rendered = tuple[str, set[str]]  # a template's text and the files it read
DEFAULTS: dict[str, Any] = {
    "apis": ["chat", "responses"],
    "efforts": ["default"],
    "samples": 1,
    "min_pass_rate": 1.0,
    "stream": False,
}


def load_suite(
    path: FsPath,
    *,
    evals_dir: FsPath,
    display: str | None = None,
    project_root: FsPath | None = None,
) -> Suite:
    """Load one suite file. Raises ``SuiteError`` listing every problem found in it."""
    filename = display or str(path)
    located = read_yaml(path, filename)
    if located.problems and located.data is None:
        raise SuiteError(located.problems)
    if located.data is None:
        raise SuiteError([Problem(filename, 1, "", "the file is empty")])
    if not isinstance(located.data, dict):
        got = type(located.data).__name__
        raise SuiteError([Problem(filename, 1, "", f"a suite is a mapping, got {got}")])
    builder = _Builder(located, filename, Templates(evals_dir), project_root)
    suite = builder.build(default_name=path.stem)
    if builder.problems:
        raise SuiteError(builder.problems)
    return suite


class _Builder:
    def __init__(
        self,
        located: Located,
        filename: str,
        templates: Templates,
        project_root: FsPath | None = None,
    ) -> None:
        self.project_root = project_root
        self.located = located
        self.filename = filename
        self.templates = templates
        self.data: dict[str, Any] = located.data
        self.problems: list[Problem] = list(located.problems)
        errors = schema_errors(self.data)
        self.problems += problems_from(errors, located, filename)
        self.bad: list[Path] = [tuple(e.absolute_path) for e in errors]

    def problem(self, path: Path, message: str, *, key: bool = False) -> None:
        line = self.located.line_of(path, key=key)
        self.problems.append(Problem(self.filename, line, format_path(path), message))

    def clean(self, path: Path) -> bool:
        """True when no schema error lies at or below ``path``."""
        return not any(bad[: len(path)] == path for bad in self.bad)

    def build(self, default_name: str) -> Suite:
        suite_files: set[str] = set()
        self.finite(self.data, ())
        suite_checks = self.checks(self.data.get("expect"), ("expect",), suite_files)
        cases: list[Case] = []
        seen: dict[str, int] = {}
        raw_cases = self.data.get("cases")
        for i, raw in enumerate(raw_cases if isinstance(raw_cases, list) else []):
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
                continue
            case_id = raw["id"]
            if case_id in seen:
                first = seen[case_id]
                self.problem(
                    ("cases", i, "id"), f"duplicate case id {case_id!r} (first at line {first})"
                )
            else:
                seen[case_id] = self.located.line_of(("cases", i))
            case = self.case(raw, i, suite_checks, suite_files)
            if case is not None:
                cases.append(case)
        name = self.data.get("name")
        return Suite(
            name=name if isinstance(name, str) else default_name,
            path=self.filename,
            description=str(self.data.get("description", "")),
            cases=tuple(cases),
        )

    def finite(self, owner: dict[str, Any], at: Path) -> None:
        """``.nan`` and ``.inf`` pass the schema's bounds, but mean nothing as a threshold and
        are not JSON in a request body."""
        numbers: list[tuple[Path, Any]] = [((*at, k), owner.get(k)) for k in NUMBER_KEYS]
        params = owner.get("params")
        if isinstance(params, dict):
            numbers += [((*at, "params", k), v) for k, v in params.items()]
        for where, value in numbers:
            if isinstance(value, float) and not math.isfinite(value):
                self.problem(where, f"{value} is not allowed: use a finite number")

    def case(
        self, raw: dict[str, Any], i: int, suite_checks: list[BoundCheck], suite_files: set[str]
    ) -> Case | None:
        at: Path = ("cases", i)
        files = set() if raw.get("replace_expect") else set(suite_files)
        own = self.checks(raw.get("expect"), (*at, "expect"), files)
        checks = own if raw.get("replace_expect") else [*suite_checks, *own]
        checks = self.bind_judges(checks, len(checks) - len(own), raw, at, files)
        messages = self.messages(raw, at, files)
        extract = self.regex(raw, at, "extract")
        structured = self.structured_output(raw, at, files)
        self.finite(raw, at)
        if messages is None or self.bad:
            return None
        merged = {**DEFAULTS, **{k: v for k, v in self.data.items() if k in DEFAULTS}}
        merged.update({k: v for k, v in raw.items() if k in DEFAULTS})
        threshold = raw.get("threshold", self.data.get("threshold"))
        return Case(
            id=raw["id"],
            line=self.located.line_of(at),
            messages=tuple(messages),
            apis=tuple(_api(a) for a in merged["apis"]),
            efforts=tuple(merged["efforts"]),
            params=_merge_params(self.data.get("params") or {}, raw.get("params") or {}),
            samples=int(merged["samples"]),
            min_pass_rate=float(merged["min_pass_rate"]),
            threshold=None if threshold is None else float(threshold),
            checks=tuple(checks),
            extract=extract,
            structured_output=structured,
            files=tuple(sorted(files)),
            stream=bool(merged["stream"]),
        )

    def messages(self, raw: dict[str, Any], at: Path, files: set[str]) -> list[Message] | None:
        """Render the case's prompt: its own template/prompt/messages, else the suite's."""
        owner, source = (raw, at) if any(k in raw for k in PROMPT_KEYS) else (self.data, ())
        given = [k for k in PROMPT_KEYS if k in owner]
        if not given:
            self.problem(
                at, "no prompt: set one of template, prompt or messages (here or on the suite)"
            )
            return None
        if len(given) > 1:
            self.problem((*source, given[1]), f"set only one of {', '.join(given)}", key=True)
            return None
        sys_owner, sys_at = (raw, at) if any(k in raw for k in SYSTEM_KEYS) else (self.data, ())
        keys = [(*source, given[0]), (*sys_at, "system"), (*sys_at, "system_template")]
        keys += [("vars",), (*at, "vars")]
        if not all(self.clean(k) for k in keys):
            return None
        variables = {**(self.data.get("vars") or {}), **(raw.get("vars") or {})}
        out: list[Message] = []
        try:
            if "system" in sys_owner and "system_template" in sys_owner:
                self.problem(
                    (*sys_at, "system_template"), "set only one of system, system_template"
                )
                return None
            for key, render in (("system", self.inline), ("system_template", self.file)):
                if key in sys_owner:
                    out.append(
                        Message(
                            "system",
                            self.render(render, sys_owner[key], variables, (*sys_at, key), files),
                        )
                    )
            key = given[0]
            if key == "messages":
                failed = False
                for j, item in enumerate(owner["messages"]):
                    where = (*source, "messages", j)
                    how, part = (
                        (self.file, "template") if "template" in item else (self.inline, "content")
                    )
                    try:
                        text = self.render(how, item[part], variables, (*where, part), files)
                    except _Reported:  # go on: every message's mistakes are reported
                        failed = True
                        continue
                    out.append(Message(item["role"], text))
                if failed:
                    return None
            else:
                render = self.file if key == "template" else self.inline
                out.append(
                    Message(
                        "user", self.render(render, owner[key], variables, (*source, key), files)
                    )
                )
        except _Reported:
            return None
        return out

    def inline(self, source: str, variables: Mapping[str, Any]) -> tuple[str, set[str]]:
        return self.templates.render_string(source, variables)

    def file(self, name: str, variables: Mapping[str, Any]) -> tuple[str, set[str]]:
        text, used = self.templates.render_file(name, variables)
        return text, used | {name}

    def render(
        self, how: Any, value: str, variables: Mapping[str, Any], path: Path, files: set[str]
    ) -> str:
        try:
            text, used = how(value, variables)
        except TemplateError as exc:
            for message in _messages(exc):
                self.problem(path, message)
            raise _Reported from None
        files.update(used)
        return str(text)

    def regex(self, raw: dict[str, Any], at: Path, key: str) -> SafePattern | None:
        owner, where = (raw, (*at, key)) if key in raw else (self.data, (key,))
        if key not in owner or not self.clean(where):
            return None
        try:
            return compile_safe(owner[key])
        except UnsafePattern as exc:
            self.problem(where, str(exc))
            return None

    def structured_output(
        self, raw: dict[str, Any], at: Path, files: set[str]
    ) -> StructuredOutput | None:
        key = "structured_output"
        owner, where = (raw, (*at, key)) if key in raw else (self.data, (key,))
        if key not in owner or not self.clean(where):
            return None
        name = owner[key]
        try:
            schema = self.templates.load_json(name)
            check_sent_schema(schema, repr(name))
        except TemplateError as exc:
            self.problem(where, exc.message)
            return None
        except SchemaRefused as exc:
            self.problem(where, str(exc))
            return None
        files.add(name)
        return StructuredOutput(
            name=re.sub(r"[^A-Za-z0-9_-]", "_", FsPath(name).stem), schema=schema
        )

    def checks(self, raw: Any, at: Path, files: set[str]) -> list[BoundCheck]:
        out: list[BoundCheck] = []
        if not isinstance(raw, list):
            return out

        def load_schema(name: str) -> Mapping[str, Any]:
            schema = self.templates.load_json(name)
            files.add(name)
            return schema

        def render(source: str, from_file: bool, variables: Mapping[str, Any]) -> Rendered:
            return self.file(source, variables) if from_file else self.inline(source, variables)

        ctx = CheckContext(load_schema=load_schema, project_root=self.project_root, render=render)
        for j, item in enumerate(raw):
            where = (*at, j)
            if not isinstance(item, dict) or not self.clean(where):
                continue
            spec = {k: v for k, v in item.items() if k != "weight"}
            try:
                name, check = build_check(spec, ctx)
            except CheckSpecError as exc:
                self.problem((*where, *_parse_path(exc.path)), exc.message)
                continue
            try:
                weight = float(item.get("weight", 1.0))
            except OverflowError:  # an int too large for a float
                weight = math.inf
            if not math.isfinite(weight):  # the schema lets NaN and infinity through
                self.problem((*where, "weight"), "must be a finite number above 0")
                continue
            out.append(BoundCheck(name, weight, self.located.line_of(where), check))
        return out

    def bind_judges(
        self, checks: list[BoundCheck], inherited: int, raw: dict[str, Any], at: Path,
        files: set[str],
    ) -> list[BoundCheck]:  # fmt: skip
        """Render each ``judge`` check's rubric with the case's vars (the first
        ``inherited`` checks come from the suite's ``expect``)."""
        if not any(isinstance(b.run, JudgeCheck) for b in checks):
            return checks
        if not (self.clean(("vars",)) and self.clean((*at, "vars"))):
            return checks
        variables = {**(self.data.get("vars") or {}), **(raw.get("vars") or {})}
        out = []
        for number, bound in enumerate(checks):
            if isinstance(bound.run, JudgeCheck):
                own = number >= inherited
                where = (*at, "expect", number - inherited) if own else ("expect", number)
                key = "rubric_template" if bound.run.from_file else "rubric"
                try:
                    judge, used = bound.run.bind(variables)
                except TemplateError as exc:
                    suffix = "" if own else f" (rendering it for case {raw['id']!r})"
                    for message in _messages(exc):
                        self.problem((*where, "judge", key), message + suffix)
                    continue
                files.update(used)
                bound = replace(bound, run=judge)
            out.append(bound)
        return out


class _Reported(Exception):
    """A problem was recorded; stop building this part."""


def _messages(exc: TemplateError) -> list[str]:
    """One problem line per undefined name, else the error's one message."""
    return exc.messages if isinstance(exc, UndefinedNames) else [exc.message]


def _api(name: str) -> Api:
    return "chat" if name == "chat" else "responses"


def _merge_params(suite: Mapping[str, Any], case: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**suite, **case}
    if "extra" in suite and "extra" in case:
        merged["extra"] = {**suite["extra"], **case["extra"]}
    return merged


def _parse_path(text: str) -> Path:
    """``all[1].regex`` -> ``("all", 1, "regex")``."""
    out: list[str | int] = []
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", text):
        out.append(int(part[1:-1]) if part.startswith("[") else part)
    return tuple(out)
