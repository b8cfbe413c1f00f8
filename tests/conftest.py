from __future__ import annotations

from collections.abc import Iterator

import pytest

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
