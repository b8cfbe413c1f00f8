"""Per-run plugin state (the plugin keeps it in ``config.stash``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from harness.engine import Engine
from harness.settings import Settings

if TYPE_CHECKING:
    from harness.local import LocalServer


@dataclass(slots=True)
class RunState:
    """Settings of the run and the lazily started request engine."""

    settings: Settings
    evals_dir: Path
    suites_dir: Path
    explicit: frozenset[Path] = frozenset()
    local: LocalServer | None = field(default=None, repr=False)
    _engine: Engine | None = field(default=None, repr=False)

    def start_local(self) -> None:
        """Start the local llama.cpp server and point the run at it (raises ConfigError)."""
        from harness.local import MODEL_ALIAS, LocalServer

        self.local = LocalServer().start()
        self.settings = replace(self.settings, base_url=self.local.url, model=MODEL_ALIAS)

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
        if self.local is not None:
            self.local.stop()
            self.local = None
