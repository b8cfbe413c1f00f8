"""HTTP/1.1 messages as bytes, for :mod:`harness.engine.wire`: the request we write, and
the response head and chunked body we read, every byte of which is hostile.

What is bounded, and what is refused (:class:`ProtocolFailure`, which the transport
raises as ``httpx.RemoteProtocolError``):

- the status line and headers: within :data:`MAX_HEAD_BYTES` and :data:`MAX_HEAD_LINES`
  lines; a status line that is not ``HTTP/1.x NNN reason``, a folded (obs-fold) line, a
  line that is not ``name: value`` in the allowed characters;
- ``Content-Length``: digits only, at most 18; several that disagree;
- ``Transfer-Encoding``: anything but ``chunked``; with a ``Content-Length`` too, chunked
  wins and the connection is not reused (the two disagreeing is how requests get
  smuggled);
- chunked bodies: a chunk-size line past :data:`MAX_CHUNK_LINE` bytes or not hex (at most
  16 digits; extensions are ignored), chunk data not followed by CRLF, trailers past the
  head's bounds.

Line ends may be CRLF or a bare LF. Nothing here decodes the body: it stays as sent.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

__all__ = [
    "MAX_CHUNK_LINE",
    "MAX_HEAD_BYTES",
    "MAX_HEAD_LINES",
    "ChunkedDecoder",
    "Framing",
    "Head",
    "ProtocolFailure",
    "framing",
    "parse_head",
    "request_head",
]

MAX_HEAD_BYTES = 64 * 1024
MAX_HEAD_LINES = 100
MAX_CHUNK_LINE = 4096

_END = re.compile(rb"\n\r?\n")
_STATUS = re.compile(rb"HTTP/1\.([01]) ([1-9][0-9]{2})(?: ([\t\x20-\x7e\x80-\xff]*))?")
_FIELD = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):([\t\x20-\x7e\x80-\xff]*)")
_CHUNK = re.compile(rb"([0-9A-Fa-f]{1,16})[\t ]*(?:;[\t\x20-\x7e\x80-\xff]*)?")
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# every header line of a block at once (each ends in its newline); unambiguous, so linear
_BLOCK = re.compile(rb"(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*\r?\n)*")
_PAIR = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):([\t\x20-\x7e\x80-\xff]*)\r?\n")
_FRAMING_NAME_LENGTHS = frozenset({10, 14, 17})  # connection, content-length, transfer-encoding
_NO_BODY = frozenset({204, 304})
_blocks: dict[tuple[tuple[bytes, bytes], ...], tuple[bytes, bool, int | None]] = {}


class ProtocolFailure(Exception):
    """The server (or, for a request, our caller) broke HTTP/1.1; the message says how."""


class Head(NamedTuple):
    """A response's status line and headers (names as sent, values stripped)."""

    version: bytes  # b"HTTP/1.1" or b"HTTP/1.0"
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]


class Framing(NamedTuple):
    """How the body ends: ``length`` bytes, ``chunked``, at ``close``, or ``none``; and
    whether the connection may carry another request once it is read whole."""

    kind: Literal["length", "chunked", "close", "none"]
    length: int
    reusable: bool


def _lines(block: bytes) -> list[bytes]:
    lines = block.split(b"\n")
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def _fields(lines: list[bytes], what: str) -> list[tuple[bytes, bytes]]:
    fields = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            raise ProtocolFailure(f"folded (obs-fold) line in the {what}: {line[:80]!r}")
        match = _FIELD.fullmatch(line)
        if match is None:
            raise ProtocolFailure(f"malformed line in the {what}: {line[:80]!r}")
        fields.append((match[1], match[2].strip(b" \t")))
    return fields


