"""``tools:``: the functions a case offers the model, inline or from a file under ``evals/``.

A tool is OpenAI's Chat form, ``{type: function, function: {name, description,
parameters}}`` (the request builder sends Responses its flat form). A file is a JSON or
YAML list of them, read with the suite files' bounds and line marks, so a mistake in it is
shown at its own line (``evals/tools/weather.json:7: [0].function.parameters: ...``). Each
``parameters`` must be a JSON Schema the server can take whole (a known dialect, valid,
every ``$ref`` inside it); names are unique. ``tool_choice`` may only name an offered tool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from harness.checks.schemas import SchemaRefused, check_sent_schema
from harness.errors import Problem, TemplateError
from harness.models import Tool
from harness.suites.problems import Lines, problems_from, tool_errors
from harness.suites.source import Path, format_path, load_yaml
from harness.suites.templates import read_evals_file, resolve_under


@dataclass(slots=True)
class Offered:
    """The tools read from one ``tools:`` value, the file they came from ("" inline) and
    what was wrong (each problem located)."""

    tools: tuple[Tool, ...] = ()
    file: str = ""
    problems: list[Problem] = field(default_factory=list)


def tools_file(evals_dir: FsPath, name: str) -> Offered:
    """Read and check the tools file ``name`` under ``evals_dir``."""
    display = f"{evals_dir.name}/{name}"
    found = Offered(file=name)
    try:
        path = resolve_under(evals_dir, name, "tools file")
        text = read_evals_file(path, "tools file", errors="strict")
    except TemplateError as exc:
        found.problems.append(Problem(display, 1, "", exc.message))
        return found
    except UnicodeDecodeError as exc:
        found.problems.append(Problem(display, 1, "", f"not UTF-8 ({exc.reason})"))
        return found
    located = load_yaml(text, display)  # JSON is read as YAML 1.2: every value keeps its line
    found.problems += located.problems
    if located.data is None:
        return found
    if not isinstance(located.data, list) or not located.data:
        found.problems.append(Problem(display, 1, "", "a tools file is a list of tools"))
        return found
    errors = tool_errors(located.data)
    found.problems += problems_from(errors, located, display)
    if not errors:
        found.tools = tuple(_checked(located.data, located, display, (), found.problems))
    return found


def inline_tools(
    value: Sequence[Mapping[str, Any]], located: Lines, file: str, at: Path
) -> Offered:
    """Check tools written in the suite (their structure was validated with the suite)."""
    found = Offered()
    found.tools = tuple(_checked(value, located, file, at, found.problems))
    return found


def _checked(
    value: Sequence[Any], located: Lines, file: str, at: Path, problems: list[Problem]
) -> list[Tool]:
    out: list[Tool] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(value):
        function = item["function"]
        name = function["name"]
        where: Path = (*at, index, "function")
        line = located.line_of(where)
        if name in seen:
            message = f"tool {name!r} is offered twice (first at line {seen[name]})"
            problems.append(
                Problem(
                    file, located.line_of((*where, "name")), format_path((*where, "name")), message
                )
            )
            continue
        seen[name] = line
        parameters = function.get("parameters", {"type": "object", "properties": {}})
        try:
            check_sent_schema(parameters, f"parameters of tool {name!r}")
        except SchemaRefused as exc:
            spot = (*where, "parameters")
            problems.append(Problem(file, located.line_of(spot), format_path(spot), str(exc)))
            continue
        out.append(Tool(name, str(function.get("description", "")), parameters))
    return out


def choice_problem(choice: Any, tools: Sequence[Tool]) -> str | None:
    """Why ``tool_choice`` cannot be used with ``tools``, or None."""
    if choice is None:
        return None
    if not tools and choice != "none":
        return "tool_choice without tools: set tools: too"
    if isinstance(choice, Mapping):
        names = [tool.name for tool in tools]
        if choice["name"] not in names:
            return (
                f"tool_choice names {choice['name']!r}, which is not offered ({', '.join(names)})"
            )
    return None
