"""Serve scripted answers in the foreground, for manual runs.

    python -m tests.server --port 8123 --rules rules.json

``rules.json`` is a list of Rule dicts (see app.py), e.g. ``[{"match": "2\\+2", "answer":
"4", "reasoning": "2 plus 2"}]``. A rule's ``faults`` is a list of Fault dicts served, in
order, to its first matches, e.g. ``"faults": [{"status": 429, "retry_after": "1"},
{"kind": "reset"}, {"kind": "stall", "stall": 5}]``. The API key to require, if any, is
read from the environment variable named by ``--api-key-env`` (never given on the command
line).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from tests.server.app import Fault, Rule, ScriptedServer


def rule_from_dict(data: dict[str, Any]) -> Rule:
    """A Rule from its JSON dict; ``faults``, if given, is a list of Fault dicts."""
    fields = dict(data)
    faults = fields.pop("faults", None)
    if faults is not None:
        fields["faults"] = [Fault(**f) for f in faults]
    return Rule(**fields)


def load_rules(text: str) -> list[Rule]:
    """Rules from a JSON list of Rule dicts."""
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError("the rules file must hold a JSON list of rule objects")
    return [rule_from_dict(r) for r in data]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--rules", type=Path, help="JSON file: a list of Rule dicts")
    parser.add_argument("--api-key-env", metavar="VAR", help="require the key in this env var")
    args = parser.parse_args(argv)
    rules = load_rules(args.rules.read_text()) if args.rules else []
    api_key = os.environ[args.api_key_env] if args.api_key_env else None
    with ScriptedServer(rules, api_key=api_key, host=args.host, port=args.port) as server:
        sys.stderr.write(f"scripted server on {server.url} ({len(rules)} rules); Ctrl-C stops\n")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
