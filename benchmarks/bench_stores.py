"""Store figures: upsert rate, search latency and recall@10 against numpy exact search.

Clustered synthetic unit vectors (a fraction of clips miss the text / audio modality, stored as zero
vectors + has_ flags in LanceDB), then: LanceDB exact scan, LanceDB after `create_index()`
(the index policy's kind, cosine), Qdrant local mode (brute force). Prints one markdown table.

Example:
    $ .venv/bin/python benchmarks/bench_stores.py --n 20000 --dim 384 --queries 100
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from omnisearch.indexers import EncoderRecord, Filter, VectorStore
from omnisearch.indexers.lancedb_store import LanceStore
from omnisearch.indexers.qdrant_store import QdrantStore
from omnisearch.types import ClipRecord, Modality, clip_id


def clustered(rng: np.random.Generator, n: int, dim: int, clusters: int = 64) -> np.ndarray:
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    v = centres[rng.integers(0, clusters, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_records(n: int, dim: int, seed: int = 0, missing: float = 0.3) -> list[ClipRecord]:
    rng = np.random.default_rng(seed)
    cols = {m: clustered(rng, n, dim) for m in Modality}
    lacks = {m: rng.random(n) < missing for m in (Modality.TEXT, Modality.AUDIO)}
    recs = []
    for i in range(n):
        fh = f"{i:016x}" + "0" * 48
        vecs = {m: cols[m][i] for m in Modality if not (m in lacks and lacks[m][i])}
        recs.append(
            ClipRecord(
                clip_id=clip_id(fh, 0.0, 5.0),
                path=f"/bench/{i % 1000}/f{i}.mp4",
                media_type=("video", "audio", "image")[i % 3],
                start=0.0,
                end=5.0,
                file_hash=fh,
                text=f"clip {i}",
                transcript="",
                vectors=vecs,
                added_at=float(i),
            )
        )
    return recs


def exact_ids(recs: list[ClipRecord], m: Modality, qs: np.ndarray, k: int) -> list[set[str]]:
    have = [r for r in recs if m in r.vectors]
    mat = np.stack([r.vectors[m] for r in have])
    top = np.argsort(-(qs @ mat.T), axis=1)[:, :k]
    return [{have[j].clip_id for j in row} for row in top]


def measure(store: VectorStore, recs: list[ClipRecord], qs: np.ndarray, k: int) -> dict[str, float]:
    """p50 latency (ms) and mean recall@k over modalities text (30% missing) and video."""
    lat, rec = [], []
    for m in (Modality.TEXT, Modality.VIDEO):
        truth = exact_ids(recs, m, qs, k)
        for q, want in zip(qs, truth, strict=True):
            t0 = time.perf_counter()
            hits = store.search(m, q, k)
            lat.append(1000 * (time.perf_counter() - t0))
            rec.append(len({h.row["clip_id"] for h in hits} & want) / k)
    t0 = time.perf_counter()
    store.search(Modality.VIDEO, qs[0], k, Filter(media_type="audio", path_glob="/bench/1*"))
    return {
        "p50": float(np.median(lat)),
        "recall": float(np.mean(rec)),
        "filtered": 1000 * (time.perf_counter() - t0),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--qdrant", action="store_true", help="also run Qdrant local mode (slow above ~20k)")
    args = ap.parse_args()
    recs = make_records(args.n, args.dim)
    qs = clustered(np.random.default_rng(99), args.queries, args.dim)
    enc = EncoderRecord("bench", "1", args.dim)
    print(
        f"| store (N={args.n}, dim={args.dim}) | upsert s | build s | p50 ms | recall@{args.k} "
        "| filtered ms |"
    )
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        lance = LanceStore(Path(tmp) / "lance")
        lance.ensure_encoder(enc)
        t0 = time.perf_counter()
        for i in range(0, len(recs), 5000):
            lance.upsert(recs[i : i + 5000])
        up = time.perf_counter() - t0
        r = measure(lance, recs, qs, args.k)
        print(f"| LanceDB exact | {up:.1f} | - | {r['p50']:.1f} | {r['recall']:.3f} | {r['filtered']:.1f} |")
        t0 = time.perf_counter()
        built = lance.create_index(min_rows=0)
        build = time.perf_counter() - t0
        r = measure(lance, recs, qs, args.k)
        label = f"LanceDB {lance.policy.kind}" if built else "LanceDB (no index built)"
        print(f"| {label} | - | {build:.1f} | {r['p50']:.1f} | {r['recall']:.3f} | {r['filtered']:.1f} |")
        if args.qdrant:
            qd = QdrantStore(path=":memory:")
            qd.ensure_encoder(enc)
            t0 = time.perf_counter()
            qd.upsert(recs)
            up = time.perf_counter() - t0
            r = measure(qd, recs, qs, args.k)
            print(
                f"| Qdrant local | {up:.1f} | - | {r['p50']:.1f} | {r['recall']:.3f} | {r['filtered']:.1f} |"
            )


if __name__ == "__main__":
    main()
