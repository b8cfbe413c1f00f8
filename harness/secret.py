"""The API token: held by an object that never shows it, and scrubbed in every encoding.

A :class:`Secret` keeps the token out of ``repr``, ``str``, f-strings, pickles, tracebacks
and ``--showlocals`` (no frame of the harness ever holds the token as a plain local: the
header value is built inside :meth:`Secret.bearer` and handed straight to httpx, whose
``Headers`` repr masks ``Authorization``).

A server or proxy may echo the token back in any of the forms a JSON or HTTP layer gives
text: raw, JSON-escaped (``\\/``, ``\\u0067``, doubled backslashes of JSON inside JSON),
percent-encoded, as HTML character references, in base64 (at any alignment), or mixed
character by character. :meth:`Secret.scrub` replaces every such occurrence, and also
each run of :data:`PIECE` or more characters of the token, so a message cut short never
keeps half of it. Every live secret is registered (weakly): :func:`redact` scrubs all of
them and is what every writer of files and lines calls last (defence in depth: the client
has already scrubbed each reply before parsing it).
"""

from __future__ import annotations

import base64
import re
import threading
import weakref
from typing import Any, NoReturn

import re2

MASK = "***"
PIECE = 12  # a run of this many characters of the token counts as the token
_LOCK = threading.Lock()
_ACTIVE: weakref.WeakSet[Secret] = weakref.WeakSet()  # every live secret, for redact()


def _char_forms(char: str) -> str:
    """A regex matching ``char`` in every form an encoding layer may give it."""
    code = ord(char)
    forms = [
        re.escape(char),
        rf"\\+{re.escape(char)}",  # JSON's \/ (and \\/ of JSON inside JSON)
        rf"\\+u0*{code:x}",  # \u0067, any case (the pattern is case-insensitive)
        rf"%{code:02x}",  # percent-encoding
        rf"&#0*{code};",  # HTML decimal reference
        rf"&#x0*{code:x};",  # HTML hex reference
    ]
    if char.isalpha():
        # case-insensitive matching must not accept the other case of the raw letter
        forms[0] = f"(?-i:{re.escape(char)})"
        forms[1] = rf"\\+(?-i:{re.escape(char)})"
    return f"(?:{'|'.join(forms)})"


def _base64_cores(value: bytes) -> list[str]:
    """The parts of base64 text that depend only on ``value``, at each of the three
    alignments it can start at inside a longer encoded string."""
    cores = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + value).decode("ascii").rstrip("=")
        head = 4 if offset else 0  # the group mixing prefix bytes and value bytes
        tail = (len(encoded) - head) % 4 or 4
        core = encoded[head:-tail]
        if len(core) >= 8:
            cores.append(core)
    return cores


class Secret:
    """A credential that never shows itself. ``reveal()`` is for the HTTP header only."""

    __slots__ = ("__weakref__", "_bytes_pattern", "_pattern", "_value")

    def __init__(self, value: str) -> None:
        self._value = value
        self._pattern = _compile(value)
        self._bytes_pattern = _compile(value, raw=True)
        with _LOCK:
            _ACTIVE.add(self)

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __bool__(self) -> bool:
        return bool(self._value)

    def reveal(self) -> str:
        return self._value

    def fits_header(self) -> bool:
        """Whether the value can go in an HTTP header (printable ASCII): httpx would raise
        with the token in the exception's repr otherwise."""
        return self._value.isascii() and self._value.isprintable()

    def bearer(self) -> str:
        """The ``Authorization`` header value."""
        return f"Bearer {self._value}"

    def scrub(self, text: str) -> str:
        """``text`` with every form of the token (and any long piece of it) masked."""
        if self._pattern is None:
            return text
        try:
            return str(self._pattern.sub(MASK, text))
        except UnicodeEncodeError:  # a lone surrogate (a broken answer): RE2 takes UTF-8
            raw = text.encode("utf-8", "surrogatepass")
            return self.scrub_bytes(raw).decode("utf-8", "surrogatepass")

    def scrub_bytes(self, data: bytes) -> bytes:
        """``scrub`` for raw bytes, whatever their encoding (the token is ASCII: its forms
        are too; the pattern reads the bytes as Latin-1, so none is invalid)."""
        if self._bytes_pattern is None or not data:
            return data
        return bytes(self._bytes_pattern.sub(MASK.encode(), data))

    def forget(self) -> None:
        """Stop redacting this secret in :func:`redact` (its owner is done with it)."""
        with _LOCK:
            _ACTIVE.discard(self)


def _compile(value: str, *, raw: bool = False) -> Any:
    """The pattern of every form of ``value``: for text, or (``raw``) for bytes read as
    Latin-1."""
    if not value:
        return None
    alternatives: list[str] = []
    cores = [re.escape(core) for core in _base64_cores(value.encode("utf-8"))]
    alternatives += cores
    # the token, or any PIECE-long run of it, each character in any form
    forms = [_char_forms(char) for char in value]
    size = min(PIECE, len(forms))
    runs = sorted({"".join(forms[i : i + size]) for i in range(len(forms) - size + 1)})
    # the whole token first (longest), then its pieces
    alternatives.insert(0, "".join(forms))
    alternatives += runs
    # what follows a match and is still made of the token's characters goes with it, so
    # no tail of a cut token stays. RE2: linear time, a few ms per megabyte whatever the
    # reply holds (Python's re took 1.5 s per MB here)
    rest = "|".join(sorted({_char_forms(char) for char in value}))
    options = re2.Options()
    options.log_errors = False
    options.max_mem = 64 << 20
    pattern = f"(?i)(?:{'|'.join(alternatives)})(?:{rest})*"
    if raw:
        options.encoding = re2.Options.Encoding.LATIN1
        return re2.compile(pattern.encode("utf-8"), options=options)
    return re2.compile(pattern, options=options)


def redact(text: str) -> str:
    """``text`` with every live secret of this process masked: the last step of every
    writer (a secret no longer referenced anywhere is gone from the registry)."""
    if not _ACTIVE:
        return text
    with _LOCK:
        active = list(_ACTIVE)
    for secret in active:
        text = secret.scrub(text)
    return text


def redact_value(value: Any) -> Any:
    """:func:`redact` applied to every string in a JSON-like value (keys too)."""
    if not _ACTIVE:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value
