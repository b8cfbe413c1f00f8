"""pytest hooks for glm-harness. Nothing happens unless ``--glm-suite`` is given.

Importing this module stays cheap (it is loaded by every pytest run through the
``pytest11`` entry point): the harness itself is imported only when a run asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.plugin.options import (
    MOVED_ROOTDIR,
    add_options,
    canary_mode,
    missing_path,
    option_value,
    rerun_if_rootdir_moved,
    settings_of,
)
from harness.plugin.stash import STATE

if TYPE_CHECKING:
    from harness.plugin.state import RunState

SUITE_SUFFIXES = (".yaml", ".yml")
STOPPED = ("failed", "error")  # canary states that end a run before its first request


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Register the --glm-* options and their ini twins; run again if one of their values
    moved pytest's rootdir (:func:`options.rerun_if_rootdir_moved`)."""
    add_options(parser)
    config = pluginmanager.get_plugin("pytestconfig")
    if isinstance(config, pytest.Config):
        rerun_if_rootdir_moved(config)


def pytest_configure(config: pytest.Config) -> None:
    """Resolve the run's settings; with no paths given, collect the suites folder."""
    if not config.getoption("glm_suite"):
        return
    moved = config.stash.get(MOVED_ROOTDIR, None) or missing_path(config)
    if moved is not None:
        raise pytest.UsageError(moved)
    from harness.errors import ConfigError
    from harness.plugin.state import RunState

    try:
        settings, canary = settings_of(config), canary_mode(config)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    root = config.rootpath
    suites_dir = root / str(config.getini("glm_suites_dir"))
    state = RunState(
        settings=settings,
        evals_dir=root / str(config.getini("glm_evals_dir")),
        suites_dir=suites_dir,
        results_dir=root / option_value(config, "glm_results"),
        root=root,
        update_baselines=bool(config.getoption("glm_update_baselines")),
        prune_baselines=bool(config.getoption("glm_prune_baselines")),
        canary_mode=canary,
        explicit=frozenset(
            (config.invocation_params.dir / arg.split("::")[0]).resolve() for arg in config.args
        ),
    )
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "glm_run_id" in workerinput:
        state.run_id = workerinput["glm_run_id"]  # one run folder for all xdist workers
    if workerinput is not None and workerinput.get("glm_share"):
        from dataclasses import replace

        from harness.plugin.shares import concurrency_of

        share, workers = workerinput["glm_share"]
        part = concurrency_of(share, workers, settings.concurrency)
        state.settings = replace(settings, concurrency=part)  # the workers' parts add up
    config.stash[STATE] = state
    ref = config.getoption("glm_changed_since")
    if ref:
        from harness.gate.changes import select

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


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Suites are the YAML files under the suites folder, or named on the command line."""
    state = parent.config.stash.get(STATE, None)
    if state is None or file_path.suffix not in SUITE_SUFFIXES:
        return None
    if state.suites_dir not in file_path.parents and file_path.resolve() not in state.explicit:
        return None
    if state.selection is not None and file_path not in state.selection.selected:
        return None  # --glm-changed-since: nothing it uses changed
    from harness.plugin.collect import SuiteFile

    return SuiteFile.from_parent(parent, path=file_path)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    """--glm-sample: how many cases per suite; --glm-changed-since: which suites were
    selected, and why."""
    state = config.stash.get(STATE, None)
    if state is None:
        return None
    lines = []
    if state.settings.sample is not None:
        n, seed = state.settings.sample, state.settings.seed
        lines.append(f"glm-harness: --glm-sample {n}: {n} cases per suite (seed {seed})")
    if state.settings.shard is not None:
        k, n = state.settings.shard
        lines.append(f"glm-harness: --glm-shard {k}/{n}: share {k} of {n} of every suite's cases")
    if state.selection is not None:
        from harness.gate.changes import describe

        ref = str(config.getoption("glm_changed_since"))
        lines += describe(state.selection, ref, config.rootpath)
    return lines or None


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reports the items it will run
def pytest_collection_finish(session: pytest.Session) -> None:
    """Once selection is final: the server's fingerprint and, before a gating run, the
    canaries (a failed one ends the run here: no item is left to run); then send every
    selected item's requests (bounded concurrency)."""
    state = session.config.stash.get(STATE, None)
    if state is None or session.config.option.collectonly:
        return
    from harness.plugin.collect import CaseItem
    from harness.settings.values import NO_ENDPOINT

    unknown = [v for v in state.settings.prompts or () if v not in state.variants_seen]
    if unknown and not session.testsfailed:
        seen = ", ".join(sorted(state.variants_seen)) or "none: no suite has prompts:"
        raise pytest.UsageError(
            f"--glm-prompt: no collected suite has a prompt {unknown[0]!r} (prompts: {seen})"
        )
    items = [item for item in session.items if isinstance(item, CaseItem)]
    if not items:
        return
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        return  # collection errors: pytest stops the run next, so nothing is asked
    # A run that cannot go on stops with pytest's one plain `ERROR: ...` line and exit
    # code 4 (pytest.exit here would print `! _pytest.outcomes.Exit: ... !`).
    unwritable = state.preflight()  # results that cannot be kept: stop before asking
    if unwritable is not None:
        raise pytest.UsageError(unwritable)
    shared = getattr(session.config, "workerinput", {}).get("glm_local")
    if shared is not None:  # xdist: the controller's server, one for the run
        state.use_local(shared["url"], shared["model_file"], shared["model_sha256"])
    elif session.config.getoption("glm_local"):
        _start_local(state)
    if state.settings.base_url is None:
        raise pytest.UsageError(NO_ENDPOINT)
    from harness.plugin.preflight import before_requests, stop_line

    before_requests(state, items, worker=hasattr(session.config, "workerinput"))
    if stop_line(state) is not None:  # nothing of the suites is sent; the summary says why
        session.config.hook.pytest_deselected(items=list(session.items))
        session.items.clear()
        return
    _freeze_collected()
    share = getattr(session.config, "workerinput", {}).get("glm_share")
    if share:  # pytest-xdist: the items this worker will run (:mod:`harness.plugin.shares`)
        from harness.plugin.shares import in_share

        for index, item in enumerate(session.items):
            if isinstance(item, CaseItem) and in_share(index, *share):
                item.schedule(state)
        return
    if hasattr(session.config, "workerinput"):
        return  # another --dist mode: a worker sends an item's requests as it runs it
    for item in items:
        item.schedule(state)


