"""The search side of the LanceDB store (a mixin of `LanceStore`): exact search from a cached matrix
below the ANN threshold, indexed search with explicit settings above it, native full-text search over
the clip's words, and index upkeep (`maintain`, `optimize`, `stats`).

Exact search: the first unfiltered query of a column reads its vectors (rows that have the modality)
and metadata once into memory (until the next write through this store) and answers by one matrix
product, as fast as numpy brute force; a filtered query runs LanceDB's prefiltered flat scan
instead. Indexed search: an unfiltered query scans the column's in-process IVF (lance_ivf.py,
written beside the table by `maintain` / `optimize`), exact cosines over its `nprobes` nearest
partitions; a filtered one, or one whose IVF is missing or too far behind the table, asks LanceDB's
index with `nprobes`, `ef` and `refine_factor` from the `AnnPolicy`; the `has_<modality>` prefilter
is skipped when every row has the modality.

Example:
    >>> store = LanceStore("/tmp/db")                                   # doctest: +SKIP
    >>> store.text_search("warehouse budget", Modality.FUSED, k=20)     # doctest: +SKIP
    >>> store.optimize(keep=timedelta(0))                               # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np

from omnisearch.indexers import ann, lance_ivf, snapshot
from omnisearch.indexers.base import Filter, StoreHit
from omnisearch.indexers.ivf import search_layout, top_k
from omnisearch.indexers.rows import (
    META_FIELDS,
    WORD_FIELDS,
    match_counts,
    postings,
    vector_matrix,
    words_matched,
)
from omnisearch.types import Modality


@dataclass
class _Exact:
    """One column held in memory: unit vectors (n, d) and the metadata of the same rows."""

    version: tuple[int, int]  # the store's write generation and the table version it was read at
    matrix: np.ndarray
    meta: Any  # pyarrow.Table of META_FIELDS, row i <-> matrix row i
    tokens: dict[str, list[int]] | None = None  # token -> rows holding it, made on the first text scan


@dataclass
class _RowMeta:
    """Every row's metadata held in memory for the indexed path, looked up by LanceDB row id: an
    indexed query then reads only row ids and vectors (reading a dozen metadata columns for 100 random
    rows cost more than the index search itself). A row id is the row's address (fragment, offset):
    fragments are never rewritten in place nor their ids reused, so a remembered row stays right for
    the life of the table; rows written later are added as queries meet them (`extra`)."""

    table: object  # the opened table it was read from
    rowids: np.ndarray  # sorted
    meta: Any  # pyarrow.Table of META_FIELDS, row i <-> rowids[i]
    extra: dict[int, dict] = field(default_factory=dict)  # rows met after the read

    def lookup(self, ids: np.ndarray) -> list[dict | None]:
        """The rows of these row ids, in order; None for an id not known (yet)."""
        if len(ids) == 0:
            return []
        ids = np.asarray(ids, dtype=self.rowids.dtype)  # one dtype: else numpy casts all of rowids
        known = np.zeros(len(ids), dtype=bool)
        pos = np.zeros(len(ids), dtype=np.int64)
        if len(self.rowids):
            pos = np.minimum(np.searchsorted(self.rowids, ids), len(self.rowids) - 1)
            known = self.rowids[pos] == ids
        found = iter(self.meta.take(pos[known]).to_pylist() if known.any() else [])
        return [next(found) if k else self.extra.get(int(i)) for i, k in zip(ids, known, strict=True)]


def _by_rowid(t) -> tuple[np.ndarray, Any]:
    """(sorted row ids, the metadata rows in that order) of a table read with its `_rowid`."""
    ids = t["_rowid"].to_numpy()
    order = np.argsort(ids, kind="stable")
    return ids[order], t.drop_columns(["_rowid"]).take(order).combine_chunks()


class LanceSearch:
    """Search paths and index upkeep for `LanceStore` (which provides `_tbl`, `_dim`, `where`)."""

    policy: ann.AnnPolicy
    db_dir: str
    _tbl: Any

    def _init_search(self, policy: ann.AnnPolicy | None) -> None:
        self.policy = policy or ann.AnnPolicy()
        self._exact: dict[str, _Exact] = {}
        self._row_meta: _RowMeta | None = None
        self._facts: tuple[tuple[int, int], dict[str, Any]] | None = None  # (cache key, facts)
        self._gen = 0  # bumped by every write through this store: the caches are keyed by it
        self._ivf = lance_ivf.IvfCache(self.db_dir)

    def _stale(self) -> None:
        """Forget the cached matrices and table facts (after a write through this store)."""
        self._gen += 1

    def _cache_key(self) -> tuple[int, int]:
        """(write generation, table version): the table checks for newer versions on every read
        (read_consistency_interval=0), so another process's commit also invalidates the caches."""
        return self._gen, self._tbl.version

    def _table_facts(self) -> dict[str, Any]:
        """Indexed vector columns and per-modality row counts, cached per table version."""
        version = self._cache_key()
        if self._facts is None or self._facts[0] != version:
            facts = {
                "key": version,
                "indexed": set(ann.vector_indexes(self._tbl)),
                "rows": self._tbl.count_rows(),
            }
            for m in Modality:
                facts[m.value] = self._tbl.count_rows(f"`has_{m.value}` = true")
            self._facts = (version, facts)
        return self._facts[1]

    def _exact_column(self, m: str) -> _Exact:
        version = self._cache_key()
        hit = self._exact.get(m)
        if hit is None or hit.version != version:
            t = (
                self._tbl.search()
                .where(f"`has_{m}` = true")
                .select([*META_FIELDS, f"vec_{m}"])
                .limit(None)
                .to_arrow()
            )
            meta = t.drop_columns([f"vec_{m}"]).combine_chunks()
            hit = _Exact(version, vector_matrix(t[f"vec_{m}"], self._dim()), meta)
            self._exact[m] = hit
        return hit

    def _indexed_rows(self, ids: np.ndarray) -> list[dict] | None:
        """The metadata of these row ids from memory: read on first use and again when most of a
        query's rows are unknown (a compaction moved them); a few rows written since are fetched by
        id and remembered. None when one is not in the table (the caller then reads the fields)."""
        rm = self._row_meta
        rows = rm.lookup(ids) if rm is not None and rm.table is self._tbl else None
        if rows is None or sum(r is None for r in rows) > len(ids) // 2:
            t = self._tbl.search().select(list(META_FIELDS)).with_row_id(True).limit(None).to_arrow()
            rm = self._row_meta = _RowMeta(self._tbl, *_by_rowid(t))
            rows = rm.lookup(ids)
        missing = [int(i) for i, r in zip(ids, rows, strict=True) if r is None]
        if missing:
            t = self._tbl.take_row_ids(missing).select(list(META_FIELDS)).with_row_id().to_arrow()
            for r in t.to_pylist():
                rm.extra[int(r.pop("_rowid"))] = r
            rows = rm.lookup(ids)
        return None if any(r is None for r in rows) else rows

    def _search_exact(self, m: str, q: np.ndarray, k: int) -> list[StoreHit]:
        col = self._exact_column(m)
        n = col.matrix.shape[0]
        if n == 0:
            return []
        sims = col.matrix @ q
        top = top_k(sims, k)
        rows = col.meta.take(top).to_pylist()
        return [
            StoreHit(row=r, score=float(sims[i]), vector=col.matrix[i])
            for r, i in zip(rows, top, strict=True)
        ]

    def _search_lance(
        self, m: str, q: np.ndarray, k: int, flt: Filter | None, facts: dict, meta_in_memory: bool = True
    ) -> list[StoreHit]:
        clauses = [self.where(flt)]
        if facts[m] < facts["rows"]:
            clauses.insert(0, f"`has_{m}` = true")
        where = " AND ".join(c for c in clauses if c)
        indexed = f"vec_{m}" in facts["indexed"]
        # indexed: row ids and vectors only, the metadata from memory (`_RowMeta`); else every field
        from_memory = indexed and meta_in_memory
        fields = ["_rowid"] if from_memory else list(META_FIELDS)
        query = (
            self._tbl.search(q, vector_column_name=f"vec_{m}")
            .distance_type("cosine")
            .select([*fields, f"vec_{m}", "_distance"])
            .limit(k)
        )
        if where:
            query = query.where(where, prefilter=True)
        if indexed:
            p = self.policy
            refine = p.refine()
            query = query.nprobes(p.nprobes).ef(max(p.ef, k * (refine or 1)))  # HNSW wants ef >= k * refine
            if refine:
                query = query.refine_factor(refine)
        t = query.to_arrow()
        vecs = vector_matrix(t[f"vec_{m}"], self._dim())
        if from_memory:
            rows = self._indexed_rows(t["_rowid"].to_numpy())
            if rows is None:  # a row deleted since the query read it: read the fields with the query
                return self._search_lance(m, q, k, flt, facts, meta_in_memory=False)
        else:
            rows = t.drop_columns([f"vec_{m}", "_distance"]).to_pylist()
        # exact cosines from the vectors read anyway (an index's distances are estimates): this
        # rescoring of all k candidates is the refine step, without LanceDB's extra random reads
        sims = vecs @ q if len(rows) else np.zeros(0, np.float32)
        order = np.argsort(-sims, kind="stable")
        return [StoreHit(row=rows[i], score=float(sims[i]), vector=vecs[i]) for i in order]

    def _vector_search(
        self, modality: Modality, vector: np.ndarray, k: int, flt: Filter | None
    ) -> list[StoreHit]:
        if self._tbl is None or k <= 0:
            return []
        m = Modality(modality).value
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(q))
        q = q / norm if norm > 0 else q  # cosine: the query's norm is irrelevant
        facts = self._table_facts()
        if flt is None or flt.is_empty():
            if f"vec_{m}" not in facts["indexed"]:
                return self._search_exact(m, q, k)
            hits = self._search_ivf(m, q, k, facts)
            if hits is not None:
                return hits
        return self._search_lance(m, q, k, flt, facts)

    def _search_ivf(self, m: str, q: np.ndarray, k: int, facts: dict) -> list[StoreHit] | None:
        """Unfiltered search of an indexed column through its in-process IVF (lance_ivf.py): exact
        cosines over the `nprobes` nearest partitions plus the rows written since it was built. None
        when the column has no current layout (the caller then asks LanceDB's index)."""
        live = self._ivf.live(
            self._tbl, m, facts["key"], dim=self._dim(), max_new=self.policy.refresh_rows, rows=facts[m],
            table_id=self.table_id(),
        )  # fmt: skip
        if live is None:
            return None
        pos, sims = search_layout(live.layout, q, k, self.policy.nprobes, live.dead, live.sizes)
        ids, vecs = live.layout.rowids[pos], np.asarray(live.layout.vectors[pos])
        if len(live.new_ids):
            ids = np.concatenate([ids, live.new_ids])
            sims = np.concatenate([sims, live.new_vecs @ q])
            vecs = np.concatenate([vecs, live.new_vecs])
            order = top_k(sims, k)
            ids, sims, vecs = ids[order], sims[order], vecs[order]
        rows = self._indexed_rows(ids)
        if rows is None:
            return None
        return [StoreHit(row=r, score=float(s), vector=v) for r, s, v in zip(rows, sims, vecs, strict=True)]

    def text_search(self, text: str, column: Modality, k: int, flt: Filter | None = None) -> list[StoreHit]:
        """BM25 over the native full-text indexes of the word columns (empty without them)."""
        from lancedb.query import MultiMatchQuery

        if self._tbl is None or k <= 0 or not text.strip():
            return []
        indexed = [c for c in WORD_FIELDS if c in ann._fts_columns(self._tbl)]
        m = Modality(column).value
        if not indexed:
            return self._text_scan(text, m, k, flt)
        query = (
            self._tbl.search(MultiMatchQuery(text, indexed), query_type="fts")
            .select([*META_FIELDS, f"vec_{m}", f"has_{m}", "_score"])
            .limit(k)
        )
        where = self.where(flt)
        if where:
            query = query.where(where, prefilter=True)
        t = query.to_arrow()
        vecs = vector_matrix(t[f"vec_{m}"], self._dim())
        has = t[f"has_{m}"].to_pylist()
        scores = t["_score"].to_numpy()
        rows = t.drop_columns([f"vec_{m}", f"has_{m}", "_score"]).to_pylist()
        return [
            StoreHit(row=r, score=float(s), vector=v if h else None)
            for r, s, v, h in zip(rows, scores, vecs, has, strict=True)
        ]

    def _text_scan(self, text: str, m: str, k: int, flt: Filter | None) -> list[StoreHit]:
        """Below the full-text threshold: token match over the cached rows (filtered: LanceDB rows)."""
        if flt is not None and not flt.is_empty():
            scored = [(words_matched(text, r), r) for r in self.rows(flt)]
            top = sorted((sr for sr in scored if sr[0] > 0), key=lambda sr: (-sr[0], sr[1]["clip_id"]))[:k]
            vecs = self.vectors([r["clip_id"] for _, r in top], Modality(m))
            return [StoreHit(row=r, score=float(n), vector=vecs.get(r["clip_id"])) for n, r in top]
        col = self._exact_column(m)
        if col.tokens is None:
            words = [
                " ".join(str(v or "") for v in vals)
                for vals in zip(*(col.meta[f].to_pylist() for f in WORD_FIELDS), strict=True)
            ]
            col.tokens = postings(words)
        counts = match_counts(text, col.tokens)
        top = sorted(counts, key=lambda i: (-counts[i], i))[:k]
        rows = col.meta.take(top).to_pylist() if top else []
        return [
            StoreHit(row=r, score=float(counts[i]), vector=col.matrix[i])
            for i, r in zip(top, rows, strict=True)
        ]

    # -- upkeep -----------------------------------------------------------------------------------
    def maintain(self) -> list[str]:
        """After an index run: build missing indexes, fold new rows and small fragments in, refresh
        the exact-search snapshot."""
        if self._tbl is None:
            return []
        self._stale()
        done = ann.maintain(self._tbl, self.policy, self._dim())
        return done + self._refresh_snapshot() + self._refresh_ivf()

    def optimize(self, keep: timedelta = timedelta(0), rebuild: bool = False) -> list[str]:
        """Compact, fold new rows into the indexes, prune versions older than `keep`, build indexes."""
        if self._tbl is None:
            return ["empty index: nothing to do"]
        self._stale()
        done = ann.optimize(self._tbl, self.policy, self._dim(), keep, rebuild=rebuild)
        return done + self._refresh_snapshot() + self._refresh_ivf(fold=True, retrain=rebuild)

    def _refresh_ivf(self, *, fold: bool = False, retrain: bool = False) -> list[str]:
        """(Re)write the in-process IVF of every indexed column whose layout readers can no longer
        make current (`fold`: also one that is merely behind the table; `retrain`: every one, with new
        centroids); remove those of columns without an index."""
        self._stale()
        facts, done = self._table_facts(), []
        for m in Modality:
            name = m.value
            if f"vec_{name}" not in facts["indexed"]:
                if lance_ivf.remove(self.db_dir, name):
                    done.append(f"removed the in-process IVF of vec_{name}")
                continue
            live = self._ivf.live(
                self._tbl, name, ("maintain", facts["key"]), dim=self._dim(),
                max_new=self.policy.refresh_rows, rows=facts[name], table_id=self.table_id(), warm=False,
            )  # fmt: skip
            behind = live is None or live.dead is not None or len(live.new_ids) > 0
            if retrain or live is None or (fold and behind):
                nlist = self.policy.num_partitions
                done.append(
                    lance_ivf.rebuild(
                        self.db_dir,
                        self._tbl,
                        name,
                        self._dim(),
                        table_id=self.table_id(),
                        nlist=nlist,
                        retrain=retrain,
                    )  # fmt: skip
                )
        return done

    def _refresh_snapshot(self) -> list[str]:
        """Write the exact-search snapshot of a small unindexed table; remove it otherwise."""
        rows = self._tbl.count_rows()
        if rows > self.policy.snapshot_rows or ann.vector_indexes(self._tbl):
            return ["removed the exact-search snapshot"] if snapshot.remove_snapshot(self.db_dir) else []
        snapshot.write_snapshot(self.db_dir, self._tbl, self.encoder(), self._dim())
        return [f"wrote the exact-search snapshot ({rows} rows, memory-mapped vectors)"]

    def stats(self) -> dict[str, Any]:
        """Rows, fragments, versions, indexes and the search settings in force."""
        if self._tbl is None:
            return {"rows": 0}
        out = ann.table_stats(self._tbl)
        p = self.policy
        out["search"] = {
            "ann_threshold": p.threshold,
            "index_kind": p.kind,
            "nprobes": p.nprobes,
            "ef": p.ef,
            "refine_factor": p.refine(),
            "exact_below_threshold": "cached matrix (numpy) unfiltered, LanceDB flat scan filtered",
            "indexed_unfiltered": "in-process IVF (exact cosines over nprobes partitions)",
        }
        out["ivf"] = lance_ivf.describe(self.db_dir)
        return out
