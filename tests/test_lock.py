"""The writer lock: one holder at a time across processes, pid + host in the file, waiting, a stale
lock of a killed holder taken over, nested holds within one process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from omnisearch.indexers.lock import IndexBusyError, WriterLock, lock_state, read_holder

HOLD = """
import sys, time
from omnisearch.indexers.lock import WriterLock
lock = WriterLock(sys.argv[1]); lock.acquire(wait=False)
print("held", flush=True); time.sleep(float(sys.argv[2])); lock.release()
"""


def _holder(path: Path, seconds: float) -> subprocess.Popen:
    p = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert p.stdout.readline().strip() == "held"
    return p


def test_lock_file_names_the_holder_and_is_emptied_on_release(tmp_path: Path) -> None:
    path = tmp_path / "db" / ".omnisearch.lock"
    with WriterLock(str(path)).hold(wait=False):
        holder = read_holder(str(path))
        assert holder is not None and (holder.pid, holder.host) == (os.getpid(), socket.gethostname())
        assert lock_state(str(path))[0] == "held"
    assert path.read_text() == "" and lock_state(str(path)) == ("free", None)


def test_second_process_busy_without_wait_and_served_after_waiting(tmp_path: Path) -> None:
    path = tmp_path / ".omnisearch.lock"
    p = _holder(path, 1.5)
    with pytest.raises(IndexBusyError) as e:
        WriterLock(str(path)).acquire(wait=False)
    assert f"pid {p.pid} on {socket.gethostname()}" in str(e.value)
    waited = []
    t0 = time.monotonic()
    with WriterLock(str(path)).hold(wait=True, on_wait=waited.append):
        assert time.monotonic() - t0 > 0.5
    assert [h.pid for h in waited] == [p.pid]  # told once, with the holder
    p.wait(10)


def test_stale_lock_of_a_killed_holder_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / ".omnisearch.lock"
    p = _holder(path, 60)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(10)
    state, holder = lock_state(str(path))
    assert state == "stale" and holder.pid == p.pid
    lock = WriterLock(str(path))
    with lock.hold(wait=False):
        assert lock.took_over is not None and lock.took_over.pid == p.pid
        assert lock_state(str(path))[0] == "held"
    assert lock_state(str(path)) == ("free", None)  # the take-over cleared the dead holder's name


def test_nested_holds_in_one_process(tmp_path: Path) -> None:
    path = str(tmp_path / ".omnisearch.lock")
    outer = WriterLock(path)
    with outer.hold(wait=False):
        with WriterLock(path).hold(wait=False):
            assert lock_state(path)[0] == "held"
        assert lock_state(path)[0] == "held"  # the inner release keeps the outer hold
    assert lock_state(path)[0] == "free"
