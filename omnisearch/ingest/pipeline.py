"""The ingestion pipeline, in four stages (`omnisearch.ingest.stages`): reader (walk, skip unchanged
files by stats, hash the rest, probe, segment, decode in worker processes) -> enricher (speech where a
voice-activity check hears some, on-screen text of frames that changed) -> encoder (batches across
files) -> writer (a thread).

Each file is written as soon as its last clip is embedded, in one commit that also drops its stale rows
(`VectorStore.replace_files`; files ready together share it), so an interrupted run loses at most the
files in flight and the next run resumes where it stopped (files whose fingerprint is already stored
are skipped). The whole run holds the index's writer lock (one writer per index). Only files that no
longer exist lose their rows: a file or folder that cannot be read is reported and its rows are kept.

Example:
    >>> from omnisearch.indexers import open_store
    >>> from omnisearch.models import load_encoder
    >>> report = index_paths(["~/Videos"], open_store("lancedb", "db"), load_encoder())  # doctest: +SKIP
    >>> report.clips_written                                                              # doctest: +SKIP
    412
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from omnisearch.config import DecodeConfig, SegmentConfig, set_thread_env
from omnisearch.indexers.base import VectorStore
from omnisearch.indexers.lock import LockHolder, WriterLock
from omnisearch.ingest.stages.items import FileTask
from omnisearch.ingest.stages.local import IngestJob, LocalResult, run_local
from omnisearch.ingest.stages.reader import default_workers, select_files
from omnisearch.ingest.statcache import StatCache
from omnisearch.models.base import Encoder
from omnisearch.spec import IndexSpec, check_spec


@dataclass
class IngestReport:
    """What a run did. `failed`: (path, reason) of files and folders that could not be indexed or read;
    `kept`: (path, reason) of indexed files that could not be read, whose rows were kept; `warnings`:
    (path, reason) of sidecars left out (binary, too large)."""

    files_found: int = 0
    files_indexed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    clips_written: int = 0
    media_seconds: float = 0.0
    wall_seconds: float = 0.0
    failed: list[tuple[str, str]] = field(default_factory=list)
    maintenance: list[str] = field(default_factory=list)  # what the store did to its indexes after
    kept: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # hash + each stage

    @property
    def busiest(self) -> str:
        """The stage that took the longest ("" before any ran)."""
        stages = {k: v for k, v in self.timings.items() if k != "hash"}
        return max(stages, key=lambda k: stages[k]) if stages else ""

    @property
    def clips_per_second(self) -> float:
        return self.clips_written / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def realtime_factor(self) -> float:
        """Seconds of media indexed per second of wall time."""
        return self.media_seconds / self.wall_seconds if self.wall_seconds else 0.0


class Engine(Protocol):
    """Runs the reader, enricher and encoder stages over `tasks` somewhere other than this process and
    commits each file through the `stages.writer.Writer` here (all of a file's clips at once)."""

    def run(self, tasks: list[FileTask], job: IngestJob) -> LocalResult: ...


@dataclass
class Progress:
    """Callbacks the CLI plugs a progress bar into; all optional. `on_clips` and `on_file_done` with
    "indexed" come from the writer thread, as each file is committed."""

    on_start: Callable[[int], None] = lambda n_files: None
    on_file: Callable[[str, int], None] = lambda path, n_clips: None
    on_clips: Callable[[int], None] = lambda n: None
    on_file_done: Callable[[str, str], None] = lambda path, status: None


def index_paths(
    paths: list[str],
    store: VectorStore,
    encoder: Encoder,
    segment_cfg: SegmentConfig | None = None,
    decode_cfg: DecodeConfig | None = None,
    progress: Progress | None = None,
    wait: bool = True,
    on_wait: Callable[[LockHolder | None], None] | None = None,
    force: frozenset[str] = frozenset(),
    workers: int | None = None,
    engine: Engine | None = None,
) -> IngestReport:
    """Index files and folders into `store` incrementally (new or changed files only); rows of files
    that no longer exist under the given folders are removed. Holds the store's writer lock: waits for
    another writer (`on_wait(holder)` is called once) or, with `wait=False`, raises IndexBusyError.
    Files in `force` (absolute paths) are re-embedded even when unchanged. `workers`: decoder processes
    (None: `default_workers()`; 0: decode in this process). `engine`: where the files are decoded and
    embedded (None: the local stages, `run_local`; `omnisearch.ingest.ray_engine.RayEngine`: Ray Data);
    files are selected here and written by the engine's writer either way."""
    lock_file = store.lock_path()
    lock = WriterLock(lock_file).hold(wait=wait, on_wait=on_wait) if lock_file else contextlib.nullcontext()
    with lock:
        n = default_workers() if workers is None else workers
        return _index_locked(paths, store, encoder, segment_cfg, decode_cfg, progress, force, n, engine)


def _index_locked(
    paths: list[str],
    store: VectorStore,
    encoder: Encoder,
    segment_cfg: SegmentConfig | None,
    decode_cfg: DecodeConfig | None,
    progress: Progress | None,
    force: frozenset[str],
    workers: int,
    engine: Engine | None = None,
) -> IngestReport:
    progress = progress or Progress()
    report = IngestReport()
    t0 = time.perf_counter()
    store.ensure_encoder(encoder.record)
    roots = [os.path.abspath(os.path.expanduser(p)) for p in paths]
    _record_spec(store, encoder, segment_cfg or SegmentConfig(), decode_cfg or DecodeConfig(), roots)
    set_thread_env()  # before torch loads: the encoder imports it once the decoders have started
    stats = StatCache(store.lock_path())
    tasks = select_files(paths, store, force, stats, report)
    progress.on_start(len(tasks) + report.files_unchanged)
    for _ in range(report.files_unchanged):
        progress.on_file_done("", "unchanged")
    try:
        seg, dec = segment_cfg or SegmentConfig(), decode_cfg or DecodeConfig()
        job = IngestJob(store, encoder, seg, dec, progress, stats)
        result = run_local(tasks, job, workers) if engine is None else engine.run(tasks, job)
    finally:
        stats.save()
    report.failed += result.failed
    report.files_indexed, report.clips_written = result.files, result.clips
    report.media_seconds = result.media_seconds
    report.timings.update(result.times.as_dict())
    if report.files_indexed or report.files_removed:
        report.maintenance = store.maintain()  # indexes past the threshold, full-text, compaction
    report.wall_seconds = time.perf_counter() - t0
    return report


def _record_spec(
    store: VectorStore,
    encoder: Encoder,
    segment_cfg: SegmentConfig,
    decode_cfg: DecodeConfig,
    roots: list[str],
) -> None:
    """Check this run's encoder and settings against the index's spec (EncoderMismatchError when they
    differ), then record the spec with this run's roots added."""
    spec = IndexSpec(
        encoder.record, encoder.source or encoder.name, encoder.source_digest, segment_cfg, decode_cfg
    )
    stored = store.spec()
    check_spec(stored, spec)
    store.save_spec((stored or spec).with_roots(roots))
