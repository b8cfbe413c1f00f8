from __future__ import annotations

import os
from collections.abc import Iterator

# pytester's in-process runs forget the modules a run imported once it ends. PyYAML's C
# extension cannot be imported twice in one process (it keeps the first import's node
# classes); httpx maps httpcore's exceptions by class; and a harness module imported by one
# run but kept by another would hold classes (such as CheckSpecError) that the next run's
# modules do not recognise. So they are imported here, once, for the whole session.
import httpcore  # noqa: F401
import pytest
import yaml  # noqa: F401

from tests.server.app import ScriptedServer

# --- scripted OpenAI-compatible server (tests/server) ---------------------------------
# One real server on 127.0.0.1 for the whole session; `server` gives each test the same
# instance with its rules, recorded requests and API key reset.


@pytest.fixture(scope="session")
def scripted_server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


@pytest.fixture
def server(scripted_server: ScriptedServer) -> ScriptedServer:
    scripted_server.reset()
    return scripted_server


# --- headless Chromium (tests/browser, and the report of a real run) -------------------


@pytest.fixture(scope="session")
def chromium() -> str:
    """The headless Chromium binary; skip without one, except in CI (CI=true), which must
    have it (``make test`` runs scripts/install-browser)."""
    from harness.reports import browser

    found = browser.find_browser()
    if found is None:
        why = (
            "no headless Chromium (chromium-headless-shell or chromium on PATH, or"
            " GLM_CHROMIUM): run scripts/install-browser"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}; CI=true, so the browser tests must run")
        pytest.skip(why)
    return found
