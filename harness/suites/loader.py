"""YAML suite -> validated, rendered ``Suite``; every problem of a file reported at once.

Validation is the shipped JSON Schema (``schema/suite.schema.json``). What a schema cannot
see (regexes, schema files, templates and their variables, duplicate ids, check
parameters) is checked while building, for every part whose structure was valid, so that
one run reports all the mistakes of a file, and of its dataset.

Cases come from ``cases:`` and from the rows of ``dataset:`` (:mod:`harness.suites.datasets`),
in that order; each runs through every prompt variant of ``prompts:`` (one ``Case`` per
case and variant). A mistake in a row is reported at the row's line in the dataset file;
a suite-level part that fails for one row only (a template or check using a column the
row lacks) too.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any

from harness.errors import Problem, SuiteError
from harness.models import Api, BoundCheck, Case, Suite
from harness.suites.datasets import read_dataset
from harness.suites.parts import Parts
from harness.suites.problems import _CASE_ID, case_errors, problems_from, schema_errors
from harness.suites.prompts import Variant
from harness.suites.sites import Site
from harness.suites.source import Located, read_yaml
from harness.suites.templates import Templates

NUMBER_KEYS = ("threshold", "min_pass_rate")
DEFAULTS: dict[str, Any] = {
    "apis": ["chat", "responses"],
    "efforts": ["default"],
    "budgets": [None],
    "samples": 1,
    "min_pass_rate": 1.0,
    "stream": False,
}
BUDGETS_CHAT_ONLY = (
    "thinking budgets are Chat only: vLLM sends thinking_token_budget to the model on Chat "
    "and ignores it on Responses; set apis: [chat] where budgets are set"
)
SAME_PROBLEM_SHOWN = 3  # a dataset mistake repeated on many rows: shown this often, then counted


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
    if builder.parts.problems:
        raise SuiteError(_collapse(builder.parts.problems, filename))
    return suite


class _Builder:
    def __init__(
        self,
        located: Located,
        filename: str,
        templates: Templates,
        project_root: FsPath | None = None,
    ) -> None:
        self.data: dict[str, Any] = located.data
        errors = schema_errors(self.data)
        suite = Site(filename, located, (), tuple(tuple(e.absolute_path) for e in errors))
        self.parts = Parts(self.data, suite, templates, project_root)
        self.parts.problems += located.problems
        self.parts.problems += problems_from(errors, located, filename)
        self.suite = suite

    def build(self, default_name: str) -> Suite:
        parts = self.parts
        self.finite(self.data, self.suite)
        variants = parts.prompts.variants()
        entries = self.entries()
        seen: dict[str, Site] = {}
        cases: list[Case] = []
        for raw, site in entries:
            case_id = raw["id"]
            if case_id in seen:
                first = seen[case_id]
                where = f"line {first.line()}" if first.file == site.file else first.file
                where += "" if first.file == site.file else f":{first.line()}"
                self.parts.fail(site, ("id",), f"duplicate case id {case_id!r} (first at {where})")
                continue
            seen[case_id] = site
            cases += self.case(raw, site, variants)
        if not entries and self.suite.clean(("cases",)) and "dataset" not in self.data:
            self.parts.fail(self.suite, (), "no cases: set cases: or dataset:")
        name = self.data.get("name")
        return Suite(
            name=name if isinstance(name, str) else default_name,
            path=self.suite.file,
            description=str(self.data.get("description", "")),
            cases=tuple(cases),
            variants=tuple(v.id for v in variants if v.id),
        )

    def entries(self) -> list[tuple[dict[str, Any], Site]]:
        """Every case mapping with its site: ``cases:`` first, then the dataset's rows."""
        out: list[tuple[dict[str, Any], Site]] = []
        raw_cases = self.data.get("cases")
        for i, raw in enumerate(raw_cases if isinstance(raw_cases, list) else []):
            if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                out.append((raw, self.suite.at(("cases", i))))
        name = self.data.get("dataset")
        if not isinstance(name, str) or not self.suite.clean(("dataset",)):
            return out
        dataset = read_dataset(self.parts.templates.evals_dir, name)
        self.parts.problems += dataset.problems
        if not dataset.rows and not dataset.problems:
            self.parts.fail(self.suite, ("dataset",), f"{name!r} has no rows")
        raws: list[dict[str, Any]] = []
        sites: list[Site] = []
        for row in dataset.rows:
            site = Site(dataset.display, row, row=True)
            case_id = _row_id(row.values.get("id"), row.number)
            if case_id is None or not _CASE_ID.match(case_id):
                shown = row.values.get("id")
                self.parts.fail(
                    site, ("id",), f"{shown!r} is not a case id (letters, digits, _ . -)"
                )
                continue
            if row.is_case:
                raws.append({**row.values, "id": case_id})
            else:
                row_vars = {k: v for k, v in row.values.items() if k != "id"}
                raws.append({"id": case_id, "vars": row_vars})
            sites.append(site)
        bad: dict[int, list[Any]] = defaultdict(list)
        for error in case_errors(raws, ()):
            bad[int(error.path.popleft())].append(error)
        for index, (raw, site) in enumerate(zip(raws, sites, strict=True)):
            errors = bad.get(index, [])
            if errors:
                self.parts.problems += problems_from(errors, site.lines, site.file)
                paths = tuple(tuple(e.absolute_path) for e in errors)
                site = Site(site.file, site.lines, (), paths, row=True)
            out.append((raw, site))
        return out

    def finite(self, owner: dict[str, Any], site: Site) -> None:
        """``.nan`` and ``.inf`` pass the schema's bounds, but mean nothing as a threshold and
        are not JSON in a request body."""
        numbers: list[tuple[tuple[str, ...], Any]] = [((k,), owner.get(k)) for k in NUMBER_KEYS]
        params = owner.get("params")
        if isinstance(params, dict):
            numbers += [(("params", k), v) for k, v in params.items()]
        for where, value in numbers:
            if isinstance(value, float) and not math.isfinite(value):
                self.parts.fail(site, where, f"{value} is not allowed: use a finite number")

    def case(self, raw: dict[str, Any], site: Site, variants: list[Variant]) -> list[Case]:
        parts = self.parts
        variables = parts.variables(raw, site)
        files: set[str] = set()
        checks: list[BoundCheck] = []
        inherited = 0
        tools, tool_choice = parts.offered(raw, site, files)
        if not raw.get("replace_expect"):
            checks = parts.suite_checks(variables, site, raw["id"], files, tools)
            inherited = len(checks)
        checks += parts.checks(raw.get("expect"), site, ("expect",), files, variables, tools)
        checks = parts.bind_judges(checks, inherited, raw, site, files, variables)
        extract = parts.owned_regex(raw, site, "extract")
        structured = parts.structured_output(raw, site, files)
        self.finite(raw, site)
        prompts = parts.prompts.prompts(raw, site, variants, variables)
        if prompts is None or not site.clean(()) or not self.suite.clean(()):
            return []
        merged = {**DEFAULTS, **{k: v for k, v in self.data.items() if k in DEFAULTS}}
        merged.update({k: v for k, v in raw.items() if k in DEFAULTS})
        if "responses" in merged["apis"] and any(b is not None for b in merged["budgets"]):
            owner = site if "budgets" in raw else self.suite
            self.parts.fail(owner, ("budgets",), BUDGETS_CHAT_ONLY)
            return []
        threshold = raw.get("threshold", self.data.get("threshold"))
        return [
            Case(
                id=raw["id"],
                line=site.line(),
                messages=tuple(messages),
                apis=tuple(_api(a) for a in merged["apis"]),
                efforts=tuple(merged["efforts"]),
                budgets=tuple(merged["budgets"]),
                params=_merge_params(self.data.get("params") or {}, raw.get("params") or {}),
                samples=int(merged["samples"]),
                min_pass_rate=float(merged["min_pass_rate"]),
                threshold=None if threshold is None else float(threshold),
                checks=tuple(checks),
                extract=extract,
                structured_output=structured,
                files=tuple(sorted(files | used)),
                stream=bool(merged["stream"]),
                variant=variant,
                defined_in=site.file if site.row else "",
                tools=tools,
                tool_choice=tool_choice,
            )
            for variant, messages, used in prompts
        ]


