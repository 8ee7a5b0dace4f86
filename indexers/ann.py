"""Index policy of the LanceDB store: when a vector column gets an ANN index, which one, with which
search settings, and how indexes, fragments and versions are kept tidy after writes.

Measured on this machine (2 shared cores, 384-d clustered vectors, benchmarks/bench_search.py, see
docs/figures.md "Search at archive scale"): at 100k rows IVF_RQ answered in a quarter of numpy's
exact time and IVF_HNSW_SQ in about numpy's; IVF_PQ built 20x slower than IVF_RQ for less recall. At
20k the exact scan and the index were even, so the default threshold is 100k (below it search is
exact: no recall lost). LanceDB's refine re-reads k * r full rows of the wide 4-column table, which
dominated the 1M planner latency; 4-bit RQ codes keep recall@10 at 1.0 without it (200k-300k), the
store rescoring its k candidates exactly from the vectors it returns.

`maintain(tbl, policy)` runs after every `index` run: it builds the vector index of a column that
crossed the threshold, the full-text indexes over the clip's words, and folds new rows and small
fragments in (LanceDB's optimize: compaction + incremental index update) once enough accumulate.
`optimize(tbl, keep)` does all of it on demand and also prunes versions older than `keep`. The store
then (re)writes each indexed column's in-process IVF (lance_ivf.py), which answers its unfiltered
queries: at 1M rows LanceDB's per-query cost (planning, schema and version checks, 100 random
vector reads) exceeded a numpy scan of 16 partitions.

Example:
    >>> index_config("IVF_PQ", 100_000, dim=384).__class__.__name__
    'IvfPq'
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from omnisearch.indexers.rows import WORD_FIELDS
from omnisearch.types import Modality

INDEX_KINDS = ("IVF_HNSW_SQ", "IVF_PQ", "IVF_RQ")


@dataclass(frozen=True)
class AnnPolicy:
    """threshold: rows holding a modality from which its column gets an ANN index (below: exact);
    kind: one of INDEX_KINDS; nprobes / ef / refine_factor: search settings, always set explicitly;
    fts_threshold: rows from which the word columns get full-text indexes; refresh_rows / max_fragments:
    unindexed rows / fragments after which `maintain` runs LanceDB's optimize."""

    threshold: int = 100_000
    kind: str = "IVF_RQ"
    nprobes: int = 16  # 1.6 % of sqrt(N) partitions: recall@10 1.000 at 1M in the benchmark, both IVFs
    ef: int = 160
    refine_factor: int | None = None
    rq_bits: int = 4  # bits per dimension of IVF_RQ codes: 4 needs no refine where 1 needs 5
    num_partitions: int | None = None
    snapshot_rows: int = 50_000  # up to this many rows (and no ANN index) an exact-search snapshot is kept
    fts_threshold: int = 50_000  # rows from which the word columns get native full-text indexes
    refresh_rows: int = 2_000
    max_fragments: int = 16
    keep_versions: timedelta = timedelta(minutes=10)  # what automatic cleanup leaves for readers

    def refine(self) -> int | None:
        """refine_factor in force: as set, else none for IVF_HNSW_SQ (8-bit codes) and 4-bit RQ codes
        (the store rescores its k candidates exactly anyway), 5 for coarser codes (LanceDB then
        rescores k * 5 candidates with the full vectors)."""
        if self.refine_factor is not None:
            return self.refine_factor or None
        if self.kind == "IVF_RQ" and self.rq_bits >= 4:
            return None  # the store rescores every candidate exactly from the vectors it returns
        return None if self.kind == "IVF_HNSW_SQ" else 5

    def __post_init__(self) -> None:
        if self.kind not in INDEX_KINDS:
            raise ValueError(f"unknown index kind {self.kind!r}; use one of {', '.join(INDEX_KINDS)}")


def partitions(n: int, kind: str) -> int:
    """IVF partitions for `n` rows: ~sqrt(n)/4 for HNSW sub-indexes (each partition is a graph),
    ~sqrt(n) for PQ / RQ (flat partitions are scanned)."""
    root = float(np.sqrt(max(n, 1)))
    return max(1, int(root / 4 if kind == "IVF_HNSW_SQ" else root))


