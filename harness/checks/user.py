"""The ``python`` check: a function of the user's own project grades the answer.

``python: "package.module:function"`` (or ``{function, args}``) is resolved while the suite
is collected, so a typo fails collection instead of every sample. Suites are untrusted (they
arrive in pull requests), so only a plain function the project itself defines is accepted:

- the module is a file under the project root, outside the standard library and installed
  packages (and not the harness itself), so a suite cannot name ``os:system``;
- the name after the colon is one identifier: no attribute chain (``mod:re.enum.x`` would
  walk from an imported module to anything, ``exec`` included);
- the object is a ``def`` function (``inspect.isfunction``: no builtin, class, method,
  ``functools.partial`` or callable instance) whose ``__module__`` is that module and whose
  code lies in the project: what the module merely imported (``from os import system``)
  is refused.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import importlib.util
import inspect
import math
import re
import site
import sys
import sysconfig
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from numbers import Real
from pathlib import Path
from typing import Any

from harness.checks.base import CheckContext, check_float_sized, short
from harness.errors import CheckSpecError
from harness.models import Check, CheckResult, Subject

_NAME = r"[A-Za-z_]\w*"
_SPEC = re.compile(rf"({_NAME}(?:\.{_NAME})*):({_NAME})", re.ASCII)
_CHAINED = re.compile(rf"{_NAME}(?:\.{_NAME})*:{_NAME}(?:\.{_NAME})+", re.ASCII)
_HARNESS = "harness"  # the harness's own package is never a project's check
DETAIL_CHARS = 300
EXPECTED = "expected bool, number or {passed: ...}"


def one_line(text: str, limit: int = DETAIL_CHARS) -> str:
    """``text`` on one line (whitespace runs become one space), cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _error(exc: BaseException) -> str:
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


@contextmanager
def _first_on_path(root: Path) -> Iterator[None]:
    """``root`` first on ``sys.path`` for the duration; ``sys.path`` is as before afterwards
    (only the entry added here is removed, so changes an imported module made stay)."""
    entry = str(root)
    if sys.path[:1] == [entry]:
        yield
        return
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        if entry in sys.path:
            sys.path.remove(entry)


