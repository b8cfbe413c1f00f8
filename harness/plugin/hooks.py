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
    from harness.settings import Settings
    from harness.state import RunState

STATE: pytest.StashKey[RunState] = pytest.StashKey()
SUITE_SUFFIXES = (".yaml", ".yml")

# option, ini twin (or None), help
OPTIONS: list[tuple[str, str | None, dict[str, Any]]] = [
    ("--glm-base-url", "glm_base_url", {"help": "endpoint base URL (else GLM_BASE_URL, ini)"}),
    (
        "--glm-model",
        "glm_model",
        {"help": "model sent in requests (else GLM_MODEL, ini, GLM-4.7-Flash)"},
    ),
    ("--glm-api", "glm_api", {"help": "override the suites' APIs: chat,responses"}),
    (
        "--glm-effort",
        "glm_effort",
        {"help": "override the suites' efforts: default,none,...,xhigh"},
    ),
    ("--glm-samples", None, {"type": int, "help": "override the samples per case"}),
    (
        "--glm-concurrency",
        "glm_concurrency",
        {"type": int, "help": "requests in flight (default 8)"},
    ),
    (
        "--glm-timeout",
        "glm_timeout",
        {"type": float, "help": "deadline in seconds for each attempt, streams included (180)"},
    ),
    (
        "--glm-max-reply-mb",
        "glm_max_reply_mb",
        {"type": float, "help": "largest reply in MiB, on the wire and decompressed (16)"},
    ),
    ("--glm-retries", "glm_retries", {"type": int, "help": "retries per request (default 4)"}),
    ("--glm-cache", "glm_cache", {"help": "answer cache: use (default), refresh, off, only"}),
    ("--glm-results", "glm_results", {"help": "results folder (default results/)"}),
    (
        "--glm-judge-base-url",
        "glm_judge_base_url",
        {"help": "judge endpoint (else GLM_JUDGE_BASE_URL, ini; default: the run's endpoint)"},
    ),
    (
        "--glm-judge-model",
        "glm_judge_model",
        {"help": "judge model (else GLM_JUDGE_MODEL, ini; default: the run's model)"},
    ),
    (
        "--glm-judge-effort",
        "glm_judge_effort",
        {"help": "judge reasoning effort: default (no field), none, ..., xhigh"},
    ),
    ("--glm-judge-api", "glm_judge_api", {"help": "judge API: chat (default) or responses"}),
    ("--glm-changed-since", None, {"help": "run only suites whose files changed since GITREF"}),
    ("--glm-report", None, {"help": "write a Markdown report (PR comment, step summary)"}),
]
INI_DEFAULTS = {
    "glm_concurrency": "8",
    "glm_timeout": "180",
    "glm_max_reply_mb": "16",
    "glm_retries": "4",
    "glm_cache": "use",
    "glm_results": "results",
}


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
        "--glm-local",
        action="store_true",
        default=False,
        help="start the local llama.cpp model server and run against it",
    )
    group.addoption(
        "--glm-stream",
        action="store_true",
        default=False,
        help="stream every request (SSE) and record time to first token",
    )
    group.addoption(
        "--glm-update-baselines",
        action="store_true",
        default=False,
        help="write the selected items' results as their new baselines",
    )
    group.addoption(
        "--glm-prune-baselines",
        action="store_true",
        default=False,
        help="remove baseline entries whose case x api x effort no longer exists",
    )
    for flag, ini, extra in OPTIONS:
        group.addoption(flag, default=None, **extra)
        if ini is not None:
            parser.addini(ini, extra["help"], default=INI_DEFAULTS.get(ini, ""))
    parser.addini(
        "glm_headers",
        "extra request headers, one 'Name: value' a line",
        type="linelist",
        default=[],
    )
    parser.addini("glm_suites_dir", "folder of suites, relative to rootdir", default="suites")
    parser.addini("glm_evals_dir", "templates and schemas, relative to rootdir", default="evals")


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
    state = RunState(
        settings=settings,
        evals_dir=root / str(config.getini("glm_evals_dir")),
        suites_dir=suites_dir,
        results_dir=root / _value(config, "glm_results"),
        root=root,
        update_baselines=bool(config.getoption("glm_update_baselines")),
        prune_baselines=bool(config.getoption("glm_prune_baselines")),
        explicit=frozenset(
            (config.invocation_params.dir / arg.split("::")[0]).resolve() for arg in config.args
        ),
    )
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "glm_run_id" in workerinput:
        state.run_id = workerinput["glm_run_id"]  # one run folder for all xdist workers
    config.stash[STATE] = state
    ref = config.getoption("glm_changed_since")
    if ref:
        from harness.changes import select

        suites = sorted(p for p in suites_dir.rglob("*") if p.suffix in SUITE_SUFFIXES)
        try:
            state.selection = select(suites, root=root, evals_dir=state.evals_dir, ref=ref)
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
    config.pluginmanager.register(ItemCollector(state), "glm-harness-items")
    _stop_on_sigterm(config)
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = [str(suites_dir)]


