"""Jinja2 prompts, sandboxed: ``ImmutableSandboxedEnvironment`` (a template cannot change
the suite's vars either) with bounds on time, loops, numbers and size
(:mod:`harness.suites.sandbox`), no autoescape, and an undefined variable is an error as
under ``StrictUndefined``, but all of a render's undefined names are reported at once
(:class:`UndefinedNames`), each with its template's line and a did-you-mean.

Templates, partials and schemas resolve under the project's ``evals/`` folder only: no
absolute paths, no ``..``, no symlink that leads outside. Every file a render reads is
recorded, so a case knows which files its prompt depends on.
"""

from __future__ import annotations

import difflib
import inspect
import json
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import jinja2

from harness.errors import TemplateError
from harness.suites.sandbox import MAX_CHARS, MAX_FILE_BYTES, BoundedEnvironment, LimitExceeded

_ONE_NAME = re.compile(r"\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}\Z")
_MISSING = object()


class UndefinedNames(TemplateError):
    """A render used names it was not given. ``messages`` has one line per name (the first
    use of each): ``evals/x.j2:3: 'reviw' is undefined; did you mean 'review'?``."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(slots=True)
class _Misses:
    """What one render found undefined, in order; ``names`` are the case's vars."""

    evals: str
    names: tuple[str, ...]
    found: dict[tuple[str, str], str] = field(default_factory=dict)

    def note(self, undefined: jinja2.Undefined) -> None:
        obj = undefined._undefined_obj
        name = str(undefined._undefined_name)
        if obj is jinja2.utils.missing:
            what, choices = f"{name!r} is undefined", self.names
        else:  # an attribute or key the value lacks: suggest the value's own keys
            what = undefined._undefined_message
            keys = obj.keys() if isinstance(obj, Mapping) else ()
            choices = tuple(str(k) for k in keys)
        template, line = _template_line()
        where = f"{self.evals}/{template}" if template else "inline template"
        if (template, what) in self.found:
            return  # each name once, at its first use
        close = difflib.get_close_matches(name, choices, n=1)
        tip = f"; did you mean {close[0]!r}?" if close else ""
        self.found[(template, what)] = f"{where}:{line}: {what}{tip}"


_MISSES: ContextVar[_Misses | None] = ContextVar("glm_template_misses", default=None)


def _template_line() -> tuple[str, int]:
    """The template running now (its name, "" when inline) and its line: the innermost
    frame of compiled template code, whose globals hold the ``Template`` (as Jinja's own
    traceback rewriting reads them)."""
    frame = inspect.currentframe()
    while frame is not None:
        template = frame.f_globals.get("__jinja_template__")
        if isinstance(template, jinja2.Template):
            return template.name or "", template.get_corresponding_lineno(frame.f_lineno)
        frame = frame.f_back
    return "", 0


class _NotedUndefined(jinja2.ChainableUndefined):
    """``StrictUndefined``'s refusals, but the uses that can go on (printing, iterating,
    testing, comparing; ``.attr`` and ``[key]`` of it) are noted and go on as ``""``, so
    that one render finds every undefined name; the render then fails with all of them.
    Arithmetic and calls still stop the render (noted first). ``is defined`` and
    ``| default`` see an undefined value without using it, as always."""

    __slots__ = ()

    def _note(self) -> None:
        misses = _MISSES.get()
        # Outside Templates._render strict as StrictUndefined; and what the sandbox refused
        # (``__class__``: an undefined that raises SecurityError) is refused at once.
        if misses is None or self._undefined_exception is not jinja2.UndefinedError:
            super()._fail_with_undefined_error()
        misses.note(self)

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._note()
        super()._fail_with_undefined_error(*args, **kwargs)

    def __str__(self) -> str:
        self._note()
        return ""

    def __iter__(self) -> Iterator[Any]:
        self._note()
        return iter(())

    def __bool__(self) -> bool:
        self._note()
        return False

    def __len__(self) -> int:
        self._note()
        return 0

    def __eq__(self, other: object) -> bool:
        self._note()
        return False

    def __ne__(self, other: object) -> bool:
        self._note()
        return True

    def __hash__(self) -> int:
        self._note()
        return id(self)

    def __contains__(self, item: object) -> bool:
        self._note()
        return False