def _installed_dirs() -> list[Path]:
    """Where the standard library and installed packages live."""
    dirs = [sysconfig.get_path(key) for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    dirs += [*site.getsitepackages(), site.getusersitepackages()]
    return [Path(d).resolve() for d in dirs if d]


def _outside_why(location: str | None, root: Path) -> str | None:
    """Why a module file at ``location`` is not part of the project, or ``None`` if it is."""
    if not location:
        return f"outside {root}"
    path = Path(location).resolve()
    if not path.is_relative_to(root):
        return f"outside {root}"
    if {"site-packages", "dist-packages"} & set(path.parts) or any(
        path.is_relative_to(d) and not root.is_relative_to(d) for d in _installed_dirs()
    ):
        return f"an installed package, not part of {root}"
    return None


def _spec_location(name: str) -> str | None:
    """The file (or package folder) ``name`` would be imported from, without running it."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    if spec.origin not in (None, "built-in", "frozen"):
        return spec.origin
    locations = list(spec.submodule_search_locations or [])
    return locations[0] if locations else None


def resolve(spec: str, root: Path) -> Callable[..., Any]:
    """The function ``spec`` (``package.module:function``) names in the project at ``root``.
    Raises ``CheckSpecError`` at ``function`` when it cannot be used."""
    spec = spec.strip()
    if _CHAINED.fullmatch(spec):
        raise CheckSpecError(
            "function",
            f"{spec!r}: an attribute chain after ':' is refused; name a function the module "
            "defines itself, as 'package.module:function'",
        )
    match = _SPEC.fullmatch(spec)
    if match is None:
        raise CheckSpecError("function", f"{spec!r} is not of the form 'package.module:function'")
    module_name, attribute = match.groups()
    root = root.resolve()
    refused = f"{module_name}:{attribute} is not a function of this project (its module is"
    with _first_on_path(root):
        importlib.invalidate_caches()
        try:
            # Check where the top-level package lies before importing anything: a module
            # outside the project is refused without running its code.
            why = _outside_why(_spec_location(module_name.partition(".")[0]), root)
            if why is not None:
                raise CheckSpecError("function", f"{refused} {why})")
            if module_name.partition(".")[0] == _HARNESS:  # a checkout of the harness
                raise CheckSpecError("function", f"{refused} the harness itself)")
            module = importlib.import_module(module_name)
        except CheckSpecError:
            raise
        except (Exception, SystemExit) as exc:
            raise CheckSpecError(
                "function", one_line(f"cannot import {module_name}: {_error(exc)}")
            ) from None
    why = _outside_why(getattr(module, "__file__", None), root)
    if why is not None:
        raise CheckSpecError("function", f"{refused} {why})")
    # The module's own namespace, not getattr: a module-level __getattr__ could hand out
    # anything under any name.
    found = vars(module).get(attribute, _MISSING)
    if found is _MISSING:
        raise CheckSpecError("function", f"module {module_name} has no attribute {attribute!r}")
    _require_own_function(found, module_name, attribute, root)
    return found  # type: ignore[no-any-return]


_MISSING = object()


def _require_own_function(found: object, module_name: str, attribute: str, root: Path) -> None:
    """Raise unless ``found`` is a plain ``def`` function defined by ``module_name`` itself,
    with its code in a file of the project."""
    name = f"{module_name}:{attribute}"
    if not inspect.isfunction(found):
        kind = type(found).__name__
        raise CheckSpecError(
            "function",
            f"{name} is not a plain function defined with def (type {kind}); "
            "name a function the module defines",
        )
    defined_in = getattr(found, "__module__", None)
    code_file = found.__code__.co_filename
    if defined_in != module_name or _outside_why(code_file, root) is not None:
        where = defined_in if isinstance(defined_in, str) else "elsewhere"
        raise CheckSpecError(
            "function",
            f"{name} is not defined in {module_name} (it comes from {where}: the module only "
            "imports it); name a function the module defines",
        )


def _check_call(function: Callable[..., Any], name: str, args: Mapping[str, Any]) -> None:
    """Fail at collection when ``function(answer, context, **args)`` cannot bind."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return  # some builtins have no signature; the call itself will tell
    try:
        signature.bind(None, None, **args)
    except TypeError as exc:
        where = "args" if args else "function"
        raise CheckSpecError(
            where, f"{name} cannot be called as {name}(answer, context, **args): {exc}"
        ) from None


def context_of(subject: Subject) -> dict[str, Any]:
    """The second argument of a ``python`` check's function: a fresh plain dict."""
    completion = subject.completion
    return {
        "value": subject.value,
        "reasoning": completion.reasoning,
        "usage": dataclasses.asdict(completion.usage),
        "latency_ms": completion.latency_ms,
        "finish": completion.finish,
        "baseline": subject.baseline,
    }


def verdict_of(returned: Any, threshold: float | None = None) -> CheckResult:
    """A function's return value -> its verdict: ``bool``; a number in 0-1 (passes at 0.5
    or more; observed is the number), or, with a ``threshold``, any finite number (passes
    at ``threshold`` or more); ``{passed: bool, observed?, detail?}``."""
    if isinstance(returned, bool):
        return CheckResult("python", returned, returned, "" if returned else "returned False")
    if isinstance(returned, Real):
        try:
            number = float(returned)
        except OverflowError:  # an int past float's range
            number = math.inf if isinstance(returned, int) and returned > 0 else -math.inf
        if threshold is None and not 0 <= number <= 1:  # NaN too
            why = f"python check returned {short(returned)}, outside 0-1; {EXPECTED}"
            return CheckResult("python", False, None, why)
        if not math.isfinite(number):
            why = f"python check returned {short(returned)}, not a finite number"
            return CheckResult("python", False, None, why)
        bar = 0.5 if threshold is None else threshold
        observed = returned if isinstance(returned, int | float) else number
        ok = number >= bar
        return CheckResult("python", ok, observed, "" if ok else f"{number:g} < {bar:g}")
    if isinstance(returned, Mapping):
        passed = returned.get("passed")
        if not isinstance(passed, bool):
            kind = type(returned).__name__
            why = f"python check returned {kind} without a bool 'passed'; {EXPECTED}"
            return CheckResult("python", False, None, why)
        detail = returned.get("detail")
        if detail is None and not passed:
            detail = "returned passed: false"
        return CheckResult("python", passed, returned.get("observed"), str(detail or ""))
    kind = type(returned).__name__
    return CheckResult("python", False, None, f"python check returned {kind}; {EXPECTED}")


def python(
    *,
    ctx: CheckContext,
    function: str,
    args: Mapping[str, Any] | None = None,
    threshold: float | None = None,
) -> Check:
    """``function(answer, context, **args)`` of the user's project decides; ``context`` holds
    ``value``, ``reasoning``, ``usage``, ``latency_ms``, ``finish`` and ``baseline``. A
    number returned passes at 0.5 or more (and must lie in 0-1), or, with ``threshold``, at
    ``threshold`` or more (any finite number). An exception in the function fails the check
    (observed ``None``), never the run."""
    check_float_sized("threshold", threshold)
    if threshold is not None and not math.isfinite(threshold):  # a string: TypeError
        raise CheckSpecError("threshold", f"{threshold!r} is not a finite number")
    if ctx.project_root is None:
        raise CheckSpecError("", "python checks need the project root")
    if not isinstance(function, str):
        got = short(function)
        raise CheckSpecError("function", f"must be a string 'package.module:function', got {got}")
    if args is None:
        args = {}
    if not isinstance(args, Mapping) or not all(isinstance(k, str) for k in args):
        raise CheckSpecError("args", "must be a mapping of keyword arguments")
    fn = resolve(function, ctx.project_root)
    _check_call(fn, function.strip(), args)
    kwargs = dict(args)

    def run(subject: Subject) -> CheckResult:
        try:
            # A fresh copy per call: a function that changes its arguments cannot change
            # what the next sample gets.
            returned = fn(subject.text, context_of(subject), **copy.deepcopy(kwargs))
            return verdict_of(returned, threshold)
        except (Exception, SystemExit) as exc:
            return CheckResult("python", False, None, one_line(f"raised {_error(exc)}"))

    return run