def _freeze_collected() -> None:
    """Move what collection built (pytest's nodes, the suites, compiled templates) out of
    the garbage collector's sight: every full collection would otherwise walk them again,
    during the run (a fifth of its CPU at 2,000 cases), in pytest's cleanup and at
    interpreter exit (a second at 2,000 cases). Undone at unconfigure when the run is
    not the process's own (:func:`_own_process`)."""
    import gc

    gc.collect()  # what collection left as garbage is freed, not frozen
    gc.freeze()


def _own_process(config: pytest.Config) -> bool:
    """The process ends with this run: the pytest command line or an xdist worker, not
    ``pytest.main()`` inside a process that goes on (pytester's in-process runs), where
    frozen objects in reference cycles would never be freed."""
    import sys

    return hasattr(config, "workerinput") or config.invocation_params.args == tuple(sys.argv[1:])


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    """Show truncated and API-error items as such (they still fail the run)."""
    if report.when != "call" or not report.failed:
        return None
    for name, value in glm_properties(report):
        if name == "glm":
            if value.get("outcome") == "truncated":
                return "failed", "T", ("TRUNCATED", {"red": True})
            if value.get("outcome") == "error":
                return "error", "E", ("ERROR", {"red": True})
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A regression on a suite whose baseline was made on another server says so first."""
    report = yield
    state = item.config.stash.get(STATE, None)
    if state is not None and state.server_changes and report.failed and call.when == "call":
        from harness.plugin.preflight import regression_label

        for name, value in glm_properties(report):
            label = regression_label(state, str(value.get("suite")))
            if name == "glm" and value.get("change") == "regression" and label:
                report.longrepr = f"{label}\n{report.longrepr}"
    return report


def glm_properties(report: pytest.TestReport) -> Iterator[tuple[str, dict[str, Any]]]:
    """The harness's user properties of a report (``glm``, ``glm-baseline``), read back
    from the JSON text ``CaseItem.keep`` gave them; anything else is left alone."""
    import json

    for name, value in report.user_properties:
        if name in ("glm", "glm-baseline") and isinstance(value, str):
            try:
                data = json.loads(value)
            except ValueError:
                continue
            if isinstance(data, dict):
                yield name, data


class ItemCollector:
    """Registered for a --glm-suite run: keeps each finished item's summary (on the xdist
    controller, the workers' reports arrive here too)."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:  # on the xdist controller too: the workers' reports come here
            self.state.collect_errors += 1

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in glm_properties(report):
            if name == "glm":
                self.state.items.append(value)
                self.state.suite_paths[value["suite"]] = value.get("suite_path", "")
            elif name == "glm-baseline":
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
            from harness.plugin.state import engine_stats

            stats = engine_stats(state.engine())
            stats["split"] = bool(session.config.workerinput.get("glm_share"))  # type: ignore[attr-defined]
            workeroutput["glm_stats"] = stats
        workeroutput["glm_losses"] = state.worker_losses()
        from harness.plugin.preflight import shared

        workeroutput["glm_preflight"] = shared(state)
        return
    from harness.plugin.preflight import cleanup

    cleanup(state)  # the xdist workers' shared fingerprint and canaries
    from harness.plugin.summary import exit_code, write_baselines, write_summary

    if state.update_baselines or state.prune_baselines:
        write_baselines(state, interrupted=exitstatus == pytest.ExitCode.INTERRUPTED)
    if not state.update_baselines:
        from harness.plugin.summary import decisions

        state.decisions = decisions(state)
    from harness.plugin.summary import budget_notes, ignored_efforts

    state.ignored = ignored_efforts(state)
    state.budgets = budget_notes(state)
    status = int(exitstatus)
    if state.selection is not None and not state.selection.selected and status == 5:
        status = 0  # --glm-changed-since found no suite to run: nothing can have regressed
    session.exitstatus = exit_code(state, status)
    if state.items or state.run_dir.exists():
        write_summary(state, int(session.exitstatus))
    report = session.config.getoption("glm_report")
    if report:
        from harness.plugin.summary import write_markdown

        target = session.config.invocation_params.dir / report
        write_markdown(state, target, int(session.exitstatus))


