"""Stable, atomic file writes shared by the cache, the records and the baselines; a lock
and an all-or-nothing rename of several files (baseline updates); the pre-flight check that
a folder can be written."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.secret import redact


def dumps(data: Any) -> str:
    """Stable JSON text: sorted keys, two-space indent, trailing newline. Text that UTF-8
    cannot hold (a lone surrogate from a broken answer) makes the whole file ASCII-escaped."""
    text = json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(data, sort_keys=True, indent=2, ensure_ascii=True, default=str)
    return text + "\n"


@functools.cache
def process_umask() -> int:
    """The process's umask, read once. Linux shows it in /proc/self/status; elsewhere it is
    set and put back, which for an instant would give another thread's new files mode 0666
    (so that is done once, normally at the first write, before the engine's threads)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mkstemp(path: Path) -> tuple[int, str]:
    """A temporary file beside ``path`` with the mode a plain ``open`` would give it
    (0666 less the umask: 0644 under 022). ``mkstemp`` makes it 0600, and baselines,
    summaries and reports are meant to be read by others (committed, shared, served)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~process_umask())
    except BaseException:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    return fd, tmp


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``:
    a reader (or a concurrent writer) sees the old file or the new one, never half. Every
    live secret is masked first (:func:`harness.secret.redact`)."""
    text = redact(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _mkstemp(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the with-block,
    waiting for any other holder. The kernel drops it when the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_temp(path: Path, text: str) -> Path:
    """``text`` in a new temporary file beside ``path``, flushed to the disk; the caller
    renames it over ``path`` (:func:`replace_all`) or removes it. Secrets are masked."""
    text = redact(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _mkstemp(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


class InterruptedAfter(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived while :func:`replace_all` ran: every file was replaced."""


def replace_all(moves: Sequence[tuple[Path, Path]]) -> None:
    """Rename each ``(temp, target)`` pair: every target is replaced, or none is.

    SIGINT and SIGTERM are held back while the renames run: their Python handlers are
    swapped for one that only notes the signal, then put back, and a noted signal is
    raised again once the last file is in place (:class:`InterruptedAfter` when the old
    handler raises KeyboardInterrupt). A thread's signal mask would not do: the kernel
    hands a process-directed signal to another thread that does not block it (the
    engine's), and Python then runs the handler on the main thread anyway. A rename that
    fails puts back the targets already replaced (their old versions were kept as hard
    links). Temporary files are removed in every case. What this cannot cover is the
    process being killed outright (SIGKILL, power loss) in the moment the renames take."""
    noted: list[int] = []
    handlers = _hold_signals(noted)
    kept: list[tuple[Path, Path | None]] = []  # target, its old version (None: was new)
    done: list[tuple[Path, Path | None]] = []
    landed = False
    try:
        for _, target in moves:
            old = None
            if target.exists():
                old = target.with_name(f".{target.name}.{os.getpid()}.old")
                old.unlink(missing_ok=True)
                try:
                    os.link(target, old)  # no copy, and putting it back needs no space
                except OSError:
                    shutil.copy2(target, old)  # a file system without hard links
            kept.append((target, old))
        for (tmp, target), pair in zip(moves, kept, strict=True):
            os.replace(tmp, target)
            done.append(pair)
        landed = True
        for directory in {target.parent for _, target in moves}:
            _fsync_dir(directory)
    except BaseException:
        for target, old in reversed(done):
            with contextlib.suppress(OSError):
                if old is not None:
                    os.replace(old, target)
                else:
                    target.unlink()
        raise
    finally:
        for tmp, _ in moves:
            tmp.unlink(missing_ok=True)
        for _, old in kept:
            if old is not None:
                old.unlink(missing_ok=True)
        _release_signals(handlers, noted, landed)


_HELD = (signal.SIGINT, signal.SIGTERM)


def _hold_signals(noted: list[int]) -> dict[int, Any]:
    """Swap SIGINT's and SIGTERM's handlers for one that notes the signal (main thread
    only: elsewhere Python runs no handler, and none can be set)."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def note(signum: int, frame: object) -> None:
        noted.append(signum)

    return {sig: signal.signal(sig, note) for sig in _HELD}


def _release_signals(handlers: dict[int, Any], noted: list[int], landed: bool) -> None:
    """Put the handlers back, then raise again the first signal noted meanwhile."""
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    if not noted:
        return
    try:
        signal.raise_signal(noted[0])  # its own handler runs now (or its default action)
    except KeyboardInterrupt as exc:
        if landed:
            raise InterruptedAfter(*exc.args) from None
        raise


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def unwritable(folder: Path) -> str | None:
    """Why files cannot be created in ``folder`` (made if missing), or None when they can:
    the folder is created and a temporary file written, flushed and removed in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".glm-probe.", suffix=".tmp", dir=folder)
        try:
            os.write(fd, b"probe\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(tmp)
    except OSError as exc:
        blocker = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            return f"{blocker} is a file, not a folder"
        return exc.strerror or str(exc)
    return None