def _row_id(value: Any, number: int) -> str | None:
    """A row's case id: its ``id`` (a string, or a whole number), else ``row-N``."""
    if value is None or value == "":
        return f"row-{number}"
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _collapse(problems: list[Problem], suite_file: str) -> list[Problem]:
    """A dataset's mistake repeated on many rows (a column every row lacks) is shown on its
    first rows, then counted once: ``... (and on 9,996 more rows: lines 6, 7, 8, ...)``."""
    groups: dict[tuple[str, str, str], list[Problem]] = defaultdict(list)
    for problem in sorted(dict.fromkeys(problems), key=lambda p: (p.file, p.line)):
        groups[(problem.file, problem.path, problem.message)].append(problem)
    out: list[Problem] = []
    for (file, path, message), found in groups.items():
        if file == suite_file or len(found) <= SAME_PROBLEM_SHOWN + 1:
            out += found
            continue
        out += found[:SAME_PROBLEM_SHOWN]
        rest = found[SAME_PROBLEM_SHOWN:]
        lines = ", ".join(str(p.line) for p in rest[:5]) + (", ..." if len(rest) > 5 else "")
        more = f"{message} (and on {len(rest):,} more rows: lines {lines})"
        out.append(Problem(file, rest[0].line, path, more))
    return out


def _api(name: str) -> Api:
    return "chat" if name == "chat" else "responses"


def _merge_params(suite: Mapping[str, Any], case: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**suite, **case}
    if "extra" in suite and "extra" in case:
        merged["extra"] = {**suite["extra"], **case["extra"]}
    return merged
