"""Search at archive scale: latency, recall@10 against exact search, build time, disk and memory per
backend, at each N. Prints a markdown table and writes {"rows": [{"backend", "n", "p50_ms", "p99_ms",
"recall_at_10", "build_s", "disk_mb", "ram_mb", ...}]}.

Data: synthetic clustered unit vectors, 4 columns (text, video, audio, fused) of `--dim` dimensions;
queries are new points of random clusters, searched against the text column (single-modality search).
Backends (all on the same vectors, same queries, exact top-10 by numpy as the reference):
- `numpy`: brute force (one matrix product + argpartition) over the column held in RAM;
- `lancedb-exact`: a LanceDB table of that column, no index (flat scan);
- `lancedb-IVF_HNSW_SQ`, `lancedb-IVF_PQ`, `lancedb-IVF_RQ`: that table with the index built, searched
  with the settings of `AnnPolicy` (nprobes, ef, refine_factor set explicitly);
- `qdrant-local`: Qdrant's local mode over that column (brute force; skipped above 100k);
- `planner`: `search_vectors` (target text, k 10, prefetch 100) through a `LanceStore` holding all four
  columns exactly as `index` leaves it: rows written, then `store.maintain()` (the ANN indexes past the
  threshold, full-text indexes, compaction). Query embedding is excluded.
build_s: time to make the backend searchable (for `planner`: writing excluded, `maintain()` included);
disk_mb: its folder; ram_mb: growth of this process's RSS while building and querying (approximate:
LanceDB caches count, freed numpy buffers may not return).

Example:
    $ OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_search.py --n 20000 100000 --dim 384 \\
        --queries 200 --backends numpy,lancedb-exact,lancedb-IVF_HNSW_SQ,qdrant-local,planner --json s.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from omnisearch.indexers import EncoderRecord
from omnisearch.indexers.ann import INDEX_KINDS, AnnPolicy, index_config
from omnisearch.indexers.lancedb_store import LanceStore
from omnisearch.indexers.rows import META_FIELDS
from omnisearch.retrieval.planner import SearchOptions, search_vectors
from omnisearch.types import Modality

COLUMNS = (Modality.TEXT, Modality.VIDEO, Modality.AUDIO, Modality.FUSED)
CHUNK = 100_000
K = 10
BACKENDS = ("numpy", "lancedb-exact", *(f"lancedb-{k}" for k in INDEX_KINDS), "qdrant-local", "planner")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class Data:
    """Clustered columns generated chunk by chunk from fixed seeds (so any chunk can be remade)."""

    def __init__(self, n: int, dim: int, seed: int = 0) -> None:
        self.n, self.dim, self.seed = n, dim, seed
        rng = np.random.default_rng(seed)
        self.clusters = max(64, n // 1000)
        self.centres = {m: _unit(rng.standard_normal((self.clusters, dim))) for m in COLUMNS}

    def chunk(self, m: Modality, lo: int, hi: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, COLUMNS.index(m), lo])
        which = rng.integers(0, self.clusters, hi - lo)
        return _unit(self.centres[m][which] + 0.8 * _unit(rng.standard_normal((hi - lo, self.dim))))

    def column(self, m: Modality) -> np.ndarray:
        return np.concatenate([self.chunk(m, lo, min(lo + CHUNK, self.n)) for lo in range(0, self.n, CHUNK)])

    def queries(self, q: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 99])
        which = rng.integers(0, self.clusters, q)
        return _unit(self.centres[Modality.TEXT][which] + 0.8 * _unit(rng.standard_normal((q, self.dim))))


def exact_topk(mat: np.ndarray, q: np.ndarray, k: int = K) -> np.ndarray:
    sims = mat @ q
    top = np.argpartition(-sims, k - 1)[:k]
    return top[np.argsort(-sims[top])]


def measure(search: Callable[[np.ndarray], list[int]], queries: np.ndarray, truth: list[set[int]]) -> dict:
    search(queries[0])  # warm-up (caches, lazily loaded index parts)
    times, found = [], 0
    for q, want in zip(queries, truth, strict=True):
        t = time.perf_counter()
        got = search(q)
        times.append((time.perf_counter() - t) * 1000)
        found += len(want & set(got[:K]))
    return {
        "p50_ms": round(float(np.percentile(times, 50)), 3),
        "p99_ms": round(float(np.percentile(times, 99)), 3),
        "recall_at_10": round(found / (K * len(truth)), 4),
        "queries": len(truth),
    }


def column_table(data: Data, mat: np.ndarray) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(np.arange(data.n)),
            "vec": pa.FixedSizeListArray.from_arrays(pa.array(mat.reshape(-1)), data.dim),
        }
    )


def run_lance_column(data, mat, kind, queries, truth, tmp, policy) -> dict:
    from omnisearch.indexers.lance_import import lancedb

    db = lancedb.connect(str(tmp / f"col-{kind}"))
    tbl = db.create_table("t", column_table(data, mat))
    t0 = time.perf_counter()
    if kind != "exact":
        tbl.create_index("vec", config=index_config(kind, data.n, dim=data.dim, rq_bits=policy.rq_bits))
    build = time.perf_counter() - t0

    def search(q: np.ndarray) -> list[int]:
        s = tbl.search(q, vector_column_name="vec").distance_type("cosine").select(["id"]).limit(K)
        if kind != "exact":
            s = s.nprobes(policy.nprobes).ef(max(policy.ef, K))
            refine = replace(policy, kind=kind).refine()
            if refine:
                s = s.refine_factor(refine)
        return s.to_arrow()["id"].to_pylist()

    out = measure(search, queries, truth)
    out.update(build_s=round(build, 2), disk_mb=round(disk_mb(tmp / f"col-{kind}"), 1))
    return out


def run_qdrant(data, mat, queries, truth, tmp) -> dict:
    from qdrant_client import QdrantClient, models

    client = QdrantClient(":memory:")  # local mode on disk uploads ~200 points/s: RAM only
    client.create_collection(
        "c", vectors_config=models.VectorParams(size=data.dim, distance=models.Distance.COSINE)
    )
    t0 = time.perf_counter()
    for lo in range(0, data.n, 10_000):
        hi = min(lo + 10_000, data.n)
        client.upload_collection("c", vectors=mat[lo:hi], ids=list(range(lo, hi)))
    build = time.perf_counter() - t0

    def search(q: np.ndarray) -> list[int]:
        return [p.id for p in client.query_points("c", query=q.tolist(), limit=K).points]

    out = measure(search, queries, truth)
    out.update(build_s=round(build, 2), disk_mb=0.0)
    client.close()
    return out


def write_store(data: Data, folder: Path) -> LanceStore:
    """Rows in the store's own schema, written in chunks (as `index` leaves them, before maintain)."""
    store = LanceStore(folder)
    store.ensure_encoder(EncoderRecord("bench", "1", data.dim))
    schema = store._tbl.schema
    for lo in range(0, data.n, CHUNK):
        hi = min(lo + CHUNK, data.n)
        ids = [f"{i:016x}:0.000-10.000" for i in range(lo, hi)]
        cols: dict[str, pa.Array] = {}
        for f in META_FIELDS:
            if f in ("start", "end", "keyframe", "added_at"):
                cols[f] = pa.array(
                    np.full(hi - lo, 5.0 if f == "keyframe" else (10.0 if f == "end" else 0.0))
                )
            elif f == "clip_id":
                cols[f] = pa.array(ids)
            elif f == "path":
                cols[f] = pa.array([f"/lib/f{i // 8}.mp4" for i in range(lo, hi)])
            else:
                cols[f] = pa.array(["video" if f == "media_type" else ""] * (hi - lo))
        for m in COLUMNS:
            cols[f"vec_{m.value}"] = pa.FixedSizeListArray.from_arrays(
                pa.array(data.chunk(m, lo, hi).reshape(-1)), data.dim
            )
            cols[f"has_{m.value}"] = pa.array(np.ones(hi - lo, bool))
        store._tbl.add(pa.table(cols, schema=schema))
    return store


