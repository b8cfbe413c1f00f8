"""Content-addressed answer cache under ``results/.cache/``.

The key is the SHA-256 of the whole request: endpoint, API path, every body field (the
model included) and the sample index. Only good answers are kept: errors and truncated
answers are fetched again next time. Entries are written atomically; an entry that cannot
be read (corrupt, from another version) is ignored and refetched. An entry keeps the whole
answer and reasoning, however long (the run records cap them; the cache replays exactly).

Modes: ``use`` (read and write), ``refresh`` (write only), ``off`` (neither), ``only``
(read only; a miss is an error: offline replay).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from harness.fileio import write_atomic
from harness.models import Completion, Request, Usage

MODES = ("use", "refresh", "off", "only")
VERSION = 1


def cache_key(endpoint: str, request: Request, sample: int) -> str:
    canonical = json.dumps(
        {"endpoint": endpoint, "path": request.path, "body": request.body, "sample": sample},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Cache:
    def __init__(self, root: Path, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"cache mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.root = root
        self.mode = mode

    @property
    def reads(self) -> bool:
        return self.mode in ("use", "only")

    @property
    def writes(self) -> bool:
        return self.mode in ("use", "refresh")

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Completion | None:
        """The cached completion, marked ``cached``; None on a miss or an unreadable entry."""
        if not self.reads:
            return None
        try:
            data = json.loads(self.path(key).read_text(encoding="utf-8"))
            if data.get("version") != VERSION:
                return None
            fields: dict[str, Any] = dict(data["completion"])
            fields["usage"] = Usage(**fields["usage"])
            return replace(Completion(**fields), cached=True)
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None

    def put(self, key: str, request: Request, completion: Completion) -> None:
        if not self.writes or completion.error is not None or completion.truncated:
            return
        entry = {
            "version": VERSION,
            "request": {"path": request.path, "body": request.body},
            "completion": asdict(replace(completion, cached=False)),
        }
        try:
            text = json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n"
            write_atomic(self.path(key), text)
        except UnicodeEncodeError:
            # A lone surrogate (a JSON "\ud83d" escape with no pair) has no UTF-8 form:
            # store \u escapes instead, which read back to exactly the same text.
            write_atomic(self.path(key), json.dumps(entry, sort_keys=True) + "\n")
