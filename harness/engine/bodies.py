"""Reply bodies read within a size cap, before and after decompression. Pure.

A hostile or broken server can send a body that never ends, or a small gzip body that
inflates a thousandfold. :class:`BodyReader` takes the raw bytes as they arrive, undoes the
``Content-Encoding`` itself (gzip, deflate, identity; zlib's ``max_length`` keeps each step
within the room left), and raises :class:`ReplyTooLarge` the moment either the bytes on the
wire or the decoded bytes pass the cap. :class:`LineSplitter` turns decoded bytes into the
lines of a server-sent event stream (``\\n``, ``\\r\\n`` or ``\\r``), UTF-8 decoded
incrementally.
"""

from __future__ import annotations

import codecs
import re
import zlib
from collections.abc import Iterator
from typing import Any

MIB = 1024 * 1024
_LINE_END = re.compile(r"\r\n|\r|\n")


class ReplyTooLarge(Exception):
    """The reply passed the cap; the message names the cap and the option that raises it."""

    def __init__(self, cap: int, where: str) -> None:
        mib = cap / MIB
        super().__init__(
            f"reply larger than {mib:g} MiB {where}; "
            "raise --glm-max-reply-mb (ini glm_max_reply_mb) to accept it"
        )


class BadEncoding(Exception):
    """The body's ``Content-Encoding`` is unknown or its compressed data is corrupt."""


class _Inflater:
    """One ``Content-Encoding`` step: gzip or deflate (zlib-wrapped, or raw as some
    servers send it: the first two bytes tell which)."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._zlib: Any = None if coding == "deflate" else zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._head = b""  # deflate: bytes held until the header can be read

    def feed(self, data: bytes, room: int) -> bytes:
        """Inflate ``data``, returning at most ``room + 1`` bytes (one more says "too
        big"); what is not inflated then is never needed."""
        if self._zlib is None:
            self._head += data
            if len(self._head) < 2:
                return b""
            data, self._head = self._head, b""
            wrapped = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        try:
            return bytes(self._zlib.decompress(data, room + 1))
        except zlib.error:
            raise BadEncoding(f"corrupt {self.coding} data") from None

    def flush(self, room: int) -> bytes:
        if self._zlib is None:  # fewer than two bytes in all
            if self._head:
                raise BadEncoding(f"corrupt {self.coding} data")
            return b""
        try:
            return bytes(self._zlib.flush(room + 1)) if room >= 0 else b""
        except zlib.error:
            raise BadEncoding(f"corrupt {self.coding} data") from None


class BodyReader:
    """Collects a body within ``cap`` bytes, on the wire and decoded."""

    def __init__(self, content_encoding: str, cap: int) -> None:
        self.cap = cap
        self.raw = 0
        self.size = 0
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        unknown = [c for c in codings if c not in ("gzip", "x-gzip", "deflate")]
        if unknown:
            raise BadEncoding(f"unsupported Content-Encoding {', '.join(unknown)!r}")
        if len(codings) > 2:
            raise BadEncoding(f"too many Content-Encodings ({len(codings)})")
        # applied in the order listed: undone in reverse
        self._steps = [_Inflater("gzip" if c == "x-gzip" else c) for c in reversed(codings)]
        self._parts: list[bytes] = []

    def feed(self, chunk: bytes) -> bytes:
        """The decoded bytes ``chunk`` (raw, as received) gives; raises ReplyTooLarge."""
        self.raw += len(chunk)
        if self.raw > self.cap:
            raise ReplyTooLarge(self.cap, "on the wire")
        data = chunk
        for step in self._steps:
            data = step.feed(data, self.cap - self.size)
            self._check(len(data))
        self.size += len(data)
        return data

    def finish(self) -> bytes:
        """The decoded bytes still held by the decompressors."""
        data = b""
        for step in self._steps:
            data = step.feed(data, self.cap - self.size) + step.flush(self.cap - self.size)
            self._check(len(data))
        self.size += len(data)
        return data

    def _check(self, produced: int) -> None:
        if self.size + produced > self.cap:
            raise ReplyTooLarge(self.cap, "after decompression")

    def collect(self, chunk: bytes) -> None:
        """``feed`` and keep the decoded bytes (for :meth:`body`)."""
        data = self.feed(chunk)
        if data:
            self._parts.append(data)

    def body(self) -> bytes:
        """Everything collected, with what the decompressors still held."""
        tail = self.finish()
        return b"".join([*self._parts, tail])


class LineSplitter:
    """Decoded bytes -> the text lines of a server-sent event stream."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""

    def feed(self, data: bytes, *, final: bool = False) -> Iterator[str]:
        text = self._pending + self._decoder.decode(data, final=final)
        hold = ""
        if not final and text.endswith("\r"):
            text, hold = text[:-1], "\r"  # maybe the first half of "\r\n"
        parts = _LINE_END.split(text)
        self._pending = parts.pop() + hold
        if final and self._pending:
            parts.append(self._pending)
            self._pending = ""
        yield from parts
