"""pytest hooks for glm-harness. Nothing happens unless ``--glm-suite`` is given.

Importing this module stays cheap (it is loaded by every pytest run through the
``pytest11`` entry point): the harness itself is imported only when a run asks for it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.state import RunState

STATE: pytest.StashKey[RunState] = pytest.StashKey()
SUITE_SUFFIXES = (".yaml", ".yml")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the --glm-* options and their ini twins."""
    group = parser.getgroup("glm-harness", "glm-harness: evaluate prompts against a model endpoint")
    group.addoption(
        "--glm-suite",
        action="store_true",
        default=False,
        help="collect and run the YAML suites (default: every suite under suites/)",
    )
    group.addoption(
        "--glm-base-url",
        default=None,
        help="endpoint base URL (else GLM_BASE_URL, else ini glm_base_url)",
    )
    group.addoption(
        "--glm-model",
        default=None,
        help="model name sent in requests (else GLM_MODEL, ini glm_model, zai-org/GLM-4.7-Flash)",
    )
    group.addoption("--glm-api", default=None, help="override the suites' APIs: chat,responses")
    group.addoption(
        "--glm-effort",
        default=None,
        help="override the suites' efforts: default,none,minimal,low,medium,high,xhigh",
    )
    group.addoption(
        "--glm-local",
        action="store_true",
        default=False,
        help="start the local llama.cpp model server and run against it",
    )
    group.addoption("--glm-samples", type=int, default=None, help="override the samples per case")
    group.addoption(
        "--glm-concurrency",
        type=int,
        default=None,
        help="requests in flight at once (default 8; ini glm_concurrency)",
    )
    group.addoption(
        "--glm-timeout",
        type=float,
        default=None,
        help="seconds per request (default 180; ini glm_timeout)",
    )
    parser.addini("glm_base_url", "endpoint base URL", default="")
    parser.addini("glm_model", "model name sent in requests", default="")
    parser.addini(
        "glm_headers",
        "extra request headers, one 'Name: value' a line",
        type="linelist",
        default=[],
    )
    parser.addini("glm_concurrency", "requests in flight at once", default="8")
    parser.addini("glm_timeout", "seconds per request", default="180")
    parser.addini("glm_api", "APIs to run (comma list)", default="")
    parser.addini("glm_effort", "efforts to run (comma list)", default="")
    parser.addini("glm_suites_dir", "folder of suites, relative to rootdir", default="suites")
    parser.addini(
        "glm_evals_dir", "folder of templates and schemas, relative to rootdir", default="evals"
    )


def pytest_configure(config: pytest.Config) -> None:
    """Resolve the run's settings; with no paths given, collect the suites folder."""
    if not config.getoption("glm_suite"):
        return
    from harness.errors import ConfigError
    from harness.state import RunState

    try:
        settings = _settings(config)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    root = config.rootpath
    suites_dir = root / str(config.getini("glm_suites_dir"))
    config.stash[STATE] = RunState(
        settings=settings,
        evals_dir=root / str(config.getini("glm_evals_dir")),
        suites_dir=suites_dir,
        explicit=frozenset(
            (config.invocation_params.dir / arg.split("::")[0]).resolve() for arg in config.args
        ),
    )
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = [str(suites_dir)]


def _settings(config: pytest.Config) -> Any:
    from harness import settings as s
    from harness.errors import ConfigError

    def number(option: str, ini: str, kind: type[int] | type[float]) -> Any:
        value = config.getoption(option)
        if value is None:
            try:
                value = kind(str(config.getini(ini)))
            except ValueError:
                raise ConfigError(
                    f"ini {ini}: expected a number, got {config.getini(ini)!r}"
                ) from None
        if value <= 0:
            raise ConfigError(f"--{option.replace('_', '-')}: must be greater than 0, got {value}")
        return value

    samples = config.getoption("glm_samples")
    if samples is not None and samples < 1:
        raise ConfigError(f"--glm-samples: must be at least 1, got {samples}")
    return s.Settings(
        base_url=s.first(
            config.getoption("glm_base_url"),
            os.environ.get("GLM_BASE_URL"),
            str(config.getini("glm_base_url")),
        ),
        model=s.first(
            config.getoption("glm_model"),
            os.environ.get("GLM_MODEL"),
            str(config.getini("glm_model")),
        )
        or s.DEFAULT_MODEL,
        api_key=s.api_key_from_env(),
        headers=s.parse_headers(list(config.getini("glm_headers"))),
        timeout=number("glm_timeout", "glm_timeout", float),
        concurrency=number("glm_concurrency", "glm_concurrency", int),
        apis=s.parse_apis(config.getoption("glm_api") or str(config.getini("glm_api"))),
        efforts=s.parse_efforts(config.getoption("glm_effort") or str(config.getini("glm_effort"))),
        samples=samples,
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Suites are the YAML files under the suites folder, or named on the command line."""
    state = parent.config.stash.get(STATE, None)
    if state is None or file_path.suffix not in SUITE_SUFFIXES:
        return None
    if state.suites_dir not in file_path.parents and file_path.resolve() not in state.explicit:
        return None
    from harness.collect import SuiteFile

    return SuiteFile.from_parent(parent, path=file_path)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Once selection is final, send every selected item's requests (bounded concurrency)."""
    state = session.config.stash.get(STATE, None)
    if state is None or session.config.option.collectonly:
        return
    from harness.collect import CaseItem
    from harness.settings import NO_ENDPOINT

    items = [item for item in session.items if isinstance(item, CaseItem)]
    if not items:
        return
    if session.config.getoption("glm_local"):
        from harness.errors import ConfigError

        try:
            state.start_local()
        except ConfigError as exc:
            pytest.exit(f"glm-harness --glm-local: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
    if state.settings.base_url is None:
        pytest.exit(NO_ENDPOINT, returncode=pytest.ExitCode.USAGE_ERROR)
    if hasattr(session.config, "workerinput"):
        return  # under pytest-xdist each worker sends its own items' requests as it runs them
    for item in items:
        item.schedule(state)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    """Show truncated and API-error items as such (they still fail the run)."""
    if report.when != "call" or not report.failed:
        return None
    for name, value in report.user_properties:
        if name == "glm" and isinstance(value, dict):
            if value.get("outcome") == "truncated":
                return "failed", "T", ("TRUNCATED", {"red": True})
            if value.get("outcome") == "error":
                return "error", "E", ("ERROR", {"red": True})
    return None


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The per suite x api x effort table."""
    if STATE not in config.stash:
        return
    from harness.report import summary_lines

    records = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", ())
        if name == "glm"
    ]
    lines = summary_lines(records)
    if lines:
        terminalreporter.section("glm-harness")
        terminalreporter.write_line(state_line(config.stash[STATE]))
        for line in lines:
            terminalreporter.write_line(line)


def state_line(state: RunState) -> str:
    where = state.settings.base_url or "no endpoint"
    local = " (local llama-server)" if state.local is not None else ""
    return f"endpoint: {where}{local}  model: {state.settings.model or '-'}"


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.close()
