"""Where a run's state lives in pytest's config: one stash key, shared by the hooks and the
collection nodes (so neither imports the other for it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness.plugin.state import RunState

STATE: pytest.StashKey[RunState] = pytest.StashKey()
