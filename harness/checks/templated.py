"""Check parameters rendered with a case's vars: ``equals: {value: "{{ label }}"}``.

``build_check`` renders a parameter's strings when its context carries the case's
``variables``; what is rendered, and how the text is read back:

- a string with Jinja markup (``{{``, ``{%`` or ``{#``) is rendered inline, in the suite's
  sandbox (``CheckContext.render``); so is each such string inside a list or a mapping (its
  values, not its keys). A string without markup is left exactly as it is, and a spec with
  none costs a substring test per string;
- the text is inserted raw: a var rendered into a ``regex`` pattern is read as regex syntax,
  one rendered into a ``json`` pointer as pointer syntax (nothing is escaped);
- a parameter declared as a number (``number: "{{ answer }}"``, ``min``, ``max_distance``)
  reads the rendered text, stripped, as a JSON number (an int when it has no fraction or
  exponent); one declared as true or false reads ``true`` / ``false`` (or ``True`` /
  ``False``, as Jinja prints a bool). A parameter that takes any value (``equals``) or a
  string keeps the text;
- a template that fails (an undefined name, a syntax error) is a ``CheckSpecError`` at the
  parameter's path, its messages joined with ``"; "``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from typing import Any

from harness.checks.base import CheckContext, join_path, short
from harness.checks.signatures import fits
from harness.errors import CheckSpecError, TemplateError

_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_INLINE = re.compile(r"inline template(?::\d+)?: ")  # where a message says it was, if inline
_BOOLS = {"true": True, "false": False, "True": True, "False": False}


def markup_in(text: str) -> bool:
    """Whether ``text`` holds Jinja markup: ``{{``, ``{%`` or ``{#``."""
    return "{" in text and ("{{" in text or "{%" in text or "{#" in text)


def marked(value: Any) -> bool:
    """Whether ``value``, a string or a list or mapping holding strings (at any depth), has
    a string with Jinja markup."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if markup_in(node):
                return True
        elif isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return False


def render_params(
    params: Mapping[str, Any], hints: Mapping[str, Any], keep: Collection[str], ctx: CheckContext
) -> dict[str, Any]:
    """``params`` with every string holding markup rendered with ``ctx.variables``, but for
    the keys in ``keep``; a rendered parameter read back as its declared type in ``hints``.
    Raises ``CheckSpecError`` at the parameter."""
    out = dict(params)
    for key, value in params.items():
        if key in keep or not marked(value):
            continue
        rendered = _render(value, key, ctx)
        out[key] = (
            _typed(value, rendered, hints.get(key, Any), key)
            if isinstance(value, str)
            else rendered
        )
    return out


def _render(value: Any, path: str, ctx: CheckContext) -> Any:
    if isinstance(value, str):
        return _render_text(value, path, ctx) if markup_in(value) else value
    if isinstance(value, Mapping):
        return {k: _render(v, join_path(path, str(k)), ctx) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_render(v, f"{path}[{i}]", ctx) for i, v in enumerate(value)]
    return value


def _render_text(source: str, path: str, ctx: CheckContext) -> str:
    if ctx.render is None or ctx.variables is None:
        return source
    try:
        text, _files = ctx.render(source, False, ctx.variables)
    except TemplateError as exc:
        messages = getattr(exc, "messages", None) or [exc.message]
        raise CheckSpecError(
            path, "; ".join(_INLINE.sub("", m, count=1) for m in messages)
        ) from None
    return text


def _typed(source: str, text: str, hint: Any, path: str) -> Any:
    """The rendered ``text`` of ``source`` as the parameter's declared type takes it."""
    if fits(text, hint):  # a string, or any value
        return text
    stripped = text.strip()
    if fits(True, hint):
        if stripped in _BOOLS:
            return _BOOLS[stripped]
        if not fits(1, hint):
            raise CheckSpecError(
                path, f"{short(source)} rendered {short(text)}, which is not true or false"
            )
    if not (fits(1, hint) or fits(0.5, hint)):
        return text  # a list or a mapping: the registry says what was expected
    match = _JSON_NUMBER.fullmatch(stripped)
    if match is None:
        raise CheckSpecError(path, f"{short(source)} rendered {short(text)}, which is not a number")
    if match.group(1) is None and match.group(2) is None:
        try:
            return int(stripped)
        except ValueError:  # more digits than int() converts
            pass
    else:
        number = float(stripped)
        if math.isfinite(number):
            return number
    raise CheckSpecError(
        path, f"{short(source)} rendered {short(text)}, which is not a finite number"
    )
