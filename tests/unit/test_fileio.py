"""harness.fileio: the lock, the all-or-nothing rename of several files, the writable probe."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from harness import fileio
from harness.fileio import InterruptedAfter, locked, replace_all, unwritable, write_temp


def files(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


def staged(folder: Path, count: int, text: str) -> list[tuple[Path, Path]]:
    targets = [folder / f"s{n}.json" for n in range(count)]
    return [(write_temp(target, text), target) for target in targets]


def test_replace_all_lands_every_file(tmp_path: Path) -> None:
    (tmp_path / "s0.json").write_text("old")
    replace_all(staged(tmp_path, 3, "new"))
    assert files(tmp_path) == {"s0.json": "new", "s1.json": "new", "s2.json": "new"}


class ReplaceFailsAt:
    """``os`` for harness.fileio whose ``replace`` fails on the ``n``-th call."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def replace(self, src: Any, dst: Any) -> None:
        self.calls += 1
        if self.calls == self.n:
            raise OSError(errno.ENOSPC, "No space left on device")
        os.replace(src, dst)


def test_a_failed_rename_puts_back_those_already_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(2):
        (tmp_path / f"s{n}.json").write_text(f"old{n}")
    moves = staged(tmp_path, 4, "new")  # two existing files, two new ones
    monkeypatch.setattr(fileio, "os", ReplaceFailsAt(4))
    with pytest.raises(OSError, match="No space"):
        replace_all(moves)
    assert files(tmp_path) == {"s0.json": "old0", "s1.json": "old1"}  # no temp, no .old


def test_a_signal_during_the_renames_waits_until_all_landed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moves = staged(tmp_path, 5, "new")
    real = os.replace
    seen: list[Path] = []

    def replace_and_interrupt(src: Any, dst: Any) -> None:
        if not seen:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C after the first rename began
        real(src, dst)
        seen.append(Path(dst))

    monkeypatch.setattr(fileio.os, "replace", replace_and_interrupt)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(InterruptedAfter):
        replace_all(moves)
    assert len(seen) == 5
    assert set(files(tmp_path).values()) == {"new"}
    assert len(files(tmp_path)) == 5
    assert signal.getsignal(signal.SIGINT) is handler  # put back


def test_locked_excludes_another_holder(tmp_path: Path) -> None:
    lock = tmp_path / "baselines" / ".lock"
    with locked(lock):
        fd = os.open(lock, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    fd = os.open(lock, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released on leaving the block
    os.close(fd)


def test_unwritable_names_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "results").write_text("not a folder")
    assert unwritable(tmp_path / "results" / "runs" / "r1") == (
        f"{tmp_path / 'results'} is a file, not a folder"
    )
    assert unwritable(tmp_path / "ok" / "runs") is None
    assert list((tmp_path / "ok" / "runs").iterdir()) == []  # the probe file is gone


@pytest.mark.parametrize(
    ("code", "why"),
    [(errno.EROFS, "Read-only file system"), (errno.EACCES, "Permission denied")],
    ids=["read-only-mount", "no-permission"],
)
def test_unwritable_reports_a_refused_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, why: str
) -> None:
    # root ignores permissions and this machine cannot mount: refuse the probe's file
    # the way a read-only mount (or chattr +i) refuses it
    def refuse(**kwargs: Any) -> tuple[int, str]:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(fileio.tempfile, "mkstemp", refuse)
    assert unwritable(tmp_path / "results") == why


def test_the_umask_is_read_once_without_changing_it() -> None:
    before = os.umask(0o027)
    try:
        fileio.process_umask.cache_clear()
        assert fileio.process_umask() == 0o027
        os.umask(0o077)
        assert fileio.process_umask() == 0o027  # read once, for the process
        assert os.umask(0o077) == 0o077  # reading it did not change it
    finally:
        os.umask(before)
        fileio.process_umask.cache_clear()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_honour_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    before = os.umask(umask)
    fileio.process_umask.cache_clear()
    try:
        fileio.write_atomic(tmp_path / "summary.json", "{}\n")
        staged = write_temp(tmp_path / "b.json", "{}\n")
        replace_all([(staged, tmp_path / "b.json")])
    finally:
        os.umask(before)
        fileio.process_umask.cache_clear()
    assert (tmp_path / "summary.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "b.json").stat().st_mode & 0o777 == mode