def index_config(kind: str, n: int, *, dim: int, num_partitions: int | None = None, rq_bits: int = 4) -> Any:
    """The LanceDB index config of `kind` for a cosine column of `n` rows of `dim` dimensions."""
    from lancedb.index import IvfHnswSq, IvfPq, IvfRq

    parts = num_partitions or partitions(n, kind)
    if kind == "IVF_HNSW_SQ":
        return IvfHnswSq(distance_type="cosine", num_partitions=parts, m=16, ef_construction=150)
    if kind == "IVF_PQ":
        return IvfPq(distance_type="cosine", num_partitions=parts, num_sub_vectors=max(1, dim // 8))
    if kind == "IVF_RQ":
        return IvfRq(distance_type="cosine", num_partitions=parts, num_bits=rq_bits)
    raise ValueError(f"unknown index kind {kind!r}")


def vector_indexes(tbl) -> dict[str, Any]:
    """Vector column -> its index config (LanceDB IndexConfig), for columns that have one."""
    return {
        ix.columns[0]: ix
        for ix in tbl.list_indices()
        if ix.columns and ix.columns[0].startswith("vec_") and ix.index_type.upper().startswith("IVF")
    }


def _fts_columns(tbl) -> set[str]:
    return {ix.columns[0] for ix in tbl.list_indices() if ix.index_type == "FTS" and ix.columns}


def build_fts(tbl, policy: AnnPolicy) -> list[str]:
    """Native full-text indexes on the clip's word columns that lack one, from `fts_threshold` rows
    (below it a token scan of the cached rows is as fast, and the folder stays a few files)."""
    from lancedb.index import FTS

    done: list[str] = []
    if tbl.count_rows() < policy.fts_threshold:
        return done
    have = _fts_columns(tbl)
    for col in WORD_FIELDS:
        if col not in have:
            tbl.create_index(col, config=FTS(), replace=True)
            done.append(f"built full-text index on {col}")
    return done


def build_vector_indexes(tbl, policy: AnnPolicy, dim: int, *, rebuild: bool = False) -> list[str]:
    """ANN indexes on the vector columns holding >= policy.threshold rows (rebuild: also replace
    existing ones, retraining their partitions)."""
    have = vector_indexes(tbl)
    done = []
    for m in Modality:
        col = f"vec_{m.value}"
        n = tbl.count_rows(f"`has_{m.value}` = true")
        if n < max(policy.threshold, 256) or (col in have and not rebuild):
            continue
        tbl.create_index(
            col,
            config=index_config(
                policy.kind, n, dim=dim, num_partitions=policy.num_partitions, rq_bits=policy.rq_bits
            ),
            replace=True,
        )
        done.append(f"built {policy.kind} index on {col} ({n} rows)")
    return done


def _unindexed(tbl) -> int:
    worst = 0
    for ix in tbl.list_indices():
        stats = tbl.index_stats(ix.name)
        worst = max(worst, int(stats.num_unindexed_rows) if stats else 0)
    return worst


def table_stats(tbl) -> dict[str, Any]:
    """Rows, fragments (small ones too), versions and every index with its settings."""
    st = tbl.stats()
    frag = st["fragment_stats"]
    indexes = []
    for ix in tbl.list_indices():
        s = tbl.index_stats(ix.name)
        indexes.append(
            {
                "name": ix.name,
                "type": ix.index_type,
                "columns": list(ix.columns),
                "indexed_rows": int(s.num_indexed_rows) if s else None,
                "unindexed_rows": int(s.num_unindexed_rows) if s else None,
                "distance": s.distance_type if s else None,
            }
        )
    return {
        "rows": int(st["num_rows"]),
        "fragments": int(frag["num_fragments"]),
        "small_fragments": int(frag["num_small_fragments"]),
        "versions": len(tbl.list_versions()),
        "version": int(tbl.version),
        "data_bytes": int(st["total_bytes"]),
        "indexes": indexes,
    }


def maintain(tbl, policy: AnnPolicy, dim: int) -> list[str]:
    """After writes: build missing indexes; compact and fold new rows into the indexes once
    `policy.refresh_rows` rows are unindexed or `policy.max_fragments` fragments accumulate."""
    done = build_fts(tbl, policy) + build_vector_indexes(tbl, policy, dim)
    frags = tbl.stats()["fragment_stats"]["num_fragments"]
    if _unindexed(tbl) >= policy.refresh_rows or frags > policy.max_fragments:
        tbl.optimize(cleanup_older_than=policy.keep_versions)
        done.append(f"optimized: {frags} fragments compacted, new rows added to the indexes")
    return done


def optimize(tbl, policy: AnnPolicy, dim: int, keep: timedelta, *, rebuild: bool = False) -> list[str]:
    """On demand: compact fragments, fold new rows into the indexes, prune versions older than
    `keep` (the latest is always kept), build missing indexes (rebuild: retrain vector indexes)."""
    before = table_stats(tbl)
    done = build_fts(tbl, policy) + build_vector_indexes(tbl, policy, dim, rebuild=rebuild)
    with warnings.catch_warnings():  # keep=0 warns that readers on older versions fail: the user chose it
        warnings.simplefilter("ignore", UserWarning)
        tbl.optimize(cleanup_older_than=keep)
    after = table_stats(tbl)
    done.append(
        f"compacted {before['fragments']} -> {after['fragments']} fragments, "
        f"pruned {before['versions']} -> {after['versions']} versions (kept those newer than {keep})"
    )
    return done
