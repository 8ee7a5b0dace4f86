"""One writer per index: an advisory lock file holding the writer's pid and host.

The lock is `fcntl.flock` on `<index folder>/.omnisearch.lock`: the kernel releases it when its
process dies, so a lock left by a killed writer is free at once and the next writer takes it over (the
file still names the dead pid: that is what `doctor` reports as a stale lock). While held, the file
holds `{"pid": N, "host": "H", "since": unix time}`; released, it is emptied. A process that already
holds the lock may take it again (nested sections count), so the CLI can take it before loading a model
and the ingest pipeline can take it again around its own writes.

Example:
    >>> with WriterLock("/tmp/db/.omnisearch.lock").hold(wait=False):   # doctest: +SKIP
    ...     store.upsert(records)
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

LOCK_NAME = ".omnisearch.lock"


class IndexBusyError(RuntimeError):
    """Another process holds the index's writer lock (raised by a non-waiting acquire)."""

    def __init__(self, holder: LockHolder | None, where: str) -> None:
        self.holder = holder
        who = holder.describe() if holder else "another process"
        super().__init__(f"index busy: held by {who} ({where})")


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or last held) a lock: pid, host name and since when (unix time)."""

    pid: int
    host: str
    since: float = 0.0

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


def read_holder(path: str) -> LockHolder | None:
    """The holder written in a lock file, or None (no file, empty or unreadable content)."""
    try:
        with open(path) as f:
            d = json.loads(f.read() or "null")
        return LockHolder(int(d["pid"]), str(d["host"]), float(d.get("since", 0.0))) if d else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def lock_state(path: str) -> tuple[str, LockHolder | None]:
    """("free" | "held" | "stale", holder): stale = the file names a writer but nobody holds the lock."""
    holder = read_holder(path)
    if holder is None:
        return "free", None
    if _held_here(path):
        return "held", holder
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return "free", None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return "held", holder
    finally:
        os.close(fd)  # closing releases a lock we may have just taken
    return "stale", holder


_HELD: dict[str, tuple[int, int]] = {}  # realpath -> (fd, depth) for locks this process holds
_GUARD = threading.Lock()


def _held_here(path: str) -> bool:
    with _GUARD:
        return os.path.realpath(path) in _HELD


class WriterLock:
    """The writer lock of one index; `hold()` is a context manager, nested holds in one process count."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.took_over: LockHolder | None = None  # set when a stale lock of a dead writer was taken

    def acquire(
        self,
        wait: bool = True,
        on_wait: Callable[[LockHolder | None], None] | None = None,
        poll: float = 0.2,
        timeout: float | None = None,
    ) -> None:
        """Take the lock; with `wait`, poll until free (calling `on_wait(holder)` once), else raise
        IndexBusyError. `timeout` seconds bound the wait (then IndexBusyError too)."""
        key = os.path.realpath(self.path)
        with _GUARD:
            if key in _HELD:
                fd, depth = _HELD[key]
                _HELD[key] = (fd, depth + 1)
                return
        os.makedirs(os.path.dirname(key) or ".", exist_ok=True)
        fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o666)
        told, t0 = False, time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = read_holder(key)
                if not wait or (timeout is not None and time.monotonic() - t0 > timeout):
                    os.close(fd)
                    raise IndexBusyError(holder, key) from None
                if not told and on_wait is not None:
                    on_wait(holder)
                told = True
                time.sleep(poll)
        previous = read_holder(key)
        if previous is not None and previous.pid != os.getpid():
            self.took_over = previous
        payload = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
        os.ftruncate(fd, 0)
        os.pwrite(fd, payload.encode(), 0)
        os.fsync(fd)
        with _GUARD:
            _HELD[key] = (fd, 1)

    def release(self) -> None:
        key = os.path.realpath(self.path)
        with _GUARD:
            fd, depth = _HELD[key]
            if depth > 1:
                _HELD[key] = (fd, depth - 1)
                return
            del _HELD[key]
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    @contextmanager
    def hold(
        self,
        wait: bool = True,
        on_wait: Callable[[LockHolder | None], None] | None = None,
        timeout: float | None = None,
    ) -> Iterator[WriterLock]:
        self.acquire(wait=wait, on_wait=on_wait, timeout=timeout)
        try:
            yield self
        finally:
            self.release()
