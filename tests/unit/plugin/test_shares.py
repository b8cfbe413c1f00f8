"""The xdist scheduler that deals each worker its share of the items up front."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from harness.plugin.shares import ShareScheduling, concurrency_of, in_share

pytest.importorskip("xdist")


@dataclass(eq=False)
class Node:
    """What the scheduler uses of xdist's WorkerController."""

    share: list[int] | None
    name: str = "gw0"
    sent: list[int] = field(default_factory=list)
    down: bool = False

    @property
    def workerinput(self) -> dict[str, Any]:
        return {"glm_share": self.share} if self.share else {}

    @property
    def gateway(self) -> Any:
        return type("Gateway", (), {"id": self.name})()

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += indices

    def shutdown(self) -> None:
        self.down = True


class Config:
    """What the scheduler uses of the controller's config: the hook, the option, the
    stash (no run state: no collect errors) and xdist's session."""

    def __init__(self) -> None:
        self.reports: list[Any] = []
        self.hook = self
        self.option = SimpleNamespace(continue_on_collection_errors=False)
        self.stash: dict[Any, Any] = {}
        self.dsession = SimpleNamespace(shouldstop=False)
        self.pluginmanager = SimpleNamespace(get_plugin=lambda name: self.dsession)

    def pytest_collectreport(self, report: Any) -> None:
        self.reports.append(report)


def started(*nodes: Node, items: int = 7) -> ShareScheduling:
    sched = ShareScheduling(Config(), workers=len(nodes))  # type: ignore[arg-type]
    for node in nodes:
        sched.add_node(node)
    for node in nodes:
        assert not sched.collection_is_completed
        sched.add_node_collection(node, [f"t{i}" for i in range(items)])
    assert sched.collection_is_completed
    sched.schedule()
    return sched


def test_the_concurrency_parts_add_up_to_the_whole() -> None:
    assert [concurrency_of(k, 3, 64) for k in range(3)] == [22, 21, 21]
    assert sum(concurrency_of(k, 5, 17) for k in range(5)) == 17
    assert [concurrency_of(k, 2, 1) for k in range(2)] == [1, 1]  # at least one each


def test_each_item_goes_to_exactly_one_worker_all_at_once() -> None:
    a, b = Node([0, 2], "gw0"), Node([1, 2], "gw1")
    sched = started(a, b)
    assert a.sent == [0, 2, 4, 6]
    assert b.sent == [1, 3, 5]
    assert [i for i in range(7) if in_share(i, 1, 2)] == b.sent  # what the worker sends
    assert a.down
    assert b.down
    assert not sched.tests_finished
    for index in list(a.sent):
        sched.mark_test_complete(a, index)
    for index in list(b.sent):
        sched.mark_test_complete(b, index)
    assert sched.tests_finished
    assert not sched.has_pending


def test_a_dead_workers_items_go_to_the_one_started_in_its_place() -> None:
    a, b = Node([0, 2], "gw0"), Node([1, 2], "gw1")
    sched = started(a, b)
    sched.mark_test_complete(a, 0)
    assert sched.remove_node(a) == "t2"  # the item it was running when it died
    assert sched.has_pending
    assert not sched.tests_finished
    spare = Node(None, "gw2")
    sched.add_node(spare)
    sched.add_node_collection(spare, [f"t{i}" for i in range(7)])
    sched.schedule()
    assert spare.sent == [4, 6]
    assert spare.down
    assert b.sent == [1, 3, 5]  # untouched: nothing is sent twice


def test_workers_that_collected_other_items_run_nothing() -> None:
    a, b = Node([0, 2], "gw0"), Node([1, 2], "gw1")
    sched = ShareScheduling(Config(), workers=2)  # type: ignore[arg-type]
    sched.add_node(a)
    sched.add_node(b)
    sched.add_node_collection(a, ["t0", "t1"])
    sched.add_node_collection(b, ["t0", "t9"])
    sched.schedule()
    assert a.sent == b.sent == []
    assert a.down
    assert b.down
    [report] = sched.config.reports  # type: ignore[attr-defined]
    assert report.failed
    assert sched.config.dsession.shouldstop  # type: ignore[attr-defined]
    assert "t9" in str(report.longrepr)


def test_the_first_n_nodes_get_shares_and_a_restarted_one_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from harness.plugin import shares
    from harness.plugin.stash import STATE

    monkeypatch.setattr(shares, "workers_of", lambda config: 2)
    config = Config()
    config.option.dist = "load"
    config.stash[STATE] = SimpleNamespace(shares_dealt=0)
    started = [SimpleNamespace(config=config, workerinput={}) for _ in range(3)]
    for node in started:
        shares.deal_share(node)
    assert [n.workerinput.get("glm_share") for n in started] == [[0, 2], [1, 2], None]
    config.option.dist = "loadfile"  # another --dist: nobody deals
    other = SimpleNamespace(config=config, workerinput={})
    config.stash[STATE] = SimpleNamespace(shares_dealt=0)
    shares.deal_share(other)
    assert other.workerinput == {}
