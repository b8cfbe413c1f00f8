"""harness.local.modelid: a local model file's sha256, memoised by path, size and times."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from harness.local import modelid
from harness.local.modelid import MEMO_FILE, model_sha256


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file actually read and hashed."""
    calls: list[Path] = []
    real = modelid.file_sha256

    def counting(path: Path) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(modelid, "file_sha256", counting)
    return calls


def test_the_hash_is_the_files_sha256_and_is_memoised(tmp_path: Path, hashed: list[Path]) -> None:
    model = tmp_path / "m.gguf"
    data = os.urandom(3 * modelid.CHUNK + 5)  # several chunks
    model.write_bytes(data)
    memo = tmp_path / "cache"
    assert model_sha256(model, memo) == hashlib.sha256(data).hexdigest()
    assert model_sha256(model, memo) == hashlib.sha256(data).hexdigest()
    assert len(hashed) == 1  # the second run reads the memo
    assert str(model.resolve()) in json.loads((memo / MEMO_FILE).read_text())


def test_a_swapped_file_of_the_same_size_and_mtime_is_hashed_again(
    tmp_path: Path, hashed: list[Path]
) -> None:
    model, other = tmp_path / "m.gguf", tmp_path / "other.gguf"
    model.write_bytes(b"A" * 1000)
    other.write_bytes(b"B" * 1000)
    first = model_sha256(model, tmp_path)
    times = os.stat(model)
    os.replace(other, model)  # same path, same size
    os.utime(model, ns=(times.st_atime_ns, times.st_mtime_ns))  # same mtime, too
    assert model_sha256(model, tmp_path) == hashlib.sha256(b"B" * 1000).hexdigest() != first
    assert len(hashed) == 2


def test_an_unusable_memo_only_costs_a_rehash(tmp_path: Path, hashed: list[Path]) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    blocked = tmp_path / "memo-is-a-file"
    blocked.write_text("x")
    assert model_sha256(model, blocked) == hashlib.sha256(b"GGUF").hexdigest()
    (tmp_path / MEMO_FILE).write_text("{not json")
    assert model_sha256(model, tmp_path) == hashlib.sha256(b"GGUF").hexdigest()
    assert len(hashed) == 2