def _start_local(state: RunState) -> None:
    from harness.errors import ConfigError

    try:
        state.start_local()
    except ConfigError as exc:
        raise pytest.UsageError(f"glm-harness --glm-local: {exc}") from None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker writes into this run's folder; with --glm-local the
    controller starts the one server of the run (before the first worker) and every worker
    sends to it, so the terminal, summary.json and the page name the real endpoint and model."""
    state = node.config.stash.get(STATE, None)
    if state is None:
        return
    node.workerinput["glm_run_id"] = state.run_id
    from harness.plugin.shares import deal_share

    deal_share(node)
    if node.config.getoption("glm_local"):
        if state.local is None:
            _start_local(state)
        node.workerinput["glm_local"] = state.local_info()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The per suite x api x effort table, request counters, where the records are."""
    state = config.stash.get(STATE, None)
    if state is None or not (state.items or (state.canary or {}).get("state") in STOPPED):
        return
    from harness.plugin.summary import terminal_lines
    from harness.secret import redact

    terminalreporter.section("glm-harness")
    for line in terminal_lines(state, config.rootpath):
        terminalreporter.write_line(redact(line))


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.close()
        if not _own_process(config):
            import gc

            gc.unfreeze()  # the process goes on: the run's objects must be freed
    previous = config.stash.get(_PREVIOUS_SIGTERM, None)
    if previous is not None:
        import signal

        signal.signal(signal.SIGTERM, previous)
