"""`optimize` before and after on a library indexed file by file: fragments, versions, disk, and query
latency (p50 of a filtered search, which LanceDB answers by scanning the table, and of a cold open +
first unfiltered search, which reads every fragment into the exact-search cache).

The library is written as `index` writes it: one `upsert` (a merge_insert: one fragment, one table
version) per file, `--files` files of `--windows` clips, random unit vectors of `--dim` dimensions.

Example:
    $ OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_optimize.py --files 300 --windows 12 --dim 1024
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

from omnisearch.indexers import EncoderRecord, Filter
from omnisearch.indexers.lancedb_store import LanceStore
from omnisearch.types import ClipRecord, Modality, clip_id


def library(files: int, windows: int, dim: int, seed: int = 0) -> list[list[ClipRecord]]:
    rng = np.random.default_rng(seed)
    out = []
    for f in range(files):
        path = f"/lib/talk{f:04d}.mp4"
        fh = hashlib.sha256(path.encode()).hexdigest()
        recs = []
        for w in range(windows):
            vecs = {
                m: (v / np.linalg.norm(v)).astype(np.float32)
                for m in Modality
                for v in [rng.standard_normal(dim)]
            }
            s = 5.0 * w
            recs.append(
                ClipRecord(clip_id(fh, s, s + 10), path, "video", s, s + 10, fh, "", f"words of {f}",
                           vecs, added_at=float(f))
            )  # fmt: skip
        out.append(recs)
    return out


def figures(db: Path, queries: np.ndarray) -> dict:
    t = time.perf_counter()
    store = LanceStore(db)
    store.search(Modality.FUSED, queries[0], 10)
    cold = (time.perf_counter() - t) * 1000
    flt = Filter(media_type="video", start_after=5.0)
    times = []
    for q in queries:
        t = time.perf_counter()
        store.search(Modality.FUSED, q, 10, flt)
        times.append((time.perf_counter() - t) * 1000)
    st = store.stats()
    store.close()
    return {
        "fragments": st["fragments"],
        "versions": st["versions"],
        "data_files": sum(1 for p in db.rglob("*.lance") if p.is_file()),
        "disk_mb": round(sum(p.stat().st_size for p in db.rglob("*") if p.is_file()) / 1e6, 1),
        "filtered_p50_ms": round(float(np.percentile(times, 50)), 2),
        "cold_first_query_ms": round(cold, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--windows", type=int, default=12)
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    queries = rng.standard_normal((args.queries, args.dim)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "db"
        store = LanceStore(db)
        store.ensure_encoder(EncoderRecord("bench", "1", args.dim))
        t = time.perf_counter()
        for recs in library(args.files, args.windows, args.dim):
            store.upsert(recs)
        write_s = time.perf_counter() - t
        store.close()
        before = figures(db, queries)
        store = LanceStore(db)
        t = time.perf_counter()
        done = store.optimize(keep=timedelta(0))
        opt_s = time.perf_counter() - t
        store.close()
        after = figures(db, queries)
    out = {"files": args.files, "clips": args.files * args.windows, "write_s": round(write_s, 1),
           "optimize_s": round(opt_s, 2), "done": done, "before": before, "after": after}  # fmt: skip
    print("| | " + " | ".join(before) + " |")
    print("|---|" + "---|" * len(before))
    for name, figs in (("before optimize", before), ("after optimize", after)):
        print(f"| {name} | " + " | ".join(str(v) for v in figs.values()) + " |")
    print(json.dumps(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
