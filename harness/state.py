"""Per-run plugin state (the plugin keeps it in ``config.stash``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.baseline import BaselineFile
from harness.engine import Engine
from harness.records import RecordWriter, new_run_id
from harness.settings import Settings

if TYPE_CHECKING:
    from harness.changes import Selection
    from harness.local import LocalServer


@dataclass(slots=True)
class RunState:
    """Settings of the run, the lazily started engine, the run's records and results."""

    settings: Settings
    evals_dir: Path
    suites_dir: Path
    results_dir: Path
    root: Path | None = None  # pytest's rootdir: the project (python checks import from it)
    explicit: frozenset[Path] = frozenset()
    run_id: str = field(default_factory=new_run_id)
    items: list[dict[str, Any]] = field(default_factory=list)  # one summary per finished item
    worker_stats: list[dict[str, Any]] = field(default_factory=list)  # from xdist workers
    update_baselines: bool = False
    prune_baselines: bool = False
    baseline_updates: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    suite_paths: dict[str, str] = field(default_factory=dict)  # suite name -> file
    baseline_reports: list[str] = field(default_factory=list)  # one line per file written
    decisions: list[dict[str, Any]] = field(default_factory=list)  # paired tests, end of run
    ignored: list[dict[str, Any]] = field(default_factory=list)  # efforts with no effect
    selection: Selection | None = None  # --glm-changed-since
    _baselines: dict[str, BaselineFile] = field(default_factory=dict, repr=False)
    local: LocalServer | None = field(default=None, repr=False)
    _engine: Engine | None = field(default=None, repr=False)
    _records: RecordWriter | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def run_dir(self) -> Path:
        return self.results_dir / "runs" / self.run_id

    @property
    def baselines_dir(self) -> Path:
        return self.results_dir / "baselines"

    def loaded_baselines(self) -> list[BaselineFile]:
        return list(self._baselines.values())

    def baseline_entry(self, suite: str, key: str) -> tuple[dict[str, Any] | None, str | None]:
        """The baseline entry to judge against, or None with the reason it is not used: an
        entry recorded with another model says nothing about this one."""
        entry = self.baseline(suite).entries.get(key)
        if entry is not None and entry.get("model") != self.settings.model:
            return None, f"its baseline is for model {entry.get('model')!r}"
        return entry, None

    def baseline(self, suite: str) -> BaselineFile:
        """The suite's baseline, read once per run."""
        if suite not in self._baselines:
            self._baselines[suite] = BaselineFile.load(self.baselines_dir, suite)
        return self._baselines[suite]

    def start_local(self) -> None:
        """Start the local llama.cpp server and point the run at it (raises ConfigError)."""
        from harness.local import MODEL_ALIAS, LocalServer

        self.local = LocalServer().start()
        # the port changes every run; the cache must still recognise the same model
        self.settings = replace(
            self.settings,
            base_url=self.local.url,
            model=MODEL_ALIAS,
            cache_id=f"llama-server-local/{MODEL_ALIAS}",
        )

    def engine(self) -> Engine:
        if self._engine is None:
            from harness.cache import Cache
            from harness.client import Client
            from harness.retry import RetryPolicy

            settings = self.settings
            if settings.base_url is None:
                raise RuntimeError("no endpoint configured")  # the plugin checks this first
            base_url = settings.base_url

            def make_client(url: str = base_url, key: str | None = settings.api_key) -> Client:
                return Client(
                    url,
                    api_key=key,
                    headers=settings.headers,
                    timeout=settings.timeout,
                    max_connections=max(settings.concurrency, 1),
                )

            judge = settings.judge
            judge_url = judge.base_url if settings.judge_apart else None

            cache = (
                None
                if settings.cache_mode == "off"
                else Cache(self.results_dir / ".cache", settings.cache_mode)
            )
            self._engine = Engine(
                make_client,
                settings.concurrency,
                policy=RetryPolicy(retries=settings.retries),
                cache=cache,
                endpoint=settings.endpoint_id,
                make_judge_client=(
                    None if judge_url is None else lambda: make_client(judge_url, judge.api_key)
                ),
                judge_endpoint=judge_url,
            )
        return self._engine

    @property
    def engine_started(self) -> bool:
        return self._engine is not None

    def record(self, line: dict[str, Any]) -> None:
        """Append one sample's record to ``records.jsonl`` (opened on first use)."""
        with self._lock:
            if self._records is None:
                self._records = RecordWriter(self.run_dir / "records.jsonl")
            self._records.write(line)

    def stats(self) -> dict[str, Any]:
        """Request counters of this process's engine plus those reported by xdist workers."""
        totals: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
        judge: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        limits: list[tuple[int, int, int]] = []
        sources = list(self.worker_stats)
        if self._engine is not None:
            sources.append(engine_stats(self._engine))
        for source in sources:
            for key in COUNTERS:
                totals[key] += source.get(key, 0)
                judge[key] += source.get("judge", {}).get(key, 0)
            limits.append((source["max_concurrency"], source["concurrency"], source["shrinks"]))
        totals["max_concurrency"] = max(
            (m for m, _, _ in limits), default=self.settings.concurrency
        )
        totals["concurrency"] = min((c for _, c, _ in limits), default=self.settings.concurrency)
        totals["shrinks"] = sum(s for _, _, s in limits)
        totals["judge"] = judge
        return totals

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
        if self._records is not None:
            self._records.close()
            self._records = None
        if self.local is not None:
            self.local.stop()
            self.local = None


COUNTERS = ("requests", "sent", "retries", "cached", "failed", "input_tokens", "output_tokens")


def engine_stats(engine: Engine) -> dict[str, Any]:
    """The engine's counters (the judge's apart), as summary.json and xdist carry them."""
    return {
        **{key: getattr(engine.stats, key) for key in COUNTERS},
        "judge": {key: getattr(engine.judge_stats, key) for key in COUNTERS},
        "max_concurrency": engine.limit.maximum,
        "concurrency": engine.limit.limit,
        "shrinks": engine.limit.shrinks,
    }