def parse_head(buffer: bytearray, scanned: int = 0) -> Head | None:
    """The head at the start of ``buffer``, removed from it; ``None`` while it is not
    whole (``scanned``: how many bytes an earlier call already searched)."""
    end = _END.search(buffer, max(0, scanned - 2))
    if end is None:
        if len(buffer) > MAX_HEAD_BYTES:
            raise ProtocolFailure(too_big("status line and headers", MAX_HEAD_BYTES))
        return None
    if end.start() > MAX_HEAD_BYTES:
        raise ProtocolFailure(too_big("status line and headers", MAX_HEAD_BYTES))
    block = bytes(buffer[: end.start() + 1])  # each line with its newline
    del buffer[: end.end()]
    if block.count(b"\n") > MAX_HEAD_LINES + 1:
        raise ProtocolFailure(f"more than {MAX_HEAD_LINES} header lines in the response")
    first = block.find(b"\n")
    line = block[: first - 1 if block[first - 1 : first] == b"\r" else first]
    status = _STATUS.fullmatch(line)
    if status is None:
        raise ProtocolFailure(f"not an HTTP/1.x status line: {line[:80]!r}")
    version = b"HTTP/1.1" if status[1] == b"1" else b"HTTP/1.0"
    fields = block[first + 1 :]
    if _BLOCK.fullmatch(fields) is None:
        _fields(_lines(fields)[:-1], "response headers")  # says which line, and how
        raise ProtocolFailure("malformed response headers")  # (the line above raises)
    headers = [(name, value.strip(b" \t")) for name, value in _PAIR.findall(fields)]
    return Head(version, int(status[2]), status[3] or b"", headers)


def too_big(what: str, limit: int) -> str:
    return f"the response's {what} exceed {limit // 1024} KiB"


def framing(method: str, head: Head) -> Framing:
    """How ``head``'s body is framed (RFC 9112 section 6.3)."""
    length: int | None = None
    codings: list[bytes] = []
    close = head.version != b"HTTP/1.1"
    for name, value in head.headers:
        if len(name) not in _FRAMING_NAME_LENGTHS:
            continue
        low = name.lower()
        if low == b"content-length":
            for item in value.split(b","):
                item = item.strip(b" \t")
                if not item.isdigit() or len(item) > 18:
                    raise ProtocolFailure(f"bad Content-Length: {value[:40]!r}")
                if length is not None and int(item) != length:
                    raise ProtocolFailure("conflicting Content-Length headers")
                length = int(item)
        elif low == b"transfer-encoding":
            codings += (c.strip(b" \t").lower() for c in value.split(b","))
        elif low == b"connection":
            close = close or b"close" in (c.strip(b" \t").lower() for c in value.split(b","))
    if method == "HEAD" or head.status in _NO_BODY or head.status < 200:
        return Framing("none", 0, not close)
    if codings:
        if codings != [b"chunked"]:
            raise ProtocolFailure(f"unsupported Transfer-Encoding: {b', '.join(codings)[:40]!r}")
        return Framing("chunked", 0, not close and length is None)
    if length is not None:
        return Framing("length", length, not close)
    return Framing("close", 0, False)


