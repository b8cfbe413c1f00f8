"""Jinja2 prompts, sandboxed: ``ImmutableSandboxedEnvironment`` (a template cannot change
the suite's vars either) with bounds on time, loops, numbers and size
(:mod:`harness.suites.sandbox`), ``StrictUndefined``, no autoescape.

Templates, partials and schemas resolve under the project's ``evals/`` folder only: no
absolute paths, no ``..``, no symlink that leads outside. Every file a render reads is
recorded, so a case knows which files its prompt depends on.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2

from harness.errors import TemplateError
from harness.suites.sandbox import MAX_FILE_BYTES, BoundedEnvironment, LimitExceeded


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
    """Loads templates from ``root`` only and records what was loaded."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.loaded: set[str] = set()

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
        self.loaded.add(template)
        return source, str(path), lambda: path.stat().st_mtime == mtime


class Templates:
    """Renders suite prompts against one ``evals/`` folder."""

    def __init__(self, evals_dir: Path) -> None:
        self.evals_dir = evals_dir
        self._loader = _EvalsLoader(evals_dir)
        self._env = BoundedEnvironment(
            loader=self._loader,
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            # No template cache: a cached include never reaches the loader, so it would be
            # missing from the files of every case but the first that renders it.
            cache_size=0,
        )
        self._json_cache: dict[str, Mapping[str, Any]] = {}
        self._inline_cache: dict[str, jinja2.Template] = {}

    def render_file(self, name: str, variables: Mapping[str, Any]) -> tuple[str, set[str]]:
        """Render the template file ``name``; return the text and every file it read."""
        return self._render(lambda: self._env.get_template(name), variables, name)

    def render_string(self, source: str, variables: Mapping[str, Any]) -> tuple[str, set[str]]:
        """Render an inline template; return the text and every file it included."""
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
        self._loader.loaded = set()
        try:
            self._env.start()  # the deadline covers compiling, includes and every piece
            pieces = []
            for piece in get().generate(**variables):
                self._env.check_output(piece)
                pieces.append(piece)
            text = "".join(pieces)
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(_not_found(exc, name)) from None
        except jinja2.TemplateSyntaxError as exc:
            where = f"{exc.name or name or 'inline template'}:{exc.lineno}"
            raise TemplateError(f"{where}: syntax error: {exc.message}", exc.lineno) from None
        except LimitExceeded as exc:
            raise TemplateError(f"{name or 'inline template'}: too costly: {exc}") from None
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(f"{name or 'inline template'}: unsafe template: {exc}") from None
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{name or 'inline template'}: {exc.message}") from None
        except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError) as exc:
            raise TemplateError(f"{name or 'inline template'}: {exc}") from None
        except RecursionError:
            # a template that includes itself, a macro that calls itself
            raise TemplateError(
                f"{name or 'inline template'}: recursion too deep (does it include itself?)"
            ) from None
        except MemoryError:
            raise TemplateError(f"{name or 'inline template'}: out of memory") from None
        return text, set(self._loader.loaded)


def _not_found(exc: jinja2.TemplateNotFound, name: str | None) -> str:
    message = str(exc.message or exc.name)
    if name and message == name:
        return f"template {name!r} not found under evals/"
    return message
