"""The pytest plugin (the ``pytest11`` entry point ``harness.plugin``); the only modules
that import pytest.

- ``hooks``: the hooks pytest calls (re-exported here, so ``-p harness.plugin`` works);
- ``options``: the ``--glm-*`` options, their ini twins, and the run's settings;
- ``stash``: the key of the run's state in ``config.stash``;
- ``collect``: ``SuiteFile`` and ``CaseItem`` (collection, scheduling, verdicts);
- ``state``: the run's state (engine, records, baselines, the local server);
- ``preflight``: before the first request, the server's fingerprint and the canaries;
  the words for a server that changed since a baseline;
- ``judging``: asking the judge for an answer's ``judge`` checks through the engine;
- ``shares``: pytest-xdist's scheduler that deals each worker its share of the items up
  front, each worker's part of the concurrency, and the xdist hooks of the controller
  (the scheduler, adding up what the workers report; re-exported here too);
- ``summary``: ``summary.json``, baseline updates, exit codes, the end-of-run lines.

Importing this package stays cheap: ``hooks`` imports only pytest and ``options``; the
rest of the harness is imported when a run asks for it.

May import: everything below it.
"""

from harness.plugin.hooks import (
    pytest_addoption,
    pytest_collect_file,
    pytest_collection_finish,
    pytest_configure,
    pytest_configure_node,
    pytest_report_header,
    pytest_report_teststatus,
    pytest_runtest_makereport,
    pytest_sessionfinish,
    pytest_terminal_summary,
    pytest_unconfigure,
)
from harness.plugin.shares import pytest_testnodedown, pytest_xdist_make_scheduler

__all__ = [
    "pytest_addoption",
    "pytest_collect_file",
    "pytest_collection_finish",
    "pytest_configure",
    "pytest_configure_node",
    "pytest_report_header",
    "pytest_report_teststatus",
    "pytest_runtest_makereport",
    "pytest_sessionfinish",
    "pytest_terminal_summary",
    "pytest_testnodedown",
    "pytest_unconfigure",
    "pytest_xdist_make_scheduler",
]
