"""The server's fingerprint: what a run was judged on, beside the prompt and the model.

Three ``GET`` s, at once, through the engine's client (the run's endpoint, headers and
token; each reply read within the reply cap and scrubbed of the token), each within a
short timeout:

- ``/version``: vLLM serves ``{"version": "0.33.0"}``;
- ``/v1/models``: the model ids the server lists;
- ``/openapi.json``: its request schemas; kept as a short sha256 of the body.

Each value is what the server said, ``None`` when it does not serve the path (404, as
llama-server does for ``/version`` and ``/openapi.json``), or ``"unknown"`` when it could
not be read (no answer, an error status, a body that is not what vLLM sends); ``unread``
says why. A fingerprint never fails a run. :func:`changes` words the difference between a
baseline's fingerprint and a run's, leaving out what either side does not know.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.engine.client import Fetched

if TYPE_CHECKING:
    from harness.engine.runner import Engine

UNKNOWN = "unknown"
TIMEOUT = 5.0  # seconds, at most, for each GET (the run's --glm-timeout if shorter)
PATHS = {"version": "/version", "models": "/v1/models", "openapi_sha256": "/openapi.json"}
NOT_SERVED = (404, 405, 501)
MAX_MODELS = 50  # ids kept from /v1/models
MAX_TEXT = 120  # characters kept of a version or a model id
_SHOWN = 200  # characters of a value shown in a change line (baselines are untrusted)


def read(engine: Engine, *, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The fingerprint of the engine's endpoint, read now (blocks at most ``timeout``
    seconds and a little more)."""
    futures = {key: engine.fetch(path, timeout=timeout) for key, path in PATHS.items()}
    concurrent.futures.wait(futures.values(), timeout=timeout + 1.0)
    found: dict[str, Fetched] = {}
    for key, future in futures.items():
        if future.done() and not future.cancelled() and future.exception() is None:
            found[key] = future.result()
        else:
            future.cancel()
            found[key] = Fetched(0, error=f"no answer within {timeout:g}s")
    return fingerprint(found["version"], found["models"], found["openapi_sha256"])


def fingerprint(version: Fetched, models: Fetched, openapi: Fetched) -> dict[str, Any]:
    """summary.json's ``server`` from the three replies (pure)."""
    data: dict[str, Any] = {}
    unread: dict[str, str] = {}
    for key, fetched, value in (
        ("version", version, _version),
        ("models", models, _models),
        ("openapi_sha256", openapi, _digest),
    ):
        if fetched.error is None and fetched.status in NOT_SERVED:
            data[key] = None
            continue
        why = fetched.error or (None if fetched.status == 200 else f"HTTP {fetched.status}")
        found = None if why is not None else value(fetched.body)
        if found is None:
            data[key] = UNKNOWN
            unread[key] = f"GET {PATHS[key]}: {why or 'not the shape vLLM sends'}"
        else:
            data[key] = found
    return {**data, **({"unread": unread} if unread else {})}


def changes(before: Any, now: Any) -> list[str]:
    """How the server changed from a baseline's fingerprint (``before``, untrusted: it
    comes from a file in a pull request) to the run's (``now``): ``vLLM 0.16.0 -> 0.33.0``,
    ``model a -> b``, ``openapi.json changed``. A value either side does not know (missing,
    ``"unknown"``, or no fingerprint at all) is not compared."""
    if not isinstance(before, Mapping) or not isinstance(now, Mapping):
        return []
    out = []
    for key, name in (("version", "vLLM"), ("models", "model"), ("openapi_sha256", "")):
        old, new = before.get(key, UNKNOWN), now.get(key, UNKNOWN)
        if UNKNOWN in (old, new) or old == new:
            continue
        if key == "openapi_sha256":
            out.append("openapi.json changed")
        else:
            out.append(f"{name} {_shown(old, PATHS[key])} -> {_shown(new, PATHS[key])}")
    return out


def _version(body: bytes) -> str | None:
    data = _json(body)
    value = data.get("version") if isinstance(data, dict) else None
    return _clean(value) if isinstance(value, str) and _clean(value) else None


def _models(body: bytes) -> list[str] | None:
    data = _json(body)
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return None
    ids = (e.get("id") for e in entries if isinstance(e, dict))
    return sorted({_clean(i) for i in ids if isinstance(i, str) and _clean(i)})[:MAX_MODELS]


def _digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()[:16]


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _clean(text: str, limit: int = MAX_TEXT) -> str:
    """One printable line: no control characters (a hostile server's terminal escapes)."""
    return " ".join("".join(c if c.isprintable() else " " for c in text[: limit * 4]).split())[
        :limit
    ]


def _shown(value: Any, path: str) -> str:
    if value is None:
        return f"(no {path})"
    if isinstance(value, list):
        text = ", ".join(_clean(v) for v in value[:MAX_MODELS] if isinstance(v, str))
    else:
        text = _clean(str(value)) if isinstance(value, str | int | float) else "?"
    return _clean(text, _SHOWN) or "?"
