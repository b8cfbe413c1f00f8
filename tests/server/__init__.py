"""The scripted OpenAI-compatible test server (see app.py). Test code only."""

from __future__ import annotations

from tests.server.app import RecordedRequest, Rule, ScriptedServer

__all__ = ["RecordedRequest", "Rule", "ScriptedServer"]
