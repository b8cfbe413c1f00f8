"""pytest-xdist as the run's multi-core engine: each worker's share of the items.

Under ``-n N`` with xdist's default ``--dist load`` the controller hands items out a few
at a time, so a worker would learn of an item only when it is about to run it and could
send its requests no earlier: ten times slower than one process. Here the controller
deals the items once, round robin (item ``i`` to the worker of share ``i % N``), and tells
each worker its share in ``workerinput`` before it collects. Every worker collects the
same items in the same order (xdist checks it), so at the end of its collection a worker
knows exactly which items it will run and sends their requests at once, within its part of
``--glm-concurrency`` (:func:`concurrency_of`: the parts add up to the whole). The
controller sends each worker exactly the indices of its share: no request goes twice.

A suite that fails to collect stops the run before any request, as without xdist. A
worker that dies loses its unfinished items to the worker xdist starts in its place
(``--max-worker-restart``), which runs them as ``--dist load`` would: each item's
requests as it runs. Other ``--dist`` modes are left alone and behave that way too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from harness.plugin.stash import STATE


def concurrency_of(share: int, workers: int, concurrency: int) -> int:
    """Worker ``share``'s part of ``concurrency``: the parts of ``workers`` shares add up to
    it (at least 1 each, so a concurrency below the worker count is exceeded by that)."""
    part, extra = divmod(concurrency, workers)
    return max(1, part + (1 if share < extra else 0))


def in_share(index: int, share: int, workers: int) -> bool:
    return index % workers == share


class ShareScheduling:
    """An xdist scheduler (``pytest_xdist_make_scheduler``) that deals item ``i`` to the
    worker whose ``workerinput["glm_share"]`` is ``[i % N, N]``, all at once, then shuts
    each down after its last item. A node without a share (a replacement for one that
    died) runs what the dead one left."""

    def __init__(self, config: pytest.Config, workers: int) -> None:
        self.config = config
        self.workers = workers
        self.node2collection: dict[Any, list[str]] = {}
        self.node2pending: dict[Any, list[int]] = {}
        self._started: list[Any] = []
        self._orphans: list[int] = []
        self._collection: list[str] = []
        self.collection_is_completed = False

    @property
    def nodes(self) -> list[Any]:
        return list(self.node2pending)

    @property
    def tests_finished(self) -> bool:
        if not self.collection_is_completed or self._orphans:
            return False
        return all(len(pending) < 2 for pending in self.node2pending.values())

    @property
    def has_pending(self) -> bool:
        return bool(self._orphans) or any(self.node2pending.values())

    def add_node(self, node: Any) -> None:
        assert node not in self.node2pending
        self.node2pending[node] = []

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        self.node2collection[node] = list(collection)
        self._collection = self._collection or list(collection)
        if len(self.node2collection) >= self.workers:
            self.collection_is_completed = True

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        self.node2pending[node].remove(item_index)

    def mark_test_pending(self, item: str) -> None:
        raise NotImplementedError

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        raise NotImplementedError

    def remove_node(self, node: Any) -> str | None:
        pending = self.node2pending.pop(node)
        if not pending:
            return None
        crashed = pending.pop(0)  # the item it was running: reported as the crash
        self._orphans += pending
        return self._collection[crashed]

    def schedule(self) -> None:
        assert self.collection_is_completed
        if not self._same_collections() or self._collection_failed():
            for node in self.nodes:
                node.shutdown()  # nothing is run: the collect errors say why
            dsession = self.config.pluginmanager.get_plugin("dsession")
            if dsession is not None and not dsession.shouldstop:  # exit 2, as without xdist
                dsession.shouldstop = "errors during collection"
            return
        for node, pending in self.node2pending.items():
            if node in self._started or node not in self.node2collection:
                continue
            share = node.workerinput.get("glm_share")
            if share is not None:
                every = range(len(self._collection))
                pending[:] = [i for i in every if in_share(i, *share)]
            else:  # a node started in place of one that died: what that one left
                pending[:], self._orphans = self._orphans, []
            if pending:
                node.send_runtest_some(pending)
            node.shutdown()
            self._started.append(node)

    def _collection_failed(self) -> bool:
        """A suite that failed to collect stops the run before any request, as it does
        without xdist (whose own schedulers run the other items), unless
        ``--continue-on-collection-errors``."""
        if self.config.option.continue_on_collection_errors:
            return False
        state = self.config.stash.get(STATE, None)
        return state is not None and state.collect_errors > 0

    def _same_collections(self) -> bool:
        """As xdist's own schedulers: a worker that collected other items is a collect
        error naming the difference (shares by index would mean nothing)."""
        from xdist.report import report_collection_diff

        (first, items), *others = self.node2collection.items()
        same = True
        for node, collection in others:
            diff = report_collection_diff(items, collection, first.gateway.id, node.gateway.id)
            if diff:
                same = False
                report = pytest.CollectReport(node.gateway.id, "failed", diff, [])
                self.config.hook.pytest_collectreport(report=report)
        return same


# --- the hooks (re-exported by the package) -----------------------------------------


def workers_of(config: pytest.Config) -> int:
    from xdist.workermanage import parse_tx_spec_config

    return len(parse_tx_spec_config(config))


def deals_shares(config: pytest.Config) -> bool:
    """A --glm-suite run under xdist's default ``--dist load``: the controller deals."""
    return config.stash.get(STATE, None) is not None and config.option.dist == "load"


def deal_share(node: Any) -> None:
    """The controller's ``pytest_configure_node``: the first N nodes get shares 0..N-1 in
    ``workerinput``; a node started later (in place of one that died) gets none."""
    state, workers = node.config.stash[STATE], workers_of(node.config)
    if deals_shares(node.config) and state.shares_dealt < workers:
        node.workerinput["glm_share"] = [state.shares_dealt, workers]
        state.shares_dealt += 1


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's default ``--dist load``: deal each worker its share of the items at
    once, so that it can send their requests before running them."""
    return ShareScheduling(config, workers_of(config)) if deals_shares(config) else None


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
    if state is not None and state.server is None and state.canary is None:
        from harness.plugin.preflight import take

        take(state, output.get("glm_preflight"))  # every worker found the same: one is kept
