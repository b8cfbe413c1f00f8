"""What a check factory declares: its keywords (required or not, ``ctx``, ``**nested``) and
their types, and whether a value from a suite is of a declared type (the JSON reading)."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from harness.checks.base import Factory, short
from harness.errors import CheckSpecError


@dataclass(frozen=True, slots=True)
class Signature:
    allowed: tuple[str, ...]
    required: frozenset[str]
    takes_ctx: bool
    takes_extra: bool
    types: Mapping[str, Any]  # each keyword's annotation


@cache
def signature_of(factory: Factory) -> Signature:
    params = inspect.signature(factory).parameters.values()
    keywords = [p for p in params if p.kind is p.KEYWORD_ONLY and p.name != "ctx"]
    hints = typing.get_type_hints(factory)
    return Signature(
        allowed=tuple(p.name for p in keywords),
        required=frozenset(p.name for p in keywords if p.default is p.empty),
        takes_ctx="ctx" in {p.name for p in params},
        takes_extra=any(p.kind is p.VAR_KEYWORD for p in params),
        types={p.name: hints[p.name] for p in keywords},
    )


def fits(value: Any, hint: Any) -> bool:
    """``value`` is of the type a factory declares (the JSON reading: a bool is no number,
    ``3.0`` is an integer, a list is a sequence, a string is not)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, arg) for arg in args)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is bool or hint is str:
        return isinstance(value, hint)
    if isinstance(value, bool):
        return False
    if hint is int:
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if hint is float:
        return isinstance(value, int | float)
    if origin is Sequence:
        return isinstance(value, list | tuple) and all(fits(v, args[0]) for v in value)
    if origin is Mapping:
        return isinstance(value, Mapping) and all(isinstance(k, str) for k in value)
    return True  # a type the registry does not know: the factory checks it


def wanted(hint: Any) -> str:
    """How an error names a declared type: ``a number``, ``a string or null``..."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(wanted(arg) for arg in args if arg is not type(None))
    if typing.get_origin(hint) is Sequence:
        return "a list of strings" if args == (str,) else "a list"
    if typing.get_origin(hint) is Mapping:
        return "a mapping"
    names = {str: "a string", bool: "true or false", int: "an integer", float: "a number"}
    return names.get(hint, str(hint))


def check_types(factory: Factory, params: Mapping[str, Any]) -> None:
    """Raise ``CheckSpecError`` for a parameter not of its declared type."""
    declared = signature_of(factory).types
    for key, value in params.items():
        hint = declared.get(key, Any)
        if not fits(value, hint):
            tip = ""
            if isinstance(value, str) and (fits(1, hint) or fits(True, hint)):
                renders = f"that renders {wanted(hint)}"
                tip = f" (a string here is a template, like '{{{{ n }}}}', {renders})"
            raise CheckSpecError(key, f"expected {wanted(hint)}, got {short(value)}{tip}")