class ChunkedDecoder:
    """Takes a chunked body's data out of a buffer as it fills (:meth:`feed`)."""

    def __init__(self) -> None:
        self._state: Literal["size", "data", "crlf", "trailers"] = "size"
        self._left = 0
        self._trailer_bytes = 0
        self._trailer_lines = 0

    def feed(self, buffer: bytearray) -> tuple[bytes, bool]:
        """The data that ``buffer`` holds now (removed from it), and whether the body ended
        (the last chunk and its trailers are read)."""
        out: list[bytes] = []
        while buffer:
            state = self._state
            if state == "data":
                n = min(len(buffer), self._left)
                out.append(bytes(buffer[:n]))
                del buffer[:n]
                self._left -= n
                if not self._left:
                    self._state = "crlf"
                continue
            if state == "crlf":
                if buffer[:1] == b"\n" or buffer[:2] == b"\r\n":
                    del buffer[: 1 if buffer[:1] == b"\n" else 2]
                    self._state = "size"
                    continue
                if buffer != b"\r":
                    raise ProtocolFailure("chunk data not followed by CRLF")
                break
            line = self._line(buffer)
            if line is None:
                break
            if state == "size":
                match = _CHUNK.fullmatch(line)
                if match is None:
                    raise ProtocolFailure(f"bad chunk size line: {line[:40]!r}")
                self._left = int(match[1], 16)
                self._state = "data" if self._left else "trailers"
            elif not line:
                return b"".join(out), True
            else:
                _fields([line], "trailers")
        return b"".join(out), False

    def _line(self, buffer: bytearray) -> bytes | None:
        """One line off the buffer, within the bounds: a size line of
        :data:`MAX_CHUNK_LINE` bytes before its LF; trailers of :data:`MAX_HEAD_BYTES`
        in all, line ends included."""
        if self._state == "size":
            what, bound, room = "chunk size line", MAX_CHUNK_LINE, MAX_CHUNK_LINE + 1
        else:
            what, bound = "trailers", MAX_HEAD_BYTES
            room = bound - self._trailer_bytes  # the line's LF must lie within it
        end = buffer.find(b"\n", 0, room)
        if end < 0:
            if len(buffer) >= room:
                raise ProtocolFailure(f"the {what} exceed {bound} bytes")
            return None
        line = bytes(buffer[: end - 1 if end and buffer[end - 1] == 13 else end])
        del buffer[: end + 1]
        if self._state == "trailers":
            self._trailer_bytes += end + 1
            self._trailer_lines += 1
            if self._trailer_lines > MAX_HEAD_LINES:
                raise ProtocolFailure(f"more than {MAX_HEAD_LINES} trailer lines")
        return line


def request_head(
    method: str, target: bytes, host: bytes, headers: list[tuple[bytes, bytes]], body_length: int
) -> bytes:
    """The request line and headers, ending in the blank line; ``Host`` and
    ``Content-Length`` added when ``headers`` lack them. Refuses a name that is not a
    token and a value with CR, LF or NUL (a header must not smuggle another)."""
    key = tuple(headers)
    known = _blocks.get(key)
    if known is None:
        known = _header_block(headers)
        if len(_blocks) < 64:  # a client sends a few sets of headers, again and again
            _blocks[key] = known
    block, host_set, declared = known
    if declared is not None and declared != body_length:
        # written as given, the server would read the body (or our next request) by it
        raise ProtocolFailure(
            f"a request header Content-Length: {declared} disagrees with the body's "
            f"{body_length} bytes"
        )
    line = b"%s %s HTTP/1.1\r\n" % (method.encode("ascii"), target)
    if line.count(b"\n") != 1 or line.count(b"\r") != 1 or b"\0" in line:
        raise ProtocolFailure("the request line holds CR, LF or NUL")
    parts = [line]
    if not host_set:
        parts += (b"Host: ", host, b"\r\n")  # first, as RFC 9110 advises
    parts.append(block)
    if body_length and declared is None:
        parts.append(b"Content-Length: %d\r\n" % body_length)
    parts.append(b"\r\n")
    return b"".join(parts)


def _header_block(headers: list[tuple[bytes, bytes]]) -> tuple[bytes, bool, int | None]:
    """The headers' lines, whether they hold ``Host``, and the ``Content-Length`` they
    declare (one, digits only)."""
    parts: list[bytes] = []
    host_set = False
    declared: int | None = None
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise ProtocolFailure(f"request header name {name[:40]!r} is not a token")
        if b"\r" in value or b"\n" in value or b"\0" in value:
            raise ProtocolFailure("a request header holds CR, LF or NUL")
        low = name.lower()
        if low == b"content-length":
            if declared is not None or not value.strip(b" \t").isdigit():
                raise ProtocolFailure("a request header Content-Length that is not one number")
            declared = int(value)
        elif low == b"host":
            host_set = True
        elif low == b"transfer-encoding":
            raise ProtocolFailure("a request body of unknown length (chunked) is not supported")
        parts += (name, b": ", value, b"\r\n")
    return b"".join(parts), host_set, declared
