"""Opening an index from the CLI: the writer lock, one-line errors for a busy, misplaced or damaged
index, and messages on stderr (stdout stays for results and JSON).

Example:
    with writer_section(db, url, wait=True):
        st = open_checked("lancedb", db, None, None, wait=True)
        with store_errors(db):
            ...
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import typer

DEFAULT_DB = "omnisearch-db"  # the index folder every command uses without --db
DEBUG_ENV = "OMNISEARCH_DEBUG"  # set to 1 to see tracebacks instead of one-line errors


def err_console():
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, highlight=False)


def fail(msg: str, code: int = 2) -> None:
    """Print `error: msg` on stderr (msg as plain text, brackets kept) and exit with `code`."""
    error_line(msg)
    raise typer.Exit(code)


def error_line(msg: str) -> None:
    """`error: msg` on stderr; the one form every CLI error takes."""
    from rich.markup import escape

    err_console().print(f"[bold red]error:[/] {escape(msg)}")


def note(msg: str) -> None:
    err_console().print(msg)


def _waiting(holder) -> None:
    who = holder.describe() if holder else "another process"
    since = f", since {time.strftime('%H:%M:%S', time.localtime(holder.since))}" if holder else ""
    note(f"[yellow]waiting[/]: another omnisearch writer holds this index ({who}{since}); --no-wait to stop")


@contextmanager
def writer_section(db: str | None, url: str | None, wait: bool) -> Iterator[None]:
    """Hold the index's writer lock (a no-op for a Qdrant server); busy + no-wait exits 2."""
    from omnisearch.indexers import IndexBusyError, WriterLock, lock_path_for

    path = lock_path_for(db, url)
    if path is None:
        yield
        return
    if os.path.exists(db) and not os.path.isdir(db):
        fail(f"--db {db} is a file, not an index folder")
    lock = WriterLock(path)
    try:
        lock.acquire(wait=wait, on_wait=_waiting)
    except IndexBusyError as e:
        fail(f"index busy: held by {e.holder.describe() if e.holder else 'another process'} ({db})")
    if lock.took_over is not None:
        note(f"took over a stale lock left by {lock.took_over.describe()} (no longer running)")
    try:
        yield
    finally:
        lock.release()


def open_checked(
    kind: str,
    db: str | None,
    url: str | None,
    api_key: str | None,
    wait: bool = False,
    read_only: bool = False,
):
    """open_store with one-line errors; `wait` retries while a Qdrant local folder is in use."""
    from omnisearch.indexers import IndexBusyError, open_store

    told = False
    while True:
        try:
            return open_store(kind, db, url=url, api_key=api_key, read_only=read_only)
        except IndexBusyError as e:
            if not wait:
                fail(str(e))
            if not told:
                note(f"[yellow]waiting[/]: {e}")
                told = True
            time.sleep(0.5)
        except (NotADirectoryError, FileExistsError) as e:
            fail(f"--db {db} is a file, not an index folder" if db else str(e))
        except ValueError as e:
            fail(str(e))


@contextmanager
def store_errors(db: str | None) -> Iterator[None]:
    """Turn a damaged index's storage errors (lance raises RuntimeError / OSError with Rust paths)
    into one line with a recovery hint."""
    from omnisearch.indexers.lance_health import first_line, is_storage_error

    try:
        yield
    except (RuntimeError, OSError) as e:
        if os.environ.get(DEBUG_ENV) == "1" or not is_storage_error(e):
            raise
        fail(
            f"cannot read the index at {db}: {first_line(e)}. Run `omnisearch doctor --db {db}` to see "
            f"what is damaged and `omnisearch doctor --db {db} --fix` to restore its last readable version"
        )


def print_json(obj) -> None:
    """JSON on stdout, alone."""
    import json

    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
