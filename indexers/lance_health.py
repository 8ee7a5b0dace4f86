"""Storage-level health of a LanceDB index: unreadable table versions and stale indexes.

A table version is readable when its manifest opens and every column of every row can be read (a
deleted data file or a garbled manifest breaks it). Repair restores the newest readable version:
unreadable newest manifests are moved into `<db>/.omnisearch-quarantine/` (nothing is deleted), and a
version whose data files are gone is replaced by a new version equal to the last readable one
(`restore`). An index (vector, scalar or full-text) is stale when rows were added after it was built;
repair updates it with `optimize()`.

Example:
    >>> storage_problems(LanceStore("db"))          # doctest: +SKIP
    ['unreadable table version 7: lance error: LanceError(IO): file size is too small']
"""

from __future__ import annotations

import os
import shutil
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omnisearch.indexers.lancedb_store import LanceStore

TABLE_DIR = "clips.lance"
QUARANTINE = ".omnisearch-quarantine"


def first_line(exc: BaseException) -> str:
    """The first line of an error, without the Rust source locations lance appends."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(", /")[0]


def is_storage_error(exc: BaseException) -> bool:
    """Whether an error comes from lance reading damaged files: lance's Python errors are RuntimeError
    / OSError whose text starts "lance error" (no dedicated exception type is exported)."""
    return isinstance(exc, (RuntimeError, OSError)) and "lance error" in str(exc).lower()[:40]


def _readable(table) -> str | None:
    """None when every column of the checked-out version reads; else the first line of the error."""
    try:
        for _ in table.search().limit(None).to_batches(4096):
            pass
    except Exception as e:  # lance raises RuntimeError / OSError / ValueError for damaged files
        return first_line(e)
    return None


def _open(store: LanceStore):
    """(table or None, error line or None); (None, None) when no table exists yet."""
    import lancedb  # here, not at the top: the CLI imports this module's error helpers on every search

    if not os.path.isdir(os.path.join(store.db_dir, TABLE_DIR)):
        return None, None
    try:
        return lancedb.connect(store.db_dir).open_table("clips"), None
    except Exception as e:
        return None, first_line(e)


def _stale_indexes(table) -> list[str]:
    out = []
    for ix in table.list_indices():
        stats = table.index_stats(ix.name)
        if stats is not None and stats.num_unindexed_rows > 0:
            out.append(f"stale index {ix.name}: {stats.num_unindexed_rows} rows added since it was built")
    return out


def storage_problems(store: LanceStore) -> list[str]:
    """One line per problem: an unreadable newest version, stale indexes."""
    table, err = _open(store)
    if err:
        return [f"unreadable table (newest manifest): {err}"]
    if table is None:
        return []
    err = _readable(table)
    if err:
        return [f"unreadable table version {table.version}: {err}"]
    return _stale_indexes(table)


def _manifests(db_dir: str) -> list[str]:
    """Manifest files, newest version first (V2 names count down from u64::MAX, V1 names count up)."""
    folder = os.path.join(db_dir, TABLE_DIR, "_versions")
    names = [n for n in os.listdir(folder) if n.endswith(".manifest")]
    nums = [int(n.split(".")[0]) for n in names]
    v2 = any(n > 1 << 62 for n in nums)
    order = sorted(zip(nums, names, strict=True), reverse=not v2)
    return [os.path.join(folder, n) for _, n in order]


def repair_storage(store: LanceStore) -> list[str]:
    """Restore the newest readable version and refresh stale indexes; returns what was done."""
    done: list[str] = []
    table, err = _open(store)
    if err:
        target = os.path.join(store.db_dir, QUARANTINE, time.strftime("%Y%m%d-%H%M%S"))
        os.makedirs(target, exist_ok=True)
        for manifest in _manifests(store.db_dir):
            shutil.move(manifest, target)
            done.append(f"moved unreadable manifest {os.path.basename(manifest)} to {target}")
            table, err = _open(store)
            if not err:
                break
        if err or table is None:
            return done + ["no readable version left: rebuild the index with `omnisearch index`"]
    if table is None:
        return done
    if _readable(table):
        newest = table.version
        for v in sorted((x["version"] for x in table.list_versions()), reverse=True):
            table.checkout(v)
            if _readable(table) is None:
                table.restore(v)
                done.append(
                    f"restored version {v} (version {newest} was unreadable) as version {table.version}"
                )
                break
        else:
            return done + ["no readable version left: rebuild the index with `omnisearch index`"]
    stale = _stale_indexes(table)
    if stale:
        table.optimize()
        done.append(f"updated {len(stale)} stale index(es) (optimize)")
    store.refresh()
    return done