# Undefined binds its refusal to each operator once (``__add__ = _fail...``): rebind them to
# the noting one (all but ``[key]``, which the chainable base answers with itself).
for _name, _value in list(vars(jinja2.Undefined).items()):
    if _value is jinja2.Undefined._fail_with_undefined_error and _name != "__getitem__":
        setattr(_NotedUndefined, _name, _NotedUndefined._fail_with_undefined_error)


def resolve_under(root: Path, name: str, what: str = "file") -> Path:
    """``root / name``, refusing anything that is absolute or ends up outside ``root``."""
    if not name or Path(name).is_absolute() or name.startswith(("/", "\\")):
        raise TemplateError(f"{what} {name!r} must be a relative path under {root.name}/")
    try:
        real_root = root.resolve()
        target = (root / name).resolve()
        if real_root != target and real_root not in target.parents:
            raise TemplateError(f"{what} {name!r} leaves {root.name}/; refused")
        if not target.is_file():
            raise TemplateError(f"{what} {name!r} not found under {root.name}/")
    except (OSError, ValueError) as exc:  # a NUL character, a name too long for the OS
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TemplateError(f"{what} {name!r} is not a usable file name: {why}") from None
    return target


def read_evals_file(path: Path, what: str, errors: str = "replace") -> str:
    """The text of a template or schema file, read no further than ``MAX_FILE_BYTES``; a file
    that is not a regular file (a FIFO, a device) is refused without waiting on it."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                raise TemplateError(f"{what} {path.name!r} is not a regular file; refused")
            raw = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise TemplateError(f"{what} {path.name!r} cannot be read: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // 1_000_000
        raise TemplateError(f"{what} {path.name!r} is larger than {limit} MB; refused")
    return raw.decode("utf-8", errors=errors)


class _EvalsLoader(jinja2.BaseLoader):
    """Loads templates from ``root`` only."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        try:
            path = resolve_under(self.root, template, "template")
        except TemplateError as exc:
            raise jinja2.TemplateNotFound(exc.message) from None
        try:
            source = read_evals_file(path, "template")
        except TemplateError as exc:
            raise jinja2.TemplateNotFound(exc.message) from None
        mtime = path.stat().st_mtime
        return source, str(path), lambda: path.stat().st_mtime == mtime


class _TrackingEnvironment(BoundedEnvironment):
    """Records the name of every template a render asks for (includes, imports, extends
    reach it through these two), whether it was compiled now or comes from the cache."""

    loaded: set[str]

    def get_template(self, name: Any, parent: str | None = None, globals: Any = None) -> Any:
        template = super().get_template(name, parent, globals)
        self.loaded.add(str(template.name))
        return template

    def select_template(self, names: Any, parent: str | None = None, globals: Any = None) -> Any:
        template = super().select_template(names, parent, globals)
        self.loaded.add(str(template.name))
        return template


