"""The exact-search snapshot of a small LanceDB index: each vector column as a memory-mapped `.npy`
matrix plus the rows' metadata as JSON, written by `maintain` / `optimize` next to the table.

Below the ANN threshold a query is an exact scan, and numpy over a memory-mapped matrix is as fast as
it gets; reading it needs neither lancedb nor pyarrow, so a cold `omnisearch search` on a personal
archive starts in a fraction of the time (importing lancedb alone costs over a second). The snapshot
records the table's version manifests; any later write (or cleanup) changes them, the snapshot no
longer matches and readers fall back to the LanceDB table. It is left out (and removed) once a column
has an ANN index or the table outgrows `max_rows`.

Example:
    >>> snap = open_snapshot("/tmp/db")            # doctest: +SKIP
    >>> snap is None or snap.rows[0]["clip_id"]    # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from omnisearch.indexers.base import EncoderRecord
from omnisearch.indexers.rows import META_FIELDS, postings, row_words
from omnisearch.types import Modality

SNAPSHOT_DIR = "exact-snapshot"
TABLE_DIR = "clips.lance"


def manifests(db_dir: str | Path) -> list[str]:
    """The table's version manifests (their names): a write adds one, a cleanup removes some."""
    folder = Path(db_dir) / TABLE_DIR / "_versions"
    return sorted(os.listdir(folder)) if folder.is_dir() else []


@dataclass
class Snapshot:
    """rows: metadata of every clip; columns: modality -> (row indices, memory-mapped unit vectors)."""

    encoder: EncoderRecord
    rows: list[dict]
    folder: Path
    manifests: tuple[str, ...] = ()  # the table versions it was taken at
    _columns: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    _words: dict[str, list[int]] | None = None

    def words(self) -> dict[str, list[int]]:
        """token -> rows holding it (the clips' own words), read on first use."""
        if self._words is None:
            self._words = json.loads((self.folder / "words.json").read_text())
        return self._words

    def current(self) -> bool:
        """Whether the table is still at the versions this snapshot was taken at."""
        return tuple(manifests(self.folder.parent)) == self.manifests

    def column(self, m: Modality) -> tuple[np.ndarray, np.ndarray]:
        name = Modality(m).value
        if name not in self._columns:
            idx = np.load(self.folder / f"rows_{name}.npy")
            mat = np.load(self.folder / f"vec_{name}.npy", mmap_mode="r")
            self._columns[name] = (idx, mat)
        return self._columns[name]


def open_snapshot(db_dir: str | Path) -> Snapshot | None:
    """The snapshot of `db_dir` if it matches the table's current version, else None."""
    folder = Path(db_dir) / SNAPSHOT_DIR
    try:
        head = json.loads((folder / "snapshot.json").read_text())
    except (OSError, ValueError):
        return None
    if head.get("manifests") != manifests(db_dir):
        return None
    rows = json.loads((folder / "rows.json").read_text())
    return Snapshot(EncoderRecord.from_dict(head["encoder"]), rows, folder, tuple(head["manifests"]))


def remove_snapshot(db_dir: str | Path) -> bool:
    folder = Path(db_dir) / SNAPSHOT_DIR
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
        return True
    return False


def write_snapshot(db_dir: str | Path, tbl, encoder: EncoderRecord, dim: int) -> int:
    """Write the snapshot of `tbl` (the LanceDB table in `db_dir`) atomically; returns its rows."""
    folder = Path(db_dir) / SNAPSHOT_DIR
    tmp = Path(db_dir) / f".{SNAPSHOT_DIR}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cols = [f"vec_{m.value}" for m in Modality] + [f"has_{m.value}" for m in Modality]
    t = tbl.search().select([*META_FIELDS, *cols]).limit(None).to_arrow()
    meta = t.select(list(META_FIELDS)).to_pylist()
    for m in Modality:
        has = np.asarray(t[f"has_{m.value}"].to_numpy(zero_copy_only=False), dtype=bool)
        flat = t[f"vec_{m.value}"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
        mat = np.asarray(flat, dtype=np.float32).reshape(-1, dim)[has]
        np.save(tmp / f"rows_{m.value}.npy", np.flatnonzero(has).astype(np.int64))
        np.save(tmp / f"vec_{m.value}.npy", np.ascontiguousarray(mat))
    (tmp / "rows.json").write_text(json.dumps(meta, ensure_ascii=False))
    (tmp / "words.json").write_text(json.dumps(postings([row_words(r) for r in meta]), ensure_ascii=False))
    head = {"encoder": encoder.to_dict(), "rows": len(meta), "manifests": manifests(db_dir)}
    (tmp / "snapshot.json").write_text(json.dumps(head))
    remove_snapshot(db_dir)
    tmp.rename(folder)
    return len(meta)
