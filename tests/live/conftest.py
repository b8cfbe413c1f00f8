"""The live tier: a real llama.cpp server (built by scripts/install-local-model) with a real model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.local.server import INSTALL_HINT, LocalServer, find_binary, find_model


@pytest.fixture(scope="session")
def local_paths() -> tuple[Path, Path]:
    """The installed binary and model. Missing pieces fail (not skip): CI installs them."""
    binary, model = find_binary(), find_model()
    if binary is None or model is None:
        pytest.fail(f"the local model server is not installed: {INSTALL_HINT}", pytrace=False)
    return binary, model


@pytest.fixture(scope="session")
def llama(local_paths: tuple[Path, Path]) -> Iterator[LocalServer]:
    """One llama-server for the live tests."""
    with LocalServer(binary=local_paths[0], model=local_paths[1]) as server:
        yield server