def run_planner(data, queries, truth, tmp, policy) -> dict:
    store = write_store(data, tmp / "store")
    store.policy = policy
    t0 = time.perf_counter()
    done = store.maintain()
    build = time.perf_counter() - t0
    opts = SearchOptions(target=Modality.TEXT, k=K, prefetch=100, merge_windows=False)

    def search(q: np.ndarray) -> list[int]:
        hits = search_vectors(store, {Modality.TEXT: q}, opts).hits
        return [int(h.clip_id.split(":")[0], 16) for h in hits]

    out = measure(search, queries, truth)
    out.update(build_s=round(build, 2), disk_mb=round(disk_mb(tmp / "store"), 1), maintain=done)
    store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[100_000])
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--slow-queries", type=int, default=30, help="queries for the flat scans above 200k")
    ap.add_argument("--ann-threshold", type=int, default=None, help="override AnnPolicy.threshold")
    ap.add_argument("--index-kind", default=None, choices=INDEX_KINDS, help="override AnnPolicy.kind")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        ap.error(f"unknown backends {sorted(unknown)}; choose from {', '.join(BACKENDS)}")
    policy = AnnPolicy()
    if args.ann_threshold is not None:
        policy = replace(policy, threshold=args.ann_threshold)
    if args.index_kind is not None:
        policy = replace(policy, kind=args.index_kind)
    rows = []
    for n in args.n:
        data = Data(n, args.dim)
        mat = data.column(Modality.TEXT)
        queries = data.queries(args.queries)
        truth_idx = [exact_topk(mat, q) for q in queries]
        truth = [set(map(int, t)) for t in truth_idx]
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmpdir:
            tmp = Path(tmpdir)
            for b in backends:
                if b == "qdrant-local" and n > 100_000:
                    continue
                few = b in ("lancedb-exact", "qdrant-local") and n > 200_000
                qs, tr = (
                    (queries[: args.slow_queries], truth[: args.slow_queries]) if few else (queries, truth)
                )
                gc.collect()
                before = rss_mb()
                if b == "numpy":
                    t0 = time.perf_counter()
                    held = np.ascontiguousarray(data.column(Modality.TEXT))
                    build = time.perf_counter() - t0
                    r = measure(lambda q, m=held: list(map(int, exact_topk(m, q))), qs, tr)
                    r.update(build_s=round(build, 2), disk_mb=0.0)
                    del held
                elif b.startswith("lancedb-"):
                    r = run_lance_column(data, mat, b.removeprefix("lancedb-"), qs, tr, tmp, policy)
                elif b == "qdrant-local":
                    r = run_qdrant(data, mat, qs, tr, tmp)
                else:
                    r = run_planner(data, qs, tr, tmp, policy)
                r["ram_mb"] = round(rss_mb() - before, 1)
                row = {"backend": b, "n": n, **r}
                rows.append(row)
                print(json.dumps(row), flush=True)
    print("\n| backend | N | p50 ms | p99 ms | recall@10 | build s | disk MB | RAM MB | queries |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['backend']} | {r['n']:,} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['recall_at_10']:.3f} | {r['build_s']:.1f} | {r['disk_mb']:.0f} | {r['ram_mb']:.0f} | "
            f"{r['queries']} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"dim": args.dim, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
