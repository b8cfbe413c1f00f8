"""The identity of a local model file: its SHA-256, computed once per file version.

``--glm-local`` serves whatever GGUF ``GLM_LOCAL_MODEL`` points at under one alias, so the
alias says nothing about which weights answered. The file's hash does: it goes into the
answer cache's key and into baseline entries (``model_sha256``), so another GGUF neither
replays this one's answers nor is judged against its baselines.

Hashing streams the file (1 MiB reads; about 0.1 s for the 98 MB SmolLM2 GGUF on one
core). The digest is memoised in a small JSON file, keyed by the file's resolved path,
size, mtime_ns, ctime_ns and inode: replacing the file any way (``cp``, ``cp -p``, ``mv``,
a rebuild) changes at least one of them, so a stale digest is never reused. A memo that
cannot be read or written only costs a rehash.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from harness.fileio import write_atomic

CHUNK = 1 << 20
MEMO_FILE = "model-hashes.json"
MEMO_LIMIT = 64  # files remembered; the oldest entries go first


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of ``path``, read in chunks (never the whole file in memory)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev]


def model_sha256(path: Path, memo_dir: Path | None) -> str:
    """The hex SHA-256 of the model file, from the memo in ``memo_dir`` when the file has
    not changed since it was hashed (``memo_dir`` None: always hashed)."""
    resolved = path.resolve()
    stamp = _stamp(resolved.stat())
    memo_path = None if memo_dir is None else memo_dir / MEMO_FILE
    memo: dict[str, Any] = {}
    if memo_path is not None:
        try:
            loaded = json.loads(memo_path.read_text(encoding="utf-8"))
            memo = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            memo = {}
        known = memo.get(str(resolved))
        if isinstance(known, dict) and known.get("stamp") == stamp:
            digest = known.get("sha256")
            if isinstance(digest, str) and len(digest) == 64:
                return digest
    digest = file_sha256(resolved)
    if _stamp(resolved.stat()) != stamp:  # changed while it was read: do not remember it
        return digest
    if memo_path is not None:
        memo.pop(str(resolved), None)
        memo[str(resolved)] = {"stamp": stamp, "sha256": digest}
        kept = dict(list(memo.items())[-MEMO_LIMIT:])
        with contextlib.suppress(OSError):  # no memo: the next run hashes again
            write_atomic(memo_path, json.dumps(kept, indent=1) + "\n")
    return digest


def short(digest: str) -> str:
    """``sha256:`` and the first 12 hex digits, as the terminal and reports show it."""
    return f"sha256:{digest[:12]}"
