"""The in-process IVF (ivf.py) of the LanceDB store's indexed columns: built beside the table in
`<db>/ivf/<modality>/` by `maintain` (after index runs) and `optimize`, for every column that has a
LanceDB vector index, and read memory-mapped by the store's unfiltered searches.

Kept exact as rows arrive: a layout records the table version it was read at. At any other version a
reader reads the column's live row ids once (per version): rows deleted since are dropped, and rows
written since (at most `AnnPolicy.refresh_rows`) are fetched and scanned exactly beside the layout.
When more changed (a compaction gives every row a new id), `live_column` returns None: the store
searches LanceDB's own index until `maintain` rebuilds the layout, which it does in the same run.
Filtered searches always go to LanceDB (its prefilter).

A layout also records the table's identity (a random id the store writes into the table's schema
metadata at creation), so a table deleted and made again in the same folder, whose row ids start
over, is never served the old table's vectors.

Example:
    >>> cache = IvfCache("/tmp/db")                                          # doctest: +SKIP
    >>> cache.live(tbl, "text", key, dim=384, max_new=2000, rows=n, table_id=tid)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from omnisearch.indexers.ivf import (
    IvfLayout,
    build_layout,
    load_layout,
    nlist_for,
    save_layout,
    train_centroids,
)
from omnisearch.indexers.rows import vector_matrix

IVF_DIR = "ivf"


def column_folder(db_dir: str | Path, m: str) -> Path:
    """Where the layout of modality `m` lives: `<db>/ivf/<m>/`."""
    return Path(db_dir) / IVF_DIR / m


def _scan(tbl, m: str, columns: list[str]):
    """Every row holding modality `m`: these columns and the row id (a pyarrow table)."""
    return tbl.search().where(f"`has_{m}` = true").select(columns).with_row_id(True).limit(None).to_arrow()


def live_rowids(tbl, m: str) -> np.ndarray:
    """Sorted row ids of the rows that hold modality `m`."""
    return np.sort(_scan(tbl, m, ["_rowid"])["_rowid"].to_numpy().astype(np.int64))


def fetch_vectors(tbl, ids: np.ndarray, m: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(row ids, vectors) of these rows of column `m`, in the order LanceDB returns them."""
    if len(ids) == 0:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    t = tbl.take_row_ids([int(i) for i in ids]).select([f"vec_{m}"]).with_row_id().to_arrow()
    return t["_rowid"].to_numpy().astype(np.int64), vector_matrix(t[f"vec_{m}"], dim)


@dataclass
class LiveColumn:
    """A layout made current: `dead` marks positions whose rows are gone and `sizes` counts the live
    rows per partition (both None when none is gone); `new_*` are the rows written since it was built
    (searched exactly)."""

    layout: IvfLayout
    dead: np.ndarray | None
    sizes: np.ndarray | None
    new_ids: np.ndarray
    new_vecs: np.ndarray


