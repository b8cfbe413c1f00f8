"""The harness's exceptions.

    HarnessError
     ├── SuiteError          a suite file is invalid; carries every Problem found in it
     ├── CheckSpecError      one check's parameters are invalid (raised while building it)
     ├── TemplateError       a template is missing, escapes evals/, or fails to render
     ├── ConfigError         the run is misconfigured (no endpoint, bad option value)
     ├── RunReadError        a run's records cannot be found or read (compare, report)
     ├── MergeError          shards' runs that cannot be merged into one (merge)
     ├── AgreementError      a judge-agreement labels file is unusable
     ├── BrowserError        headless Chromium could not render a page
     └── APIError            a request failed (after retries); status and server message
          └── AuthError      401/403: the whole run stops

Messages never contain the API token: the client never puts it anywhere but the header.
"""

from __future__ import annotations

from dataclasses import dataclass


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a suite file, located by line and key path."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}: {where}{self.message}"


class SuiteError(HarnessError):
    """A suite file is invalid. ``problems`` lists all that was found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        unique = dict.fromkeys(problems)  # a suite-level mistake is found once per case
        self.problems = sorted(unique, key=lambda p: (p.file, p.line, p.path))
        super().__init__("\n".join(str(p) for p in self.problems))


class CheckSpecError(HarnessError):
    """A check's parameters are invalid. ``path`` is relative to the check (e.g. ``fuzzy.min``)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class TemplateError(HarnessError):
    """A template or schema file is missing, outside evals/, or fails to render."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.message = message
        self.line = line
        super().__init__(message)


class ConfigError(HarnessError):
    """The run is misconfigured: no endpoint, an invalid option value."""


class RunReadError(HarnessError):
    """A run cannot be found or read, a level is unknown, or the sides share no case
    (``glm-harness compare`` and ``report``; ``compare.CompareError`` is this class)."""


class MergeError(HarnessError):
    """Shards' runs that cannot be merged into one run: a folder missing or unreadable,
    shard counts that differ, a shard given twice or missing, an item in two runs, runs
    against another model or server (``glm-harness merge``). One line, naming the folder."""


class AgreementError(HarnessError):
    """The labels file or the run cannot be read, or a label matches no judged sample."""


class BrowserError(HarnessError):
    """The browser cannot be run, fails, or its output cannot be read."""


class APIError(HarnessError):
    """A request failed for good. ``status`` is 0 when no HTTP response arrived."""

    def __init__(self, status: int, message: str, attempts: int = 1) -> None:
        self.status = status
        self.message = message
        self.attempts = attempts
        where = f"HTTP {status}" if status else "no response"
        super().__init__(f"{where}: {message} (attempts: {attempts})")


class AuthError(APIError):
    """The endpoint refused the credentials (401/403); every further request would too."""
