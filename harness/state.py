"""Per-run plugin state (the plugin keeps it in ``config.stash``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.engine import Engine
from harness.settings import Settings


@dataclass(slots=True)
class RunState:
    """Settings of the run and the lazily started request engine."""

    settings: Settings
    evals_dir: Path
    suites_dir: Path
    explicit: frozenset[Path] = frozenset()
    _engine: Engine | None = field(default=None, repr=False)

    def engine(self) -> Engine:
        if self._engine is None:
            from harness.client import Client

            settings = self.settings
            if settings.base_url is None:
                raise RuntimeError("no endpoint configured")  # the plugin checks this first
            base_url = settings.base_url

            def make_client() -> Client:
                return Client(
                    base_url,
                    api_key=settings.api_key,
                    headers=settings.headers,
                    timeout=settings.timeout,
                    max_connections=max(settings.concurrency, 1),
                )

            self._engine = Engine(make_client, settings.concurrency)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