_PREVIOUS_SIGTERM = pytest.StashKey[Any]()


def _stop_on_sigterm(config: pytest.Config) -> None:
    """SIGTERM (CI cancelling a job, ``kill``) ends the run like Ctrl-C: records flushed,
    summary.json marked interrupted, baselines untouched, the local server stopped."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt("SIGTERM")

    config.stash[_PREVIOUS_SIGTERM] = signal.signal(signal.SIGTERM, interrupt)


def _value(config: pytest.Config, name: str) -> str:
    """An option's value, else its ini twin's."""
    value = config.getoption(name)
    return str(config.getini(name) if value is None else value).strip()


def _settings(config: pytest.Config) -> Settings:
    from harness import settings as s
    from harness.cache import MODES
    from harness.errors import ConfigError

    def number(name: str, kind: type[int] | type[float], minimum: float) -> Any:
        text = _value(config, name)
        try:
            value = kind(text)
        except ValueError:
            raise ConfigError(
                f"--{name.replace('_', '-')}: expected a number, got {text!r}"
            ) from None
        if value < minimum:
            raise ConfigError(
                f"--{name.replace('_', '-')}: must be at least {minimum:g}, got {text}"
            )
        return value

    samples = config.getoption("glm_samples")
    if samples is not None and samples < 1:
        raise ConfigError(f"--glm-samples: must be at least 1, got {samples}")
    cache = _value(config, "glm_cache")
    if cache not in MODES:
        raise ConfigError(f"--glm-cache: {cache!r} not allowed (allowed: {', '.join(MODES)})")
    env = os.environ.get
    return s.Settings(
        base_url=s.first(config.getoption("glm_base_url"), env("GLM_BASE_URL"),
                         str(config.getini("glm_base_url"))),
        model=s.first(config.getoption("glm_model"), env("GLM_MODEL"),
                      str(config.getini("glm_model"))) or s.DEFAULT_MODEL,
        api_key=s.api_key_from_env(),
        headers=s.parse_headers(list(config.getini("glm_headers"))),
        timeout=number("glm_timeout", float, 0.001),
        max_reply_mb=number("glm_max_reply_mb", float, 0.001),
        concurrency=number("glm_concurrency", int, 1),
        retries=number("glm_retries", int, 0),
        cache_mode=cache,
        apis=s.parse_apis(_value(config, "glm_api")),
        efforts=s.parse_efforts(_value(config, "glm_effort")),
        samples=samples,
        stream=bool(config.getoption("glm_stream")),
        judge=_judge_settings(config),
    )  # fmt: skip


def _judge_settings(config: pytest.Config) -> Any:
    from harness import settings as s
    from harness.errors import ConfigError
    from harness.models import APIS, EFFORTS

    def pick(name: str, variable: str) -> str | None:
        return s.first(config.getoption(name), os.environ.get(variable), str(config.getini(name)))

    def one(name: str, allowed: tuple[str, ...], default: str) -> str:
        option = f"--{name.replace('_', '-')}"
        found = s.parse_list(_value(config, name), allowed, option) or (default,)
        if len(found) > 1:
            raise ConfigError(f"{option}: give one value, not {', '.join(found)}")
        return found[0]

    return s.JudgeSettings(
        base_url=pick("glm_judge_base_url", "GLM_JUDGE_BASE_URL"),
        model=pick("glm_judge_model", "GLM_JUDGE_MODEL"),
        api_key=s.api_key_from_env("GLM_JUDGE_API_KEY"),
        effort=one("glm_judge_effort", EFFORTS, "default"),
        api="responses" if one("glm_judge_api", APIS, "chat") == "responses" else "chat",
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Suites are the YAML files under the suites folder, or named on the command line."""
    state = parent.config.stash.get(STATE, None)
    if state is None or file_path.suffix not in SUITE_SUFFIXES:
        return None
    if state.suites_dir not in file_path.parents and file_path.resolve() not in state.explicit:
        return None
    if state.selection is not None and file_path not in state.selection.selected:
        return None  # --glm-changed-since: nothing it uses changed
    from harness.collect import SuiteFile

    return SuiteFile.from_parent(parent, path=file_path)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    """--glm-changed-since: which suites were selected, and why."""
    state = config.stash.get(STATE, None)
    if state is None or state.selection is None:
        return None
    from harness.changes import describe

    return describe(state.selection, str(config.getoption("glm_changed_since")), config.rootpath)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Once selection is final, send every selected item's requests (bounded concurrency)."""
    state = session.config.stash.get(STATE, None)
    if state is None or session.config.option.collectonly:
        return
    from harness.collect import CaseItem
    from harness.errors import ConfigError
    from harness.settings import NO_ENDPOINT

    items = [item for item in session.items if isinstance(item, CaseItem)]
    if not items:
        return
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        return  # collection errors: pytest stops the run next, so nothing is asked
    unwritable = state.preflight()  # results that cannot be kept: stop before asking
    if unwritable is not None:
        pytest.exit(unwritable, returncode=pytest.ExitCode.USAGE_ERROR)
    if session.config.getoption("glm_local"):
        try:
            state.start_local()
        except ConfigError as exc:
            pytest.exit(f"glm-harness --glm-local: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
    if state.settings.base_url is None:
        pytest.exit(NO_ENDPOINT, returncode=pytest.ExitCode.USAGE_ERROR)
    if hasattr(session.config, "workerinput"):
        return  # under pytest-xdist a worker sends its items' requests as it runs them
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


class ItemCollector:
    """Registered for a --glm-suite run: keeps each finished item's summary (on the xdist
    controller, the workers' reports arrive here too)."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == "glm" and isinstance(value, dict):
                self.state.items.append(value)
                self.state.suite_paths[value["suite"]] = value.get("suite_path", "")
            elif name == "glm-baseline" and isinstance(value, dict):
                suite = self.state.baseline_updates.setdefault(value["suite"], {})
                suite[value["key"]] = value["entry"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write ``summary.json`` beside the records (not on xdist workers: they report back)."""
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        if state.engine_started:
            from harness.state import engine_stats

            workeroutput["glm_stats"] = engine_stats(state.engine())
        workeroutput["glm_losses"] = state.worker_losses()
        return
    from harness.summary import exit_code, write_baselines, write_summary

    if state.update_baselines or state.prune_baselines:
        write_baselines(state, interrupted=exitstatus == pytest.ExitCode.INTERRUPTED)
    if not state.update_baselines:
        from harness.summary import decisions

        state.decisions = decisions(state)
    from harness.summary import ignored_efforts

    state.ignored = ignored_efforts(state)
    status = int(exitstatus)
    if state.selection is not None and not state.selection.selected and status == 5:
        status = 0  # --glm-changed-since found no suite to run: nothing can have regressed
    session.exitstatus = exit_code(state, status)
    if state.items or state.run_dir.exists():
        write_summary(state, int(session.exitstatus))
    report = session.config.getoption("glm_report")
    if report:
        from harness.summary import write_markdown

        target = session.config.invocation_params.dir / report
        write_markdown(state, target, int(session.exitstatus))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker writes into this run's folder."""
    state = node.config.stash.get(STATE, None)
    if state is not None:
        node.workerinput["glm_run_id"] = state.run_id


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist: add a finished worker's request counters to the run's."""
    state = node.config.stash.get(STATE, None)
    output = getattr(node, "workeroutput", {})
    stats = output.get("glm_stats")
    if state is not None and stats:
        state.worker_stats.append(stats)
    if state is not None and output.get("glm_losses"):
        state.add_losses(output["glm_losses"])


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The per suite x api x effort table, request counters, where the records are."""
    state = config.stash.get(STATE, None)
    if state is None or not state.items:
        return
    from harness.secret import redact
    from harness.summary import terminal_lines

    terminalreporter.section("glm-harness")
    for line in terminal_lines(state, config.rootpath):
        terminalreporter.write_line(redact(line))


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.close()
    previous = config.stash.get(_PREVIOUS_SIGTERM, None)
    if previous is not None:
        import signal

        signal.signal(signal.SIGTERM, previous)
