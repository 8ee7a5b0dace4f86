"""Planner figures: recall@k against an exhaustive fused search, and latency, with rerank on and off.

Synthetic clustered unit vectors stand in for an index (4 columns: text, video, audio, fused). Clip i
has a base vector (its cluster centre plus its own offset); each single modality is the base plus
modality noise, and the fused vector is the normalised sum of the three. A query is a new clip of a
random cluster given as text + audio (two single vectors) plus its fused (t, a) tuple vector.

For each store the planner runs `search_vectors` (target fused, prefetch 100, RRF merge, k 10) with
`rerank` off and on; recall@k is measured against numpy's exhaustive search of the fused query over
the fused column, latency is the planner's wall time per query (embedding excluded: the query vectors
are given). Stores: LanceDB exact scan, LanceDB after `create_index()` (the policy's index, at N >= 100k),
Qdrant local mode (in memory, brute force).

Example:
    $ OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_planner.py --n 10000 100000 --queries 50
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from omnisearch.indexers import EncoderRecord, VectorStore
from omnisearch.indexers.lancedb_store import LanceStore
from omnisearch.indexers.qdrant_store import QdrantStore
from omnisearch.retrieval.planner import SearchOptions, search_vectors
from omnisearch.types import ClipRecord, Modality, clip_id

T, V, A, F = Modality.TEXT, Modality.VIDEO, Modality.AUDIO, Modality.FUSED
NOISE = {T: 0.9, V: 0.7, A: 1.0}  # modality noise relative to the base vector
WINDOWS_PER_FILE = 8


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@dataclass
class Corpus:
    """Column matrices (n, dim) per modality, the clip ids, and the cluster centres."""

    cols: dict[Modality, np.ndarray]
    ids: list[str]
    centres: np.ndarray


def make_corpus(n: int, dim: int, seed: int = 0, clusters: int = 256) -> Corpus:
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((clusters, dim)))
    base = centres[rng.integers(0, clusters, n)] + 0.6 * _unit(rng.standard_normal((n, dim)))
    cols = {m: _unit(base + s * _unit(rng.standard_normal((n, dim)))) for m, s in NOISE.items()}
    cols[F] = _unit(cols[T] + cols[V] + cols[A])
    starts = [20.0 * (i % WINDOWS_PER_FILE) for i in range(n)]
    ids = [clip_id(_file_hash(i), s, s + 10.0) for i, s in enumerate(starts)]
    return Corpus(cols, ids, centres)


def _file_hash(i: int) -> str:
    return f"{i // WINDOWS_PER_FILE:016x}" + "0" * 48


def records(c: Corpus, lo: int, hi: int) -> list[ClipRecord]:
    """Clips lo..hi: WINDOWS_PER_FILE windows of 10 s per file, 20 s apart (never merged)."""
    out = []
    for i in range(lo, hi):
        start = 20.0 * (i % WINDOWS_PER_FILE)
        out.append(
            ClipRecord(
                clip_id=c.ids[i],
                path=f"/syn/{i // WINDOWS_PER_FILE:06d}.mp4",
                media_type="video",
                start=start,
                end=start + 10.0,
                file_hash=_file_hash(i),
                text="",
                transcript="",
                vectors={m: col[i] for m, col in c.cols.items()},
                keyframe=start + 5.0,
                added_at=float(i),
            )
        )
    return out


def make_queries(c: Corpus, q: int, seed: int = 1) -> list[dict[Modality, np.ndarray]]:
    """Text + audio queries of new clips: {T, A, F} with F the fused (t, a) tuple."""
    rng = np.random.default_rng(seed)
    dim = c.centres.shape[1]
    base = c.centres[rng.integers(0, len(c.centres), q)] + 0.6 * _unit(rng.standard_normal((q, dim)))
    t = _unit(base + NOISE[T] * _unit(rng.standard_normal((q, dim))))
    a = _unit(base + NOISE[A] * _unit(rng.standard_normal((q, dim))))
    f = _unit(t + a)
    return [{T: t[i], A: a[i], F: f[i]} for i in range(q)]


def exhaustive(c: Corpus, queries: list[dict[Modality, np.ndarray]], k: int) -> tuple[list[set[str]], float]:
    """Exact top-k ids of the fused query over the fused column, and the p50 ms of that numpy search."""
    truth, lat = [], []
    for qv in queries:
        t0 = time.perf_counter()
        sims = c.cols[F] @ qv[F]
        top = np.argpartition(-sims, k)[:k]
        lat.append(time.perf_counter() - t0)
        truth.append({c.ids[i] for i in top})
    return truth, 1000 * float(np.median(lat))


def fill(store: VectorStore, c: Corpus, batch: int) -> float:
    """Create and fill the store; return the seconds it took."""
    t0 = time.perf_counter()
    store.ensure_encoder(EncoderRecord("synthetic", "1", c.centres.shape[1]))
    n = len(c.ids)
    for lo in range(0, n, batch):
        store.upsert(records(c, lo, min(n, lo + batch)))
    return time.perf_counter() - t0


def run_planner(
    store: VectorStore, queries: list, truth: list[set[str]], k: int, prefetch: int, rerank: bool
) -> dict[str, float]:
    """recall@k, p50 / p95 latency (ms) and mean candidates of the planner over the queries."""
    opts = SearchOptions(k=k, prefetch=prefetch, rerank=rerank)
    search_vectors(store, queries[0], opts)  # warm-up (caches, lazy imports)
    lat, rec, cand, first, rr = [], [], [], [], []
    for qv, want in zip(queries, truth, strict=True):
        t0 = time.perf_counter()
        res = search_vectors(store, qv, opts)
        lat.append(1000 * (time.perf_counter() - t0))
        rec.append(len({h.clip_id for h in res.hits} & want) / k)
        cand.append(res.candidates)
        first.append(1000 * res.timings["first_stage"])
        rr.append(1000 * res.timings.get("rerank", 0.0))
    return {
        "recall": float(np.mean(rec)),
        "p50": float(np.percentile(lat, 50)),
        "p95": float(np.percentile(lat, 95)),
        "cand": float(np.mean(cand)),
        "first": float(np.median(first)),
        "rerank": float(np.median(rr)),
    }


def report(
    label: str, n: int, build: str, store: VectorStore, queries: list, truth: list, args: argparse.Namespace
) -> None:
    for rerank in (False, True):
        r = run_planner(store, queries, truth, args.k, args.prefetch, rerank)
        print(
            f"| {label} | {n:,} | {build} | {'on' if rerank else 'off'} | {r['recall']:.3f} | "
            f"{r['p50']:.1f} | {r['p95']:.1f} | {r['first']:.1f} | "
            + (f"{r['rerank']:.1f}" if rerank else "-")
            + f" | {r['cand']:.0f} |",
            flush=True,
        )


def bench_n(n: int, args: argparse.Namespace, tmp: Path) -> None:
    t0 = time.perf_counter()
    corpus = make_corpus(n, args.dim)
    queries = make_queries(corpus, args.queries)
    truth, np_p50 = exhaustive(corpus, queries, args.k)
    print(f"| numpy exhaustive fused (reference) | {n:,} | gen {time.perf_counter() - t0:.0f} s | - | "
          f"1.000 | {np_p50:.1f} | - | - | - | {n:,} |", flush=True)  # fmt: skip
    if "lancedb" in args.stores:
        lance = LanceStore(tmp / f"lance{n}")  # the index policy of `index` (indexers/ann.py)
        up = fill(lance, corpus, 10_000)
        report("LanceDB exact scan", n, f"upsert {up:.0f} s", lance, queries, truth, args)
        if n >= args.index_min:
            t0 = time.perf_counter()
            built = lance.create_index(min_rows=args.index_min)
            b = time.perf_counter() - t0
            name = f"LanceDB {lance.policy.kind}" if built else "LanceDB (no index built)"
            report(name, n, f"index {b:.0f} s (4 cols)", lance, queries, truth, args)
        lance.close()
    if "qdrant" in args.stores and n <= args.qdrant_max_n:
        qd = QdrantStore(path=":memory:")
        up = fill(qd, corpus, 2_000)
        report("Qdrant local (memory)", n, f"upsert {up:.0f} s", qd, queries, truth, args)
        qd.close()
    elif "qdrant" in args.stores:
        print(
            f"| Qdrant local (memory) | {n:,} | skipped: N > --qdrant-max-n | - | - | - | - | - | - | - |",
            flush=True,
        )
    gc.collect()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--prefetch", type=int, default=100)
    ap.add_argument("--stores", default="lancedb,qdrant", help="comma list: lancedb, qdrant")
    ap.add_argument("--index-min", type=int, default=100_000, help="build the LanceDB index at N >= this")
    ap.add_argument("--qdrant-max-n", type=int, default=100_000, help="skip Qdrant local above this N")
    args = ap.parse_args(argv)
    print(
        f"planner: text + audio query -> fused column, prefetch {args.prefetch}, RRF, k {args.k}, "
        f"dim {args.dim}, {args.queries} queries; latency: search_vectors wall time (no embedding)"
    )
    print("")
    print(
        f"| store | N | build | rerank | recall@{args.k} | p50 ms | p95 ms | first stage p50 ms "
        "| rerank p50 ms | candidates |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.n:
            bench_n(n, args, Path(tmp))
    print(f"\ntotal wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