@dataclass
class _Loaded:
    stamp: tuple[int, int, int]  # (inode, mtime_ns, size) of ivf.json
    layout: IvfLayout
    head: dict
    sorted_ids: np.ndarray
    warm: bool = False  # its pages read through once (by the first search)
    live: dict[object, LiveColumn | None] = field(default_factory=dict)  # cache key -> live state


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def prefault(vectors: np.ndarray) -> None:
    """Touch every page of the memory-mapped vectors once, in order (the kernel reads ahead), so
    that queries never wait on the disk: at 1M x 384 a cold first touch of each probed partition
    made the slowest 1 % of queries 17x the median. The pages stay shared page cache, not copies."""
    flat = vectors.reshape(-1)
    step = max(1, 4096 // flat.itemsize)
    for lo in range(0, len(flat), 1 << 24):  # 64 MB at a time
        float(flat[lo : lo + (1 << 24) : step].sum())


def _usable(lay: IvfLayout, head: dict, dim: int, table_id: str) -> bool:
    """Files of one build, of this dimension, built from this table."""
    n = len(lay.rowids)
    whole = len(lay.offsets) == lay.nlist + 1 and int(lay.offsets[-1]) == n == len(lay.vectors)
    return whole and lay.vectors.shape[1] == dim and head.get("table", "") == table_id


def live_column(
    tbl, layout: IvfLayout, sorted_ids: np.ndarray, m: str, dim: int, max_new: int, rows: int
) -> LiveColumn | None:
    """The layout made current for the table as it is now (None: too much changed since it was
    built). `rows`: the rows holding `m` now (a quick check that nothing changed at the same version)."""
    empty = (np.zeros(0, np.int64), np.zeros((0, dim), np.float32))
    if layout.version > tbl.version:  # a version it was never at: rolled back past the build
        return None
    if tbl.version == layout.version and rows == len(layout):
        return LiveColumn(layout, None, None, *empty)
    live = live_rowids(tbl, m)
    dead = ~np.isin(layout.rowids, live, assume_unique=True)
    new = np.setdiff1d(live, sorted_ids, assume_unique=True)
    if len(new) > max_new or int(dead.sum()) > len(layout) // 2:
        return None
    ids, vecs = fetch_vectors(tbl, new, m, dim)
    if not dead.any():
        return LiveColumn(layout, None, None, ids, vecs)
    part = np.repeat(np.arange(layout.nlist), np.diff(layout.offsets))
    sizes = np.bincount(part[~dead], minlength=layout.nlist)
    return LiveColumn(layout, dead, sizes, ids, vecs)


class IvfCache:
    """The layouts of one index folder, loaded on first use and reloaded when rebuilt on disk."""

    def __init__(self, db_dir: str | Path) -> None:
        self.db_dir = Path(db_dir)
        self._loaded: dict[str, _Loaded] = {}

    def layout(self, m: str, *, dim: int, table_id: str) -> _Loaded | None:
        """Column `m`'s layout if one of this table and dimension is on disk (checked every call:
        a stat of its head file)."""
        head = column_folder(self.db_dir, m) / "ivf.json"
        stamp = _stamp(head)
        got = self._loaded.get(m)
        if stamp is None:
            self._loaded.pop(m, None)
            return None
        if got is None or got.stamp != stamp:
            read = load_layout(head.parent)
            # a rebuild may swap the folder while it is read: use only files of one build
            if read is None or _stamp(head) != stamp:
                return None
            got = self._loaded[m] = _Loaded(stamp, read[0], read[1], np.sort(read[0].rowids))
        return got if _usable(got.layout, got.head, dim, table_id) else None

    def live(
        self, tbl, m: str, key: object, *, dim: int, max_new: int, rows: int, table_id: str, warm: bool = True
    ) -> LiveColumn | None:
        """The current state of column `m`'s layout at cache key `key` (one table version); `warm`
        (a search): read its pages through first."""
        got = self.layout(m, dim=dim, table_id=table_id)
        if got is None:
            return None
        if warm and not got.warm:
            prefault(got.layout.vectors)
            got.warm = True
        if key not in got.live:
            got.live = {key: live_column(tbl, got.layout, got.sorted_ids, m, dim, max_new, rows)}
        return got.live[key]


def rebuild(
    db_dir: str | Path,
    tbl,
    m: str,
    dim: int,
    *,
    table_id: str,
    nlist: int | None = None,
    retrain: bool = False,
) -> str:
    """Read column `m` (rows holding it) and write its layout; the centroids of the previous layout
    are kept unless `retrain`, another table built it, or the row count moved the partition count
    over 2x. The new folder is written aside and swapped in by two renames: between them a reader
    finds no layout and asks LanceDB's index; one that mapped the old files keeps them."""
    version = int(tbl.version)
    t = _scan(tbl, m, [f"vec_{m}"])
    ids = t["_rowid"].to_numpy().astype(np.int64)
    x = vector_matrix(t[f"vec_{m}"], dim)
    del t
    if len(ids) == 0:
        remove(db_dir, m)
        return f"removed the in-process IVF of vec_{m} (no rows hold it)"
    want = nlist or nlist_for(len(ids))
    folder = column_folder(db_dir, m)
    old = None if retrain else load_layout(folder)
    reuse = (
        old is not None
        and old[1].get("table", "") == table_id
        and old[0].centroids.shape[1] == dim
        and want / 2 <= old[0].nlist <= want * 2
    )
    cent = np.array(old[0].centroids) if reuse else train_centroids(x, want)
    layout = build_layout(x, ids, cent, version)
    del x
    tmp, gone = folder.with_name(f".{m}.tmp"), folder.with_name(f".{m}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    how = "kept" if reuse else "trained"
    save_layout(tmp, layout, {"dim": dim, "nlist": layout.nlist, "centroids": how, "table": table_id})
    shutil.rmtree(gone, ignore_errors=True)
    if folder.exists():
        folder.rename(gone)
    tmp.rename(folder)
    shutil.rmtree(gone, ignore_errors=True)
    return (
        f"wrote the in-process IVF of vec_{m} ({len(ids)} rows, {layout.nlist} partitions, {how} centroids)"
    )


def remove(db_dir: str | Path, m: str) -> bool:
    """Delete column `m`'s layout and any half-written one a crash left; True if one was there."""
    folder = column_folder(db_dir, m)
    there = folder.exists()
    for f in (folder, folder.with_name(f".{m}.tmp"), folder.with_name(f".{m}.old")):
        shutil.rmtree(f, ignore_errors=True)
    return there


def describe(db_dir: str | Path) -> dict[str, dict]:
    """Modality -> {rows, partitions, version, centroids} of each layout on disk."""
    out = {}
    root = Path(db_dir) / IVF_DIR
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        read = None if folder.name.startswith(".") else load_layout(folder)
        if read is not None:
            lay, head = read
            out[folder.name] = {
                "rows": len(lay),
                "partitions": lay.nlist,
                "version": lay.version,
                "centroids": head.get("centroids"),
            }
    return out
