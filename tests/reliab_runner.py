"""A writer process for the reliability tests: the real ingest pipeline and a real store, with a small
deterministic encoder over the decoded audio (its spectrum), so many processes can be started, raced
and killed quickly.

    python tests/reliab_runner.py DB LIB [LIB ...] [--store qdrant] [--delay S] [--signal] [--no-wait]
                                  [--window SECONDS (2; overlap half of it)]

Prints the ingest report as JSON on its last stdout line; `--signal` prints `COMMIT <path>` just
before each file's commit (so a test can kill a writer inside it); `--delay` sleeps per encoder batch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

from omnisearch.config import SegmentConfig
from omnisearch.indexers import WriterLock, lock_path_for
from omnisearch.models.base import Encoder, EncoderOptions, l2_normalize
from omnisearch.types import Embedding, EncoderInput, Modality

DIM = 16


class SpectrumEncoder(Encoder):
    """Audio -> the normalised energy of DIM frequency bands (audio and fused vectors)."""

    name, version, dim = "spectrum-test", "1", DIM

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(EncoderOptions(batch_size=2))
        self.delay = delay

    def encode(
        self, items: Sequence[EncoderInput], progress: Callable[[int], None] | None = None
    ) -> list[Embedding]:
        time.sleep(self.delay)
        out = []
        for it in items:
            if it.audio is None or not len(it.audio):
                out.append(Embedding(vectors={}))
                continue
            spec = np.abs(np.fft.rfft(np.asarray(it.audio, np.float64)))
            bands = np.array([b.sum() for b in np.array_split(spec, DIM)], np.float32) + 1e-3
            v = l2_normalize(bands)
            out.append(Embedding(vectors={Modality.AUDIO: v, Modality.FUSED: v}))
        return out


def open_test_store(kind: str, db: str, signal: bool):
    from omnisearch.indexers import open_store

    store = open_store(kind, db)
    if signal:
        inner = store.replace_files

        def replace_files(files):
            for path in files:
                print(f"COMMIT {path}", flush=True)
            inner(files)

        store.replace_files = replace_files  # the test kills the process inside this call
    return store


def main(argv: list[str]) -> int:
    from omnisearch.indexers import IndexBusyError
    from omnisearch.ingest.pipeline import index_paths

    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("libs", nargs="+")
    ap.add_argument("--store", default="lancedb")
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--signal", action="store_true")
    ap.add_argument("--no-wait", action="store_true")
    ap.add_argument("--window", type=float, default=2.0)
    a = ap.parse_args(argv)
    # like the CLI: the lock before the store (a Qdrant local folder allows one client at a time)
    lock = WriterLock(lock_path_for(a.db))
    try:
        with lock.hold(wait=not a.no_wait, on_wait=lambda h: print(f"WAITING {h}", flush=True)):
            store = open_test_store(a.store, a.db, a.signal)
            report = index_paths(
                a.libs, store, SpectrumEncoder(a.delay), SegmentConfig(window=a.window, overlap=a.window / 2)
            )
            store.close()
    except IndexBusyError as e:
        print(f"BUSY {e}", flush=True)
        return 2
    took = lock.took_over.pid if lock.took_over else None
    print(
        json.dumps(
            {
                "indexed": report.files_indexed,
                "unchanged": report.files_unchanged,
                "removed": report.files_removed,
                "clips": report.clips_written,
                "failed": report.failed,
                "kept": report.kept,
                "took_over": took,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
