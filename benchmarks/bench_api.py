"""The Python API over a real index: open + first search (the encoder loads), then text-search latency
from one thread and from `--threads` threads sharing one Index (one encoder behind a lock). Prints a
markdown table and, with --json, {"cold_first_search_s", "rows": [{"threads", "searches", "p50_ms",
"p99_ms", "per_s", "errors"}]}.

Example:
    $ OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_api.py --db demo/db --seconds 10 --threads 1 8
"""

from __future__ import annotations

import argparse
import json
import threading
import time

QUERIES = ["budget for the warehouse", "hiring plan", "someone flips a pancake", "a dog barking",
           "the word PARIS on screen", "roses need water", "quarterly review", "spring launch"]  # fmt: skip


def run(idx, threads: int, seconds: float, k: int) -> dict:
    lat: list[float] = []
    errors: list[str] = []
    stop = time.perf_counter() + seconds

    def worker(i: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            q = QUERIES[(i + n) % len(QUERIES)]
            n += 1
            t = time.perf_counter()
            try:
                idx.search(q, k=k)
                lat.append(time.perf_counter() - t)
            except Exception as e:  # noqa: BLE001 - counted
                errors.append(repr(e))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    t0 = time.perf_counter()
    [t.start() for t in ts]
    [t.join() for t in ts]
    wall = time.perf_counter() - t0
    lat.sort()

    def pick(q: float) -> float:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 2) if lat else float("nan")

    per_s = round(len(lat) / wall, 1)
    return {"threads": threads, "searches": len(lat), "p50_ms": pick(0.5), "p99_ms": pick(0.99),
            "per_s": per_s, "errors": len(errors)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    t = time.perf_counter()
    import omnisearch

    idx = omnisearch.open(args.db, read_only=True)
    idx.search(QUERIES[0], k=args.k)
    cold = time.perf_counter() - t
    info = idx.info()
    rows = [run(idx, n, args.seconds, args.k) for n in args.threads]
    idx.close()
    print(f"index: {info['clips']} clips, {info['files']} files, encoder {info['encoder']['name']}; "
          f"import + open + first search: {cold:.2f} s")  # fmt: skip
    print("| threads | searches | p50 ms | p99 ms | searches/s | errors |\n|---|---|---|---|---|---|")
    for r in rows:
        cells = [r[c] for c in ("threads", "searches", "p50_ms", "p99_ms", "per_s", "errors")]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"cold_first_search_s": round(cold, 3), "clips": info["clips"], "rows": rows}, f, indent=2
            )


if __name__ == "__main__":
    main()
