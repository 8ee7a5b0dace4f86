"""Qdrant local mode allows one client per folder (qdrant-client flocks `<folder>/.lock`): find out
before opening it, and say who holds it.

Example:
    >>> client = open_local_client("/tmp/qdrant-db")   # doctest: +SKIP
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from omnisearch.indexers.lock import LOCK_NAME, IndexBusyError, lock_state


def check_local_free(folder: str) -> None:
    """Raise IndexBusyError when another process has the Qdrant local folder open (local mode allows
    one client per folder), naming the omnisearch writer that holds it when there is one."""
    lock = os.path.join(folder, ".lock")  # the file qdrant-client's local mode flocks
    if not os.path.exists(lock):
        return
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise busy_error(folder) from None
    finally:
        os.close(fd)


def busy_error(folder: str) -> IndexBusyError:
    state, holder = lock_state(os.path.join(folder, LOCK_NAME))
    err = IndexBusyError(holder if state == "held" else None, folder)
    err.args = (
        f"{err.args[0]}: Qdrant local mode allows one client per folder; wait for it to finish, "
        "or use a Qdrant server (--qdrant-url) for concurrent access",
    )
    return err


def open_local_client(folder: str):
    """A local-mode QdrantClient on `folder` (created), or IndexBusyError naming who holds it."""
    from qdrant_client import QdrantClient

    if Path(folder).exists() and not Path(folder).is_dir():
        raise NotADirectoryError(f"--db {folder} is a file, not an index folder")
    Path(folder).mkdir(parents=True, exist_ok=True)
    check_local_free(folder)
    try:
        return QdrantClient(path=folder)
    except RuntimeError as e:  # lost a race with another client after the check
        raise busy_error(folder) from e