class Templates:
    """Renders suite prompts against one ``evals/`` folder."""

    def __init__(self, evals_dir: Path) -> None:
        self.evals_dir = evals_dir
        self._loader = _EvalsLoader(evals_dir)
        self._env = _TrackingEnvironment(
            loader=self._loader,
            undefined=_NotedUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            # compiled once per file (a dataset renders one template per row); one
            # Templates serves one load, so no file is looked at again (no stat a render)
            cache_size=1000,
            auto_reload=False,
        )
        self._env.loaded = set()
        self._json_cache: dict[str, Mapping[str, Any]] = {}
        self._inline_cache: dict[str, jinja2.Template] = {}

    def render_file(self, name: str, variables: Mapping[str, Any]) -> tuple[str, set[str]]:
        """Render the template file ``name``; return the text and every file it read."""
        return self._render(lambda: self._env.get_template(name), variables, name)

    def render_string(self, source: str, variables: Mapping[str, Any]) -> tuple[str, set[str]]:
        """Render an inline template; return the text and every file it included. A
        template that is one name (``{{ label }}``, a check's value from a dataset column)
        whose value is a string, number, boolean or null is that value as Jinja prints it,
        without a render (a dataset checks one per row)."""
        name = _ONE_NAME.match(source)
        if name is not None:
            value = variables.get(name.group(1), _MISSING)
            if isinstance(value, str | int | float | bool) or value is None:
                text = str(value)
                if len(text) <= MAX_CHARS:
                    return text, set()
        return self._render(lambda: self._inline(source), variables, None)

    def _inline(self, source: str) -> jinja2.Template:
        # a suite-level prompt is the same source for every case: compile it once
        if source not in self._inline_cache:
            self._inline_cache[source] = self._env.from_string(source)
        return self._inline_cache[source]

    def load_json(self, name: str) -> Mapping[str, Any]:
        """Load a JSON file (a schema) from under ``evals/``."""
        if name not in self._json_cache:
            path = resolve_under(self.evals_dir, name, "schema")
            try:
                data = json.loads(read_evals_file(path, "schema", errors="strict"))
            except RecursionError:
                raise TemplateError(f"schema {name!r} is nested too deeply") from None
            except ValueError as exc:
                raise TemplateError(f"schema {name!r} is not valid JSON: {exc}") from None
            if not isinstance(data, dict):
                raise TemplateError(f"schema {name!r} must be a JSON object")
            self._json_cache[name] = data
        return self._json_cache[name]

    def _render(
        self,
        get: Callable[[], jinja2.Template],
        variables: Mapping[str, Any],
        name: str | None,
    ) -> tuple[str, set[str]]:
        self._env.loaded = set()
        misses = _Misses(self.evals_dir.name, tuple(str(k) for k in variables))
        token = _MISSES.set(misses)
        try:
            self._env.start()  # the deadline covers compiling, includes and every piece
            pieces = []
            for piece in get().generate(**variables):
                self._env.check_output(piece)
                pieces.append(piece)
        except Exception as exc:
            if misses.found:  # the undefined names are why (``n + 1`` with no ``n``)
                raise UndefinedNames(list(misses.found.values())) from None
            refusal = _refusal(exc, name or "inline template")
            if refusal is None:
                raise
            raise refusal from None
        finally:
            _MISSES.reset(token)
        if misses.found:
            raise UndefinedNames(list(misses.found.values()))
        return "".join(pieces), set(self._env.loaded)


def _refusal(exc: Exception, name: str) -> TemplateError | None:
    """What a render that raised ``exc`` says (``None``: a bug, to raise as it is)."""
    if isinstance(exc, jinja2.TemplateNotFound):
        return TemplateError(_not_found(exc, None if name == "inline template" else name))
    if isinstance(exc, jinja2.TemplateSyntaxError):
        where = f"{exc.name or name}:{exc.lineno}"
        return TemplateError(f"{where}: syntax error: {exc.message}", exc.lineno)
    if isinstance(exc, LimitExceeded):
        return TemplateError(f"{name}: too costly: {exc}")
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return TemplateError(f"{name}: unsafe template: {exc}")
    if isinstance(exc, jinja2.UndefinedError):
        return TemplateError(f"{name}: {exc.message}")
    if isinstance(
        exc, RecursionError
    ):  # a template that includes itself, a macro that calls itself
        return TemplateError(f"{name}: recursion too deep (does it include itself?)")
    if isinstance(exc, MemoryError):
        return TemplateError(f"{name}: out of memory")
    if isinstance(exc, jinja2.TemplateError | TypeError | ValueError | ArithmeticError):
        return TemplateError(f"{name}: {exc}")
    return None


def _not_found(exc: jinja2.TemplateNotFound, name: str | None) -> str:
    message = str(exc.message or exc.name)
    if name and message == name:
        return f"template {name!r} not found under evals/"
    return message
