"""What every check module shares: the build context, the factory type, small helpers."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checks.jsontext import find_json, pointer_problem, resolve_pointer
from harness.errors import CheckSpecError
from harness.models import Check, Subject

# A factory takes its parameters as keywords (plus ``ctx`` when it declares it) and returns
# the built check; the keywords differ per check, so the registry can only say ``...``.
Factory = Callable[..., Check]

NO_JSON = "no JSON found in answer"


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What building a check may need from outside: ``load_schema(path)`` loads a JSON
    Schema file under evals/ and raises ``TemplateError`` if it is missing, outside evals/
    or not JSON; ``project_root`` is where ``python`` checks find their functions;
    ``render(source, from_file, vars)`` renders a template (inline or a file under evals/)
    and returns the text and the files it read; ``nested`` is true inside all/any/not/...
    (where a ``judge`` check is not allowed); ``variables``, a case's vars: when set (with
    ``render``), the check's parameters are rendered with them
    (:mod:`harness.checks.templated`); ``tools``, the tools the case offers (name ->
    parameters schema), for the tool call checks."""

    load_schema: Callable[[str], Mapping[str, Any]]
    project_root: Path | None = None
    render: Callable[[str, bool, Mapping[str, Any]], tuple[str, set[str]]] | None = None
    nested: bool = False
    variables: Mapping[str, Any] | None = None
    tools: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # set by the registry for factories that build checks of their own (tool call arguments)
    build: Callable[[Mapping[str, Any], CheckContext], Check] | None = None
    is_check: Callable[[str], bool] | None = None


def join_path(prefix: str, sub: str) -> str:
    """Join spec paths: ``("all", "[1].regex")`` -> ``all[1].regex``, ``("fuzzy", "min")``
    -> ``fuzzy.min``."""
    if not sub:
        return prefix
    if not prefix or sub.startswith("["):
        return prefix + sub
    return f"{prefix}.{sub}"


def check_pointer(pointer: object, path: str = "pointer") -> None:
    """Raise ``CheckSpecError`` at ``path`` when ``pointer`` is not valid JSON pointer syntax."""
    problem = pointer_problem(pointer)
    if problem is not None:
        raise CheckSpecError(path, problem)


def check_range(low_key: str, low: float | None, high_key: str, high: float | None) -> None:
    """Raise ``CheckSpecError`` when a lower bound is negative or exceeds its upper bound."""
    for key, bound in ((low_key, low), (high_key, high)):
        if bound is not None and bound < 0:
            raise CheckSpecError(key, f"{bound} is negative; it must be 0 or more")
    if low is not None and high is not None and low > high:
        raise CheckSpecError(low_key, f"{low} is greater than {high_key} {high}")


def check_float_sized(key: str, value: object) -> None:
    """Raise ``CheckSpecError`` at ``key`` for an int too large for a float: the check's
    float arithmetic and formatting would overflow when it runs."""
    if isinstance(value, int) and abs(value) > sys.float_info.max:
        raise CheckSpecError(key, f"{short(value)} is too large a number")


def json_document(subject: Subject) -> tuple[bool, Any]:
    """The JSON a subject holds: its value when a pointer already selected one, otherwise
    the JSON found in its text."""
    if not isinstance(subject.value, str):
        return True, subject.value
    return find_json(subject.text)


def select(subject: Subject, pointer: str) -> tuple[bool, Any, str]:
    """``(found, value, why not)`` for the value at ``pointer`` in the subject's JSON."""
    found, doc = json_document(subject)
    if not found:
        return False, None, NO_JSON
    found, value = resolve_pointer(doc, pointer)
    if not found:
        return False, None, f"no value at {pointer or '(root)'}"
    return True, value, ""


def short(value: Any, limit: int = 80) -> str:
    """A repr for a detail message, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
