"""A read-only store over the exact-search snapshot of a small LanceDB index (see snapshot.py): what
a cold `omnisearch search` opens when the snapshot matches the table, so it imports no lancedb.

Same answers as `LanceStore` on the same table: cosine scores by one matrix product over the unit
vectors, filters with `Filter.matches` (the reference semantics), the full-text list by the token
match `LanceStore` uses below its full-text threshold. Writes raise.

Example:
    >>> store = SnapshotStore(open_snapshot("/tmp/db"))           # doctest: +SKIP
    >>> store.search(Modality.TEXT, query_vec, k=10)[0].score      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import numpy as np

from omnisearch.indexers.base import Filter, StoreHit, VectorStore
from omnisearch.indexers.ivf import top_k
from omnisearch.indexers.rows import match_counts
from omnisearch.indexers.snapshot import Snapshot
from omnisearch.indexers.spec_file import read_spec
from omnisearch.spec import EncoderRecord, IndexSpec, check_encoder
from omnisearch.types import ClipRecord, Modality


class ReadOnlyStoreError(RuntimeError):
    """A write was asked of a read-only snapshot."""


class SnapshotStore(VectorStore):
    """Exact search over a `Snapshot`; writes raise ReadOnlyStoreError."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self._ids = {r["clip_id"]: i for i, r in enumerate(snap.rows)}

    def encoder(self) -> EncoderRecord | None:
        return self.snap.encoder

    def ensure_encoder(self, record: EncoderRecord) -> None:
        check_encoder(self.snap.encoder, record)

    def spec(self) -> IndexSpec | None:
        return read_spec(self.snap.folder.parent)

    def save_spec(self, spec: IndexSpec) -> None:
        raise ReadOnlyStoreError("the exact-search snapshot is read-only: open the LanceDB store to write")

    def upsert(self, records: list[ClipRecord]) -> None:
        raise ReadOnlyStoreError("the exact-search snapshot is read-only: open the LanceDB store to write")

    def delete_paths(self, paths: list[str]) -> int:
        raise ReadOnlyStoreError("the exact-search snapshot is read-only: open the LanceDB store to write")

    def replace_file(self, path: str, records: list[ClipRecord]) -> None:
        raise ReadOnlyStoreError("the exact-search snapshot is read-only: open the LanceDB store to write")

    def clip_rows(self, clip_ids: list[str]) -> dict[str, dict]:
        found = (self._ids.get(c) for c in clip_ids)
        return {self.snap.rows[i]["clip_id"]: dict(self.snap.rows[i]) for i in found if i is not None}

    def stale(self) -> bool:
        return not self.snap.current()

    def scan(self, with_vectors: bool = False) -> Iterator[dict]:
        cols = {m: self.snap.column(m) for m in Modality} if with_vectors else {}
        pos = {m: {int(r): j for j, r in enumerate(idx)} for m, (idx, _) in cols.items()}
        for i, r in enumerate(self.snap.rows):
            row = dict(r)
            if with_vectors:
                row["vectors"] = {
                    m: np.asarray(mat[pos[m][i]], dtype=np.float32)
                    for m, (_, mat) in cols.items()
                    if i in pos[m]
                }
            yield row

    def files(self) -> dict[str, str]:
        return {r["path"]: r["file_hash"] for r in self.snap.rows}

    def count(self, flt: Filter | None = None) -> int:
        return len(self.rows(flt))

    def rows(self, flt: Filter | None = None) -> list[dict]:
        out = [dict(r) for r in self.snap.rows if flt is None or flt.is_empty() or flt.matches(r)]
        out.sort(key=lambda r: (r["path"], r["start"], r["clip_id"]))
        return out

    def search(
        self, modality: Modality, vector: np.ndarray, k: int, flt: Filter | None = None
    ) -> list[StoreHit]:
        idx, mat = self.snap.column(modality)
        if k <= 0 or len(idx) == 0:
            return []
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(q))
        sims = mat @ (q / norm if norm > 0 else q)
        if flt is not None and not flt.is_empty():
            keep = np.array([flt.matches(self.snap.rows[i]) for i in idx], dtype=bool)
            sims = np.where(keep, sims, -np.inf)
            k = min(k, int(keep.sum()))
            if k == 0:
                return []
        top = top_k(sims, k)
        return [
            StoreHit(row=dict(self.snap.rows[idx[j]]), score=float(sims[j]), vector=np.asarray(mat[j]))
            for j in top
        ]

    def text_search(self, text: str, column: Modality, k: int, flt: Filter | None = None) -> list[StoreHit]:
        idx, mat = self.snap.column(column)
        pos = {int(r): j for j, r in enumerate(idx)}
        counts = match_counts(text, self.snap.words())
        keep = [
            i
            for i in counts
            if i in pos and (flt is None or flt.is_empty() or flt.matches(self.snap.rows[i]))
        ]
        top = sorted(keep, key=lambda i: (-counts[i], i))[: max(k, 0)]
        return [
            StoreHit(row=dict(self.snap.rows[i]), score=float(counts[i]), vector=np.asarray(mat[pos[i]]))
            for i in top
        ]

    def vectors(self, clip_ids: list[str], modality: Modality) -> dict[str, np.ndarray]:
        idx, mat = self.snap.column(modality)
        pos = {int(r): j for j, r in enumerate(idx)}
        out = {}
        for cid in clip_ids:
            i = self._ids.get(cid)
            if i is not None and i in pos:
                out[cid] = np.asarray(mat[pos[i]], dtype=np.float32)
        return out

    def maintain(self) -> list[str]:
        return []

    def optimize(self, keep: timedelta = timedelta(0), rebuild: bool = False) -> list[str]:
        raise ReadOnlyStoreError("optimize needs the LanceDB store, not its read-only snapshot")

    def stats(self) -> dict:
        return {"rows": len(self.snap.rows), "snapshot": str(self.snap.folder)}
