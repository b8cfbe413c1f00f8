"""Per-run plugin state (the plugin keeps it in ``config.stash``)."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.engine.bodies import MIB
from harness.gate.baseline import BaselineFile
from harness.gate.records import RecordWriter, new_run_id
from harness.models import Suite
from harness.secret import Secret
from harness.settings.values import Settings

if TYPE_CHECKING:
    from harness.engine.runner import Engine
    from harness.gate.changes import Selection
    from harness.local.server import LocalServer


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
    budgets: list[dict[str, Any]] = field(default_factory=list)  # what thinking budgets buy
    selection: Selection | None = None  # --glm-changed-since
    sampled: dict[str, tuple[int, int]] = field(default_factory=dict)  # suite -> (run, of)
    variants_seen: set[str] = field(default_factory=set)  # of the collected suites
    model_file: Path | None = None  # --glm-local: the GGUF served
    model_sha256: str | None = None  # --glm-local: its hash (cache key, baseline entries)
    problems: list[str] = field(default_factory=list)  # files the run could not write
    late_interrupt: bool = False  # Ctrl-C while the baselines were written
    baselines_unwritten: bool = False  # --glm-update-baselines could not write them all
    records_lost: int = 0  # records that could not be written (none open)
    records_lost_reason: str | None = None
    workers_unwritten: int = 0  # cache entries xdist workers could not write
    workers_unwritten_reason: str | None = None
    canary_mode: str = "auto"  # --glm-canary / --glm-no-canary / ini glm_canary
    local_run: bool = False  # --glm-local: the run asks the local llama-server
    server: dict[str, Any] | None = None  # the server's fingerprint (None: not read)
    canary: dict[str, Any] | None = None  # what the canaries found (None: not run)
    server_changes: dict[str, str] = field(default_factory=dict)  # suite -> since its baseline
    shares_dealt: int = 0  # xdist: the workers given a share (plugin/shares.py)
    collect_errors: int = 0  # files that failed to collect (xdist: in any worker)
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
        if entry is not None and entry.get("model_sha256") != self.model_sha256:
            # --glm-local: another GGUF under the same alias (or one of unknown hash)
            return None, f"its baseline is for model file {_file_id(entry)}"
        return entry, None

    def note_suite(self, suite: Suite) -> set[str] | None:
        """A suite was collected: note its variants; with ``--glm-sample``, choose (and
        note) the ids of the cases to run; None: run all."""
        self.variants_seen.update(suite.variants)
        if self.settings.sample is None:
            return None
        from harness.suites.sampling import sample_ids

        ids = [case.id for case in suite.cases]
        chosen = sample_ids(ids, self.settings.sample, self.settings.seed)
        self.sampled[suite.name] = (len(chosen), len(set(ids)))
        return chosen

    def baseline(self, suite: str) -> BaselineFile:
        """The suite's baseline, read once per run."""
        if suite not in self._baselines:
            self._baselines[suite] = BaselineFile.load(self.baselines_dir, suite)
        return self._baselines[suite]

    def preflight(self) -> str | None:
        """Before the first request: why the run could not keep what it is about to ask
        (the run folder, the cache when it writes, the baselines when updating), or None.
        A run folder made here is removed again when something else is not writable."""
        from harness.fileio import unwritable

        folders = [self.run_dir]
        if self.settings.cache_mode in ("use", "refresh"):
            folders.append(self.results_dir / ".cache")
        if self.update_baselines or self.prune_baselines:
            folders.append(self.baselines_dir)
        made = not self.run_dir.exists()
        for folder in folders:
            # a folder that is not there yet is probed through its parent, so a run that
            # ends up writing nothing there (every answer an error) leaves no empty folder
            probe = folder if folder == self.run_dir or folder.exists() else folder.parent
            why = unwritable(probe)
            if why is None and folder.exists() and not folder.is_dir():
                why = f"{folder} is a file, not a folder"
            if why is not None:
                if made and folder != self.run_dir:
                    with contextlib.suppress(OSError):
                        self.run_dir.rmdir()
                return (
                    f"glm-harness: cannot write to {folder} ({why}); nothing was sent. Make it "
                    "writable, or point --glm-results (ini glm_results) at a writable folder"
                )
        return None

    def start_local(self) -> None:
        """Start the local llama.cpp server and point the run at it (raises ConfigError)."""
        from harness.local.modelid import model_sha256
        from harness.local.server import LocalServer, cache_dir, find_model

        model = find_model()
        # hashed before the server starts (a file swapped afterwards is not served)
        digest = None if model is None else model_sha256(model, cache_dir())
        self.local = LocalServer(model=model).start()
        self.use_local(self.local.url, model, digest)

    def local_info(self) -> dict[str, Any]:
        """What an xdist worker needs to use this process's server (:meth:`use_local`)."""
        return {
            "url": self.settings.base_url,
            "model_file": None if self.model_file is None else str(self.model_file),
            "model_sha256": self.model_sha256,
        }

    def use_local(self, url: str, model: Path | str | None, digest: str | None) -> None:
        """Point the run at a running local server (this process's, or under xdist the
        controller's: one server for the run) serving ``model`` of hash ``digest``."""
        from harness.local.server import MODEL_ALIAS

        if model is not None:
            self.model_file, self.model_sha256 = Path(model), digest
        self.local_run = True
        # the port changes every run; the cache must still recognise the same model file
        self.settings = replace(
            self.settings,
            base_url=url,
            model=MODEL_ALIAS,
            cache_id=f"llama-server-local/{MODEL_ALIAS}",
        )

    def engine(self) -> Engine:
        if self._engine is None:
            from harness.engine.cache import Cache, endpoint_identity
            from harness.engine.client import Client
            from harness.engine.retry import RetryPolicy
            from harness.engine.runner import Engine  # here: the xdist controller sends nothing

            settings = self.settings
            if settings.base_url is None:
                raise RuntimeError("no endpoint configured")  # the plugin checks this first
            base_url = settings.base_url

            def make_client(url: str = base_url, key: Secret | None = settings.api_key) -> Client:
                return Client(
                    url,
                    api_key=key,
                    headers=settings.headers,
                    timeout=settings.timeout,
                    max_connections=max(settings.concurrency, 1),
                    max_reply_bytes=int(settings.max_reply_mb * MIB),
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
                endpoint=endpoint_identity(
                    settings.endpoint_id, settings.headers, self.model_sha256
                ),
                make_judge_client=(
                    None if judge_url is None else lambda: make_client(judge_url, judge.api_key)
                ),
                judge_endpoint=(
                    None if judge_url is None else endpoint_identity(judge_url, settings.headers)
                ),
            )
        return self._engine

    @property
    def engine_started(self) -> bool:
        return self._engine is not None

    def record(self, line: dict[str, Any]) -> None:
        """Append one sample's record to ``records.jsonl`` (opened on first use)."""
        with self._lock:
            if self._records is None:
                try:
                    self._records = RecordWriter(self.run_dir / "records.jsonl")
                except OSError as exc:
                    self.records_lost += 1
                    self.records_lost_reason = self.records_lost_reason or str(exc)
                    return
            self._records.write(line)

    def lost_records(self) -> tuple[int, str | None]:
        """How many records could not be written whole (disk full...), and why."""
        records = self._records
        if records is None:
            return self.records_lost, self.records_lost_reason
        return records.lost + self.records_lost, records.lost_reason or self.records_lost_reason

    def model_shown(self) -> str:
        """The model's name, and with --glm-local the file actually served and its hash
        (the alias is the same whatever GGUF it is)."""
        name = self.settings.model or "-"
        if self.model_file is None or self.model_sha256 is None:
            return name
        return f"{name} (file {self.model_file.name}, sha256:{self.model_sha256[:12]})"

    def model_file_data(self) -> dict[str, Any]:
        """summary.json's ``model_file`` and ``model_sha256`` (--glm-local only)."""
        if self.model_file is None:
            return {}
        return {"model_file": str(self.model_file), "model_sha256": self.model_sha256}

    def _unwritten(self) -> tuple[int, str | None]:
        cache = self._engine.cache if self._engine is not None else None
        mine = (0, None) if cache is None else (cache.unwritten, cache.unwritten_reason)
        return mine[0] + self.workers_unwritten, mine[1] or self.workers_unwritten_reason

    def worker_losses(self) -> dict[str, Any]:
        """What an xdist worker could not write, for the controller (:meth:`add_losses`)."""
        lost, why = self.lost_records()
        unwritten, reason = self._unwritten()
        return {"records": [lost, why], "cache": [unwritten, reason]}

    def add_losses(self, losses: dict[str, Any]) -> None:
        """A finished xdist worker's :meth:`worker_losses`, added to this run's."""
        lost, why = losses.get("records", [0, None])
        unwritten, reason = losses.get("cache", [0, None])
        self.records_lost += int(lost)
        self.records_lost_reason = self.records_lost_reason or why
        self.workers_unwritten += int(unwritten)
        self.workers_unwritten_reason = self.workers_unwritten_reason or reason

    def losses(self) -> dict[str, Any]:
        """summary.json's ``records_lost`` (and why), ``cache_unwritten`` when any."""
        lost, why = self.lost_records()
        unwritten, _ = self._unwritten()
        return {
            "records_lost": lost,
            **({"records_lost_reason": why} if lost else {}),
            **({"cache_unwritten": unwritten} if unwritten else {}),
            **({"not_written": list(self.problems)} if self.problems else {}),
        }

    def loss_lines(self) -> list[str]:
        """Terminal warnings: what the run could not write (records, cache, files)."""
        lines = []
        lost, why = self.lost_records()
        if lost:
            lines.append(
                f"WARNING records: {lost} record{'' if lost == 1 else 's'} not written ({why});"
                " records.jsonl holds whole lines only; the verdicts above are complete"
            )
        unwritten, reason = self._unwritten()
        if unwritten:
            lines.append(
                f"WARNING cache: {unwritten} answers not cached ({reason}); asked again next run"
            )
        return lines + [f"WARNING {problem}" for problem in self.problems]

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
        if sources and all(source.get("split") for source in sources):
            # xdist workers with their parts of --glm-concurrency: the run's is the sum (a
            # worker with nothing to send reported nothing: its part stayed whole)
            reported = sum(m for m, _, _ in limits)
            totals["max_concurrency"] = whole = max(reported, self.settings.concurrency)
            totals["concurrency"] = sum(c for _, c, _ in limits) + whole - reported
        else:
            maximum = max((m for m, _, _ in limits), default=self.settings.concurrency)
            totals["max_concurrency"] = maximum
            totals["concurrency"] = min((c for _, c, _ in limits), default=maximum)
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


def _file_id(entry: dict[str, Any]) -> str:
    digest = entry.get("model_sha256")
    return f"sha256:{digest[:12]}" if isinstance(digest, str) else "of unknown hash"


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
