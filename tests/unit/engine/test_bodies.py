"""Reply bodies within a size cap, before and after decompression; SSE lines."""

from __future__ import annotations

import gzip
import zlib

import pytest

from harness.engine.bodies import BadEncoding, BodyReader, LineSplitter, ReplyTooLarge

CAP = 1 << 20


def read(chunks: list[bytes], coding: str = "", cap: int = CAP) -> bytes:
    reader = BodyReader(coding, cap)
    for chunk in chunks:
        reader.collect(chunk)
    return reader.body()


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


@pytest.mark.parametrize("size", [1, 7, 4096, 1 << 20])
@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("", lambda b: b),
        ("identity", lambda b: b),
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: (lambda c: c.compress(b) + c.flush())(zlib.compressobj(wbits=-15))),
        ("gzip, gzip", lambda b: gzip.compress(gzip.compress(b))),
    ],
)
def test_bodies_are_decoded_whatever_the_chunking(coding: str, encode, size: int) -> None:  # type: ignore[no-untyped-def]
    body = b'{"answer": "' + b"abc " * 5000 + b'"}'
    assert read(split(encode(body), size), coding) == body


def test_a_gzip_bomb_stops_at_the_cap_having_inflated_little() -> None:
    bomb = gzip.compress(b"\0" * (200 << 20))
    reader = BodyReader("gzip", CAP)

    def inflate() -> None:
        for chunk in split(bomb, 65536):
            reader.collect(chunk)
        reader.body()

    said = r"larger than 1 MiB after decompression; raise --glm-max-reply-mb"
    with pytest.raises(ReplyTooLarge, match=said):
        inflate()
    assert reader.size <= CAP


def test_the_wire_is_capped_too() -> None:
    with pytest.raises(ReplyTooLarge, match="on the wire"):
        read(split(b"x" * (CAP + 1), 4096))
    assert len(read([b"x" * CAP])) == CAP  # exactly the cap is fine


@pytest.mark.parametrize(
    ("coding", "data", "said"),
    [
        ("br", b"x", "unsupported Content-Encoding 'br'"),
        ("gzip", b"not gzip at all", "corrupt gzip data"),
        ("gzip, gzip, gzip", b"", "too many Content-Encodings"),
    ],
)
def test_unknown_or_corrupt_encodings_are_errors(coding: str, data: bytes, said: str) -> None:
    with pytest.raises(BadEncoding, match=said):
        read([data], coding)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 100])
def test_sse_lines_split_on_every_line_end_whatever_the_chunking(size: int) -> None:
    stream = "data: a\r\n\r\ndata: é\n\ndata: b\r\rlast".encode()
    splitter = LineSplitter()
    lines = [line for chunk in split(stream, size) for line in splitter.feed(chunk)]
    lines += list(splitter.feed(b"", final=True))
    assert lines == ["data: a", "", "data: é", "", "data: b", "", "last"]
