"""The token holder: it never shows itself, and it finds the token in every encoding."""

from __future__ import annotations

import base64
import json
import pickle
import secrets
import traceback
import urllib.parse
from pathlib import Path

import pytest

from harness.fileio import write_atomic, write_temp
from harness.gate.records import RecordWriter
from harness.secret import MASK, PIECE, Secret, redact, redact_value


def token() -> str:
    return f"glm/tok+{secrets.token_hex(12)}/{secrets.token_hex(4)}=="


def test_a_secret_never_shows_itself() -> None:
    value = token()
    secret = Secret(value)
    shown = [
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret:>80}",
        "%s" % (secret,),  # noqa: UP031
        "{}".format(secret),  # noqa: UP032
    ]
    assert all(value not in text for text in shown)
    assert repr([secret, {"k": secret}]) == "[Secret('***'), {'k': Secret('***')}]"
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(secret)
    assert secret.reveal() == value
    assert secret.bearer() == f"Bearer {value}"


def test_a_traceback_with_the_secret_in_its_locals_does_not_show_it() -> None:
    value = token()

    def fails(key: Secret) -> None:
        header = key  # noqa: F841  (a local, as --showlocals would print it)
        raise RuntimeError("boom")

    try:
        fails(Secret(value))
    except RuntimeError as exc:
        frames = traceback.TracebackException.from_exception(exc, capture_locals=True)
        inner = [frame for frame in frames.stack if frame.name == "fails"]
        text = "".join(traceback.StackSummary.from_list(inner).format())
    assert "Secret('***')" in text
    assert value not in text


def forms(value: str) -> dict[str, str]:
    header = f"Bearer {value}"
    return {
        "raw": value,
        "json": json.dumps(header)[1:-1],
        "json-slash": json.dumps(header).replace("/", "\\/")[1:-1],
        "json-unicode": "".join(f"\\u{ord(c):04x}" for c in header),
        "json-unicode-upper": "".join(f"\\u{ord(c):04X}" for c in value),
        "json-in-json": json.dumps(json.dumps(header))[1:-1],
        "percent": urllib.parse.quote(header, safe=""),
        "percent-plus": urllib.parse.quote_plus(header),
        "percent-lower": "".join(f"%{ord(c):02x}" for c in value),
        "html-decimal": "".join(f"&#{ord(c)};" for c in value),
        "html-hex": "".join(f"&#x{ord(c):x};" for c in value),
        "base64": base64.b64encode(header.encode()).decode(),
        "base64-1": base64.b64encode(b"x" + header.encode()).decode(),
        "base64-2": base64.b64encode(b"xy" + header.encode()).decode(),
        "base64url": base64.urlsafe_b64encode(value.encode()).decode(),
    }


@pytest.mark.parametrize("form", list(forms("x")))
def test_every_encoding_of_the_token_is_scrubbed(form: str) -> None:
    value = token()
    secret = Secret(value)
    echoed = forms(value)[form]
    scrubbed = secret.scrub(f"before {echoed} after")
    assert echoed not in scrubbed
    assert MASK in scrubbed
    assert scrubbed.startswith("before ")
    assert scrubbed.endswith(" after")


def test_any_long_piece_of_the_token_is_scrubbed_and_short_ones_are_not() -> None:
    value = token()
    secret = Secret(value)
    for start in range(len(value)):
        for end in range(start + PIECE, len(value) + 1):
            piece = value[start:end]
            assert piece not in secret.scrub(f"zz{piece}zz"), (start, end)
    short = value[3 : 3 + PIECE - 1]
    assert secret.scrub(f"zz{short}zz") == f"zz{short}zz"


def test_text_without_the_token_is_unchanged() -> None:
    secret = Secret(token())
    text = "The answer is 42 / 7 = 6 %41 &#65; \\u0041 glm/tok"
    assert secret.scrub(text) == text
    assert secret.scrub_bytes(b"\xff\x00abc") == b"\xff\x00abc"


def test_redact_scrubs_every_secret_of_the_process() -> None:
    one, two = token(), token()
    first, second = Secret(one), Secret(two)
    try:
        assert redact(f"{one} and {two}") == f"{MASK} and {MASK}"
        assert redact_value({"a": [one, {two: 1}], "n": 3}) == {"a": [MASK, {MASK: 1}], "n": 3}
    finally:
        first.forget()
        second.forget()
    assert redact(one) == one


def test_a_short_or_empty_token_is_handled() -> None:
    assert Secret("").scrub("abc") == "abc"
    short = Secret("abc123")
    assert short.scrub("x abc123 y") == f"x {MASK} y"


def test_every_writer_masks_live_secrets(tmp_path: Path) -> None:
    """Defence in depth: even text that reached a writer unscrubbed is masked on the way
    to the disk (atomic files: cache, baselines, summary, reports; the records)."""
    value = token()
    secret = Secret(value)
    escaped = json.dumps(f"Bearer {value}").replace("/", "\\/")
    write_atomic(tmp_path / "a.json", f'{{"said": {escaped}}}\n')
    moved = write_temp(tmp_path / "b.json", f"{value}\n")
    writer = RecordWriter(tmp_path / "records.jsonl")
    try:
        writer.write({"answer": f"key {value}", "nested": {"k": [value]}})
    finally:
        writer.close()
    texts = [p.read_text() for p in (tmp_path / "a.json", moved, tmp_path / "records.jsonl")]
    assert all(value[:PIECE] not in text for text in texts)
    assert json.loads(texts[0]) == {"said": "Bearer ***"}
    assert json.loads(texts[2])["nested"] == {"k": ["***"]}
    assert secret.reveal() == value  # still alive: it was registered all along


def test_text_with_a_lone_surrogate_or_bytes_of_any_encoding_is_scrubbed() -> None:
    """A broken answer keeps a lone surrogate (RE2 takes only UTF-8); a reply's bytes may
    not be UTF-8 at all."""
    value = token()
    secret = Secret(value)
    assert secret.scrub(f"half \ud83d emoji {value} x") == f"half \ud83d emoji {MASK} x"
    assert secret.scrub_bytes(b"\xff\xfe " + value.encode() + b" \xc3") == b"\xff\xfe *** \xc3"
    assert Secret("caf\u00e9-token-0123456789").scrub("a caf\u00e9-token-0123456789 b") == "a *** b"
