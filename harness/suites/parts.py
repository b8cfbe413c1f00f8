"""The parts of a case, built from a case mapping and the suite's defaults: its checks
(rendered with its vars), ``extract`` and ``structured_output``; its prompts through
:class:`~harness.suites.prompts.Prompts`.

A part the case inherits from the suite and that is the same for every case (a check
without Jinja markup, the suite's ``extract``, its schema) is built once and shared.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path as FsPath
from typing import Any

from harness.checks.judge import JudgeCheck
from harness.checks.regexes import SafePattern, UnsafePattern, compile_safe
from harness.checks.registry import CheckContext, build_check, has_markup
from harness.checks.schemas import SchemaRefused, check_sent_schema
from harness.errors import CheckSpecError, Problem, TemplateError
from harness.models import BoundCheck, StructuredOutput, Tool
from harness.suites.prompts import Prompts, Rendered
from harness.suites.sites import Site
from harness.suites.source import Path, format_path
from harness.suites.templates import Templates, UndefinedNames
from harness.suites.tools import Offered, choice_problem, inline_tools, tools_file


class Parts:
    """Builds the parts of each case of one suite document; ``problems`` collects every
    mistake found."""

    def __init__(
        self,
        data: dict[str, Any],
        suite: Site,
        templates: Templates,
        project_root: FsPath | None,
    ) -> None:
        self.data = data
        self.suite = suite
        self.templates = templates
        self.project_root = project_root
        self.problems: list[Problem] = []
        self._suite_expect: list[BoundCheck | tuple[int, dict[str, Any]]] | None = None
        self._suite_files: set[str] = set()
        self._shared: dict[str, Any] = {}
        self._index: dict[int, int] = {}  # id of a shared suite check -> its index in expect
        self.prompts = Prompts(data, suite, templates, self.fail)

    def fail(
        self, site: Site, path: Path, message: str, *, key: bool = False,
        case: Site | None = None,
    ) -> None:  # fmt: skip
        """Record a problem at ``path`` of ``site``; a part of the suite file that fails
        for one dataset row (``case``) only is shown at the row's line."""
        if case is not None and case.row and site.file == self.suite.file:
            where = format_path((*site.prefix, *path))
            self.problems.append(Problem(case.file, case.line(), where, message))
        else:
            self.problems.append(site.problem(path, message, key=key))

    def variables(self, raw: Mapping[str, Any], site: Site) -> dict[str, Any]:
        """The case's vars over the suite's (each only when its schema was valid)."""
        suite_vars = self.data.get("vars") if self.suite.clean(("vars",)) else None
        own = raw.get("vars") if site.clean(("vars",)) else None
        return {
            **(suite_vars if isinstance(suite_vars, dict) else {}),
            **(own if isinstance(own, dict) else {}),
        }

    # -- checks ------------------------------------------------------------------------

    def context(
        self, files: set[str], variables: Mapping[str, Any] | None, tools: Sequence[Tool] = ()
    ) -> CheckContext:
        def load_schema(name: str) -> Mapping[str, Any]:
            schema = self.templates.load_json(name)
            files.add(name)
            return schema

        def render(source: str, from_file: bool, names: Mapping[str, Any]) -> Rendered:
            how = self.prompts.file if from_file else self.prompts.inline
            text, used = how(source, names)
            files.update(used)  # a check's template that includes a partial depends on it
            return text, used

        return CheckContext(
            load_schema=load_schema,
            project_root=self.project_root,
            render=render,
            variables=variables,
            tools={tool.name: tool.parameters for tool in tools},
        )

    def suite_checks(
        self, variables: Mapping[str, Any], case: Site, case_id: str, files: set[str],
        tools: Sequence[Tool] = (),
    ) -> list[BoundCheck]:  # fmt: skip
        """The suite's ``expect`` for one case: checks without markup are built once and
        shared; the others are built with the case's vars (all of them, for a case that
        offers tools of its own: the tool call checks read the tools offered)."""
        if tuple(tools) != self.suite_tools():
            return self.checks(
                self.data.get("expect"), self.suite, ("expect",), files, variables, tools, case
            )
        if self._suite_expect is None:
            self._suite_expect = []
            raw = self.data.get("expect")
            for j, item in enumerate(raw if isinstance(raw, list) else []):
                where = ("expect", j)
                if not isinstance(item, dict) or not self.suite.clean(where):
                    continue
                if has_markup({k: v for k, v in item.items() if k != "weight"}):
                    self._suite_expect.append((j, item))
                    continue
                built = self.check(
                    item, self.suite, where, self._suite_files, None, tools=self.suite_tools()
                )
                if built is not None:
                    self._suite_expect.append(built)
                    self._index[id(built)] = j
        files.update(self._suite_files)
        out: list[BoundCheck] = []
        for entry in self._suite_expect:
            if isinstance(entry, BoundCheck):
                out.append(entry)
                continue
            j, item = entry
            suffix = "" if case.row else f" (rendering it for case {case_id!r})"
            built = self.check(
                item, self.suite, ("expect", j), files, variables, case, suffix, tools
            )
            if built is not None:
                out.append(built)
        return out

    def checks(
        self, raw: Any, site: Site, at: Path, files: set[str], variables: Mapping[str, Any],
        tools: Sequence[Tool] = (), case: Site | None = None,
    ) -> list[BoundCheck]:  # fmt: skip
        """A case's own checks (or, given ``case``, the suite's for it), rendered with its
        vars."""
        out: list[BoundCheck] = []
        for j, item in enumerate(raw if isinstance(raw, list) else []):
            if isinstance(item, dict) and site.clean((*at, j)):
                built = self.check(
                    item, site, (*at, j), files, variables, case or site, tools=tools
                )
                if built is not None:
                    out.append(built)
        return out

    def check(
        self, item: Mapping[str, Any], site: Site, where: Path, files: set[str],
        variables: Mapping[str, Any] | None, case: Site | None = None, suffix: str = "",
        tools: Sequence[Tool] = (),
    ) -> BoundCheck | None:  # fmt: skip
        spec = {k: v for k, v in item.items() if k != "weight"}
        try:
            name, check = build_check(spec, self.context(files, variables, tools))
        except CheckSpecError as exc:
            path = (*where, *_parse_path(exc.path))
            self.fail(site, path, exc.message + suffix, case=case)
            return None
        weight = _weight(item.get("weight", 1.0))
        if weight is None:  # the schema lets NaN and infinity through
            self.fail(site, (*where, "weight"), "must be a finite number above 0")
            return None
        return BoundCheck(name, weight, site.line(where), check)

    def bind_judges(
        self, checks: list[BoundCheck], inherited: int, raw: Mapping[str, Any], site: Site,
        files: set[str], variables: Mapping[str, Any],
    ) -> list[BoundCheck]:  # fmt: skip
        """Render each ``judge`` check's rubric with the case's vars (the first
        ``inherited`` checks come from the suite's ``expect``)."""
        if not any(isinstance(b.run, JudgeCheck) for b in checks):
            return checks
        if not (self.suite.clean(("vars",)) and site.clean(("vars",))):
            return checks
        out = []
        for number, bound in enumerate(checks):
            if isinstance(bound.run, JudgeCheck):
                own = number >= inherited
                owner_site = site if own else self.suite
                index = number - inherited if own else self._index.get(id(bound), number)
                key = "rubric_template" if bound.run.from_file else "rubric"
                try:
                    judge, used = bound.run.bind(variables)
                except TemplateError as exc:
                    suffix = "" if own or site.row else f" (rendering it for case {raw['id']!r})"
                    messages = exc.messages if isinstance(exc, UndefinedNames) else [exc.message]
                    for message in messages:
                        path = ("expect", index, "judge", key)
                        self.fail(owner_site, path, message + suffix, case=site)
                    continue
                files.update(used)
                bound = replace(bound, run=judge)
            out.append(bound)
        return out

    # -- tools ---------------------------------------------------------------------------

    def suite_tools(self) -> tuple[Tool, ...]:
        """The suite's own ``tools`` (read once), () when it has none or they are wrong."""
        if "tools" not in self._shared:
            self._shared["tools"] = self._tools(self.data.get("tools"), self.suite)
        offered: Offered | None = self._shared["tools"]
        return offered.tools if offered is not None else ()

    def offered(
        self, raw: Mapping[str, Any], site: Site, files: set[str]
    ) -> tuple[tuple[Tool, ...], Any]:
        """The tools a case offers (its own, else the suite's) and its ``tool_choice``."""
        if "tools" in raw:
            found = self._tools(raw["tools"], site)
        else:
            self.suite_tools()
            found = self._shared["tools"]
        tools = found.tools if found is not None else ()
        if found is not None and found.file:
            files.add(found.file)  # a tools file is a prompt file
        owner = site if "tool_choice" in raw else self.suite
        choice = (raw if "tool_choice" in raw else self.data).get("tool_choice")
        why = choice_problem(choice, tools) if owner.clean(("tool_choice",)) else None
        if why is not None and (found is None or not found.problems):
            self.fail(owner, ("tool_choice",), why)
        return tools, choice

    def _tools(self, value: Any, site: Site) -> Offered | None:
        if value is None or not site.clean(("tools",)):
            return None
        if isinstance(value, str):
            found = tools_file(self.templates.evals_dir, value)
        else:
            found = inline_tools(value, site.lines, site.file, (*site.prefix, "tools"))
        self.problems += found.problems
        return found

    # -- extract and structured output --------------------------------------------------

    def owned_regex(self, raw: Mapping[str, Any], site: Site, key: str) -> SafePattern | None:
        """``extract``: the case's own, else the suite's (compiled once)."""
        if key in raw:
            return self._regex(raw[key], site, key)
        if key not in self._shared:
            self._shared[key] = self._regex(self.data.get(key), self.suite, key)
        shared: SafePattern | None = self._shared[key]
        return shared

    def _regex(self, value: Any, site: Site, key: str) -> SafePattern | None:
        if value is None or not site.clean((key,)):
            return None
        try:
            return compile_safe(value)
        except UnsafePattern as exc:
            self.fail(site, (key,), str(exc))
            return None

    def structured_output(
        self, raw: Mapping[str, Any], site: Site, files: set[str]
    ) -> StructuredOutput | None:
        key = "structured_output"
        if key in raw:
            return self._structured(raw[key], site, files)
        if key not in self._shared:
            self._shared[key] = self._structured(self.data.get(key), self.suite, set())
        shared: StructuredOutput | None = self._shared[key]
        if shared is not None:
            files.add(self.data[key])
        return shared

    def _structured(self, name: Any, site: Site, files: set[str]) -> StructuredOutput | None:
        key = "structured_output"
        if name is None or not site.clean((key,)):
            return None
        try:
            schema = self.templates.load_json(name)
            check_sent_schema(schema, repr(name))
        except TemplateError as exc:
            self.fail(site, (key,), exc.message)
            return None
        except SchemaRefused as exc:
            self.fail(site, (key,), str(exc))
            return None
        files.add(name)
        stem = re.sub(r"[^A-Za-z0-9_-]", "_", FsPath(name).stem)
        return StructuredOutput(name=stem, schema=schema)


def _weight(value: Any) -> float | None:
    try:
        weight = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return weight if weight == weight and abs(weight) != float("inf") else None


def _parse_path(text: str) -> Path:
    """``all[1].regex`` -> ``("all", 1, "regex")``."""
    out: list[str | int] = []
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", text):
        out.append(int(part[1:-1]) if part.startswith("[") else part)
    return tuple(out)
