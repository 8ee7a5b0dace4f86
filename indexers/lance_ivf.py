"""The in-process IVF (ivf.py) of the LanceDB store's indexed columns: built beside the table in
`<db>/ivf/<modality>/` by `maintain` (after index runs) and `optimize`, for every column that has a
LanceDB vector index, and read memory-mapped by the store's unfiltered searches.

Kept exact as rows arrive: a layout records the table version it was read at. At any other version a
reader reads the column's live row ids once (per version): rows deleted since are dropped, and rows
written since (at most `AnnPolicy.refresh_rows`) are fetched and scanned exactly beside the layout.
When more changed (a compaction gives every row a new id), `live_column` returns None: the store
searches LanceDB's own index until `maintain` rebuilds the layout, which it does in the same run.
Filtered searches always go to LanceDB (its prefilter).

Example:
    >>> cache = IvfCache("/tmp/db")                                      # doctest: +SKIP
    >>> live = cache.live(tbl, "text", policy, rows_with_modality=1000)  # doctest: +SKIP
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

IVF_DIR = "ivf"


def column_folder(db_dir: str | Path, m: str) -> Path:
    return Path(db_dir) / IVF_DIR / m


def live_rowids(tbl, m: str) -> np.ndarray:
    """Sorted row ids of the rows that hold modality `m`."""
    t = tbl.search().where(f"`has_{m}` = true").select(["_rowid"]).with_row_id(True).limit(None).to_arrow()
    return np.sort(t["_rowid"].to_numpy().astype(np.int64))


def fetch_vectors(tbl, ids: np.ndarray, m: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(row ids, vectors) of these rows of column `m`, in the order LanceDB returns them."""
    if len(ids) == 0:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    t = tbl.take_row_ids([int(i) for i in ids]).select([f"vec_{m}"]).with_row_id().to_arrow()
    flat = t[f"vec_{m}"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return t["_rowid"].to_numpy().astype(np.int64), np.asarray(flat, np.float32).reshape(-1, dim)


@dataclass
class LiveColumn:
    """A layout made current: `dead` marks positions whose rows are gone, `new_*` the rows written
    since it was built (searched exactly)."""

    layout: IvfLayout
    dead: np.ndarray | None
    new_ids: np.ndarray
    new_vecs: np.ndarray


@dataclass
class _Loaded:
    stamp: tuple[int, int, int]  # (inode, mtime_ns, size) of ivf.json
    layout: IvfLayout
    sorted_ids: np.ndarray
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


def _consistent(lay: IvfLayout) -> bool:
    n = len(lay.rowids)
    return len(lay.offsets) == lay.nlist + 1 and int(lay.offsets[-1]) == n == len(lay.vectors)


def live_column(
    tbl, layout: IvfLayout, sorted_ids: np.ndarray, m: str, dim: int, max_new: int, rows: int
) -> LiveColumn | None:
    """The layout made current for the table as it is now (None: too much changed since it was
    built). `rows`: the rows holding `m` now (a quick check that nothing changed at the same version)."""
    empty = (np.zeros(0, np.int64), np.zeros((0, dim), np.float32))
    if tbl.version == layout.version and rows == len(layout):
        return LiveColumn(layout, None, *empty)
    live = live_rowids(tbl, m)
    dead = ~np.isin(layout.rowids, live, assume_unique=True)
    new = np.setdiff1d(live, sorted_ids, assume_unique=True)
    if len(new) > max_new or int(dead.sum()) > len(layout) // 2:
        return None
    ids, vecs = fetch_vectors(tbl, new, m, dim)
    return LiveColumn(layout, dead if dead.any() else None, ids, vecs)


class IvfCache:
    """The layouts of one index folder, loaded on first use and reloaded when rebuilt on disk."""

    def __init__(self, db_dir: str | Path) -> None:
        self.db_dir = Path(db_dir)
        self._loaded: dict[str, _Loaded] = {}

    def layout(self, m: str) -> _Loaded | None:
        head = column_folder(self.db_dir, m) / "ivf.json"
        stamp = _stamp(head)
        got = self._loaded.get(m)
        if stamp is None:
            self._loaded.pop(m, None)
            return None
        if got is None or got.stamp != stamp:
            read = load_layout(head.parent)
            # a rebuild may swap the folder while it is read: use only files of one build
            if read is None or _stamp(head) != stamp or not _consistent(read[0]):
                return None
            layout = read[0]
            prefault(layout.vectors)
            got = self._loaded[m] = _Loaded(stamp, layout, np.sort(layout.rowids))
        return got

    def live(self, tbl, m: str, key: object, *, dim: int, max_new: int, rows: int) -> LiveColumn | None:
        """The current state of column `m`'s layout at cache key `key` (one table version)."""
        got = self.layout(m)
        if got is None:
            return None
        if key not in got.live:
            got.live = {key: live_column(tbl, got.layout, got.sorted_ids, m, dim, max_new, rows)}
        return got.live[key]


def rebuild(
    db_dir: str | Path, tbl, m: str, dim: int, *, nlist: int | None = None, retrain: bool = False
) -> str:
    """Read column `m` (rows holding it) and write its layout atomically; the centroids of the
    previous layout are kept unless `retrain` or the row count moved the partition count over 2x."""
    version = int(tbl.version)
    t = tbl.search().where(f"`has_{m}` = true").select([f"vec_{m}"]).with_row_id(True).limit(None).to_arrow()
    ids = t["_rowid"].to_numpy().astype(np.int64)
    x = np.asarray(t[f"vec_{m}"].combine_chunks().flatten().to_numpy(zero_copy_only=False), np.float32)
    x = x.reshape(-1, dim)
    del t
    want = nlist or nlist_for(len(ids))
    folder = column_folder(db_dir, m)
    old = None if retrain else load_layout(folder)
    reuse = old is not None and old[0].centroids.shape[1] == dim and want / 2 <= old[0].nlist <= want * 2
    cent = np.array(old[0].centroids) if reuse else train_centroids(x, want)
    layout = build_layout(x, ids, cent, version)
    tmp, gone = folder.with_name(f".{m}.tmp"), folder.with_name(f".{m}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    save_layout(tmp, layout, {"dim": dim, "nlist": layout.nlist, "centroids": "kept" if reuse else "trained"})
    shutil.rmtree(gone, ignore_errors=True)
    if folder.exists():
        folder.rename(gone)  # readers that mapped the old files keep them until they reload
    tmp.rename(folder)
    shutil.rmtree(gone, ignore_errors=True)
    how = "kept centroids" if reuse else "trained centroids"
    return f"wrote the in-process IVF of vec_{m} ({len(ids)} rows, {layout.nlist} partitions, {how})"


def remove(db_dir: str | Path, m: str) -> bool:
    folder = column_folder(db_dir, m)
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
        return True
    return False


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
