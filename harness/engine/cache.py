"""Content-addressed answer cache under ``results/.cache/``.

The key is the SHA-256 of everything that decides an answer: the endpoint's identity (its
URL, the request headers that are not credentials, such as ``azureml-model-deployment``,
and for ``--glm-local`` the model file's sha256; see :func:`endpoint_identity`), the API
path, every body field (the model included) and the sample index. Credentials
(``Authorization``, ``api-key``, cookies...) never enter the key, not even hashed. Only
good answers are kept: errors and truncated answers are fetched again next time. Entries
are written atomically; an entry that cannot be read (corrupt, from another version) is
ignored and refetched, and one that cannot be written (disk full) is counted, not fatal. An
entry keeps the whole answer and reasoning, however long (the run records cap them; the
cache replays exactly), and the tool calls, whose arguments are decoded again from their
text on the way back (key order as the model wrote it; an entry from before tool calls
loads with none).

Modes: ``use`` (read and write), ``refresh`` (write only), ``off`` (neither), ``only``
(read only; a miss is an error: offline replay).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from harness.engine.toolcalls import decode
from harness.fileio import write_atomic
from harness.models import Completion, Request, ToolCall, Usage

MODES = ("use", "refresh", "off", "only")
VERSION = 2  # 2: the key covers the request headers and the local model file's hash
# (tool calls did not need a 3: the key is the request, and a request without tools, the
# only kind a version-2 entry answers, gets no calls)
# Header names that carry credentials: never part of a key. Any name containing one of
# these words counts (``x-api-key``, ``ocp-apim-subscription-key``, ``x-auth-token``...).
CREDENTIAL_WORDS = ("authorization", "auth", "token", "key", "secret", "cookie", "password")


def is_credential(header: str) -> bool:
    name = header.strip().lower()
    return any(word in name for word in CREDENTIAL_WORDS)


def endpoint_identity(
    endpoint: str, headers: Mapping[str, str] | None = None, model_sha256: str | None = None
) -> str:
    """What identifies where an answer comes from, as one canonical string for
    :func:`cache_key`: the endpoint, the non-credential request headers (names
    lower-cased, as HTTP compares them) and the model file's hash (``--glm-local``)."""
    kept = {
        name.strip().lower(): value.strip()
        for name, value in (headers or {}).items()
        if not is_credential(name)
    }
    return json.dumps(
        {"endpoint": endpoint, "headers": kept, "model_sha256": model_sha256},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def cache_key(endpoint: str, request: Request, sample: int) -> str:
    """The entry of one sample of ``request`` asked of ``endpoint`` (an
    :func:`endpoint_identity`, or a plain URL in tests)."""
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
        self.unwritten = 0  # entries that could not be written (disk full...): refetched
        self.unwritten_reason: str | None = None

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
            fields["tool_calls"] = tuple(map(_call, fields.get("tool_calls") or ()))
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
            try:
                text = json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n"
                text.encode("utf-8")
            except UnicodeEncodeError:
                # A lone surrogate (a JSON "\ud83d" escape with no pair) has no UTF-8 form:
                # store \u escapes instead, which read back to exactly the same text.
                text = json.dumps(entry, sort_keys=True) + "\n"
            write_atomic(self.path(key), text)
        except OSError as exc:  # disk full, read-only: the answer stands, the entry is lost
            self.unwritten += 1
            self.unwritten_reason = f"{exc.strerror or exc}"


def _call(stored: Mapping[str, Any]) -> ToolCall:
    """A stored call; its arguments decoded from the text (the entry sorted their keys)."""
    call = ToolCall(**stored)
    if call.raw and call.error is None:
        arguments, _ = decode(call.raw)
        return replace(call, arguments=arguments)
    return call
