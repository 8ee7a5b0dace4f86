"""`omnisearch serve` under load while `omnisearch index` writes the same db: `--clients` threads send
GET /api/search for `--seconds`; meanwhile `index` processes keep adding freshly generated files to the
db the server reads. Prints searches, p50 / p99 latency and errors, what the writer did in that
time, and whether a file indexed during the run is found by the running server.

Example:
    $ OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_serve.py --clients 20 --seconds 60
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))  # synth: the media generator
import synth  # noqa: E402

QUERIES = ["warehouse budget", "hiring plan", "spring launch", "quarterly review", "a beep", "rain noise"]
OMNI = str(Path(sys.executable).with_name("omnisearch"))


def make_library(root: Path) -> None:
    speech = [
        (0.5, "welcome to the quarterly review"),
        (6.0, "today we discuss the budget for the new warehouse in Lisbon"),
        (16.0, "the hiring plan for the support team"),
        (26.0, "and the marketing campaign for the spring launch"),
    ]
    synth.make_video(root / "talk.mp4", seconds=40, speech=speech, onscreen_text="QUARTERLY REVIEW")
    for i, kind in enumerate(("sine", "pink", "chirp", "square")):
        synth.tone_wav(root / f"s{i}.wav", 220 + 110 * i, 2.0, kind=kind)


def get_json(url: str, timeout: float = 60.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def writer(db: Path, work: Path, stop: float, log: dict) -> None:
    """Index batches of new files (2 sounds + a short spoken clip each) until `stop`."""
    n = 0
    while time.time() < stop:
        batch = work / f"batch{n:03d}"
        batch.mkdir(parents=True)
        synth.tone_wav(batch / f"tone{n}.wav", 300 + 37 * n, 1.5, kind="saw")
        synth.tone_wav(batch / f"noise{n}.wav", 0, 1.5, kind="brown", seed=n)
        synth.make_video(batch / f"note{n}.mp4", seconds=None, speech=f"note number {n} about the budget")
        t = time.time()
        r = subprocess.run(
            [OMNI, "index", str(batch), "--db", str(db), "--json"], capture_output=True, text=True
        )
        log["runs"].append({"batch": batch.name, "rc": r.returncode, "s": round(time.time() - t, 1)})
        if r.returncode == 0:
            log["files"] += json.loads(r.stdout)["files_indexed"]
            log["last_batch"] = batch
        n += 1


def clients(base: str, n: int, stop: float) -> tuple[list[float], list[str]]:
    lat: list[float] = []
    errs: list[str] = []

    def run(i: int) -> None:
        j = 0
        while time.time() < stop:
            q = urllib.parse.quote(QUERIES[(i + j) % len(QUERIES)])
            j += 1
            t = time.perf_counter()
            try:
                body = get_json(f"{base}/api/search?q={q}&k=5")
                if not body["hits"]:
                    raise ValueError("no hits")
                lat.append(time.perf_counter() - t)
            except Exception as e:  # any failure counts as an error
                errs.append(repr(e))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return lat, errs


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000 if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=4, help="the server's search pool")
    ap.add_argument("--no-writer", action="store_true", help="measure without a concurrent index")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    lib, db = work / "lib", work / "db"
    lib.mkdir()
    make_library(lib)
    subprocess.run([OMNI, "index", str(lib), "--db", str(db)], check=True, capture_output=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    srv = subprocess.Popen(
        [OMNI, "serve", "--db", str(db), "--port", str(port), "--workers", str(args.workers)],
        stdout=subprocess.DEVNULL,
        stderr=open(work / "serve.log", "w"),  # noqa: SIM115 - closed with the process
    )
    try:
        t0 = time.time()
        while True:
            try:
                before = get_json(f"{base}/api/health", timeout=2)["clips"]
                break
            except OSError:
                if srv.poll() is not None or time.time() - t0 > 300:
                    sys.exit(f"server did not start: {(work / 'serve.log').read_text()[-500:]}")
                time.sleep(0.5)
        start_s = time.time() - t0
        stop = time.time() + args.seconds
        log: dict = {"runs": [], "files": 0, "last_batch": None}
        w = None if args.no_writer else threading.Thread(target=writer, args=(db, work / "new", stop, log))
        if w:
            w.start()
        lat, errs = clients(base, args.clients, stop)
        if w:
            w.join()
        after = get_json(f"{base}/api/health")["clips"]
        found = None
        if log["last_batch"] is not None:
            name = next(p.name for p in log["last_batch"].glob("note*.mp4"))
            q = urllib.parse.quote(name.removesuffix(".mp4").replace("note", "note number "))
            hits = get_json(f"{base}/api/search?q={q}&k=20&path=*{name}")["hits"]
            found = bool(hits)
    finally:
        srv.terminate()
        srv.wait(timeout=60)
    out = {
        "clients": args.clients,
        "seconds": args.seconds,
        "server_workers": args.workers,
        "server_start_s": round(start_s, 1),
        "searches": len(lat),
        "searches_per_s": round(len(lat) / args.seconds, 1),
        "p50_ms": round(pct(lat, 0.50), 1),
        "p99_ms": round(pct(lat, 0.99), 1),
        "errors": len(errs),
        "writer_runs": len(log["runs"]),
        "writer_failed_runs": sum(r["rc"] != 0 for r in log["runs"]),
        "files_indexed_during_run": log["files"],
        "clips_before": before,
        "clips_after": after,
        "new_file_found_by_running_server": found,
        "cores": os.cpu_count(),
    }
    print(json.dumps(out))
    print(
        f"{args.clients} clients x {args.seconds:g} s, index writing meanwhile ({len(log['runs'])} runs, "
        f"{log['files']} files, clips {before} -> {after}): {len(lat)} searches, p50 {out['p50_ms']} ms, "
        f"p99 {out['p99_ms']} ms, {len(errs)} errors" + (f" e.g. {errs[0]}" if errs else "")
    )


if __name__ == "__main__":
    main()
