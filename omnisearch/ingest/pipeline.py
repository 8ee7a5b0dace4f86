"""The ingestion pipeline: walk -> fingerprint -> probe -> segment -> decode -> transcribe -> embed -> write.

Each file is written as soon as it is embedded, in one commit that also drops its stale rows
(`VectorStore.replace_file`), so an interrupted run loses at most the file in flight and the next run
resumes where it stopped (files whose fingerprint is already stored are skipped). The whole run holds
the index's writer lock (one writer per index). Only files that no longer exist lose their rows: a
file or folder that cannot be read is reported and its rows are kept.

Example:
    >>> from omnisearch.indexers import open_store
    >>> from omnisearch.models import load_encoder
    >>> report = index_paths(["~/Videos"], open_store("lancedb", "db"), load_encoder())  # doctest: +SKIP
    >>> report.clips_written                                                              # doctest: +SKIP
    412
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from omnisearch.config import DecodeConfig, SegmentConfig
from omnisearch.indexers.base import VectorStore
from omnisearch.indexers.lock import LockHolder, WriterLock
from omnisearch.ingest.clips import ClipJob, plan_jobs, records_from
from omnisearch.media.errors import MediaError
from omnisearch.media.sidecar import sidecar_problem
from omnisearch.media.walk import FoundFile, file_hash, find_media
from omnisearch.models.base import Encoder
from omnisearch.spec import IndexSpec, check_spec
from omnisearch.types import ClipRecord


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
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def clips_per_second(self) -> float:
        return self.clips_written / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def realtime_factor(self) -> float:
        """Seconds of media indexed per second of wall time."""
        return self.media_seconds / self.wall_seconds if self.wall_seconds else 0.0


@dataclass
class Progress:
    """Callbacks the CLI plugs a progress bar into; all optional."""

    on_start: Callable[[int], None] = lambda n_files: None
    on_file: Callable[[str, int], None] = lambda path, n_clips: None
    on_clips: Callable[[int], None] = lambda n: None
    on_file_done: Callable[[str, str], None] = lambda path, status: None


def fingerprint(found: FoundFile) -> str:
    """Content hash of the media file, extended by its sidecars' contents (so an edited subtitle
    file re-indexes its video)."""
    h = file_hash(found.path)
    if not found.sidecars:
        return h
    acc = hashlib.sha256(h.encode())
    for side in sorted(found.sidecars):
        acc.update(os.path.basename(side).encode())
        acc.update(file_hash(side).encode())
    return acc.hexdigest()


def drop_bad_sidecars(f: FoundFile) -> list[tuple[str, str]]:
    """Remove binary, oversized or unreadable sidecars from `f` (before its fingerprint is taken);
    returns (sidecar, reason) of each one left out."""
    out = []
    for side in list(f.sidecars):
        problem = sidecar_problem(side)
        if problem:
            f.sidecars.remove(side)
            out.append((side, f"sidecar left out: {problem}"))
    return out


def missing_reason(path: str) -> str | None:
    """None when `path` exists; "gone" when it no longer exists;
    otherwise why it cannot be checked (permissions, I/O error, a mount gone stale).

    Example:
        >>> missing_reason("/no/such/file.wav")
        'gone'
    """
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "gone"
    except OSError as e:
        return f"cannot read: {e.strerror or e}"
    return None


def _under(path: str, roots: list[str]) -> bool:
    for root in roots:
        if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
            return True
    return False


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
) -> IngestReport:
    """Index files and folders into `store` incrementally (new or changed files only); rows of files
    that no longer exist under the given folders are removed. Holds the store's writer lock: waits for
    another writer (`on_wait(holder)` is called once) or, with `wait=False`, raises IndexBusyError.
    Files in `force` (absolute paths) are re-embedded even when unchanged."""
    lock_file = store.lock_path()
    lock = WriterLock(lock_file).hold(wait=wait, on_wait=on_wait) if lock_file else contextlib.nullcontext()
    with lock:
        return _index_locked(paths, store, encoder, segment_cfg, decode_cfg, progress, force)


def _index_locked(
    paths: list[str],
    store: VectorStore,
    encoder: Encoder,
    segment_cfg: SegmentConfig | None,
    decode_cfg: DecodeConfig | None,
    progress: Progress | None,
    force: frozenset[str],
) -> IngestReport:
    segment_cfg = segment_cfg or SegmentConfig()
    decode_cfg = decode_cfg or DecodeConfig()
    progress = progress or Progress()
    report = IngestReport()
    t0 = time.perf_counter()

    store.ensure_encoder(encoder.record)
    roots = [os.path.abspath(os.path.expanduser(p)) for p in paths]
    _record_spec(store, encoder, segment_cfg, decode_cfg, roots)
    found, bad = find_media([os.path.expanduser(p) for p in paths])
    report.failed.extend(bad)
    report.files_found = len(found)
    indexed = store.files()

    present = {f.path for f in found}
    gone = []
    for p in indexed:
        if _under(p, roots) and p not in present:
            reason = missing_reason(p)
            if reason == "gone":
                gone.append(p)
            else:  # unreadable, or under an unreadable folder: missing is not deleted
                report.kept.append((p, f"{reason or 'not reachable by the walk'}; its clips are kept"))
    if gone:
        store.delete_paths(gone)
        report.files_removed = len(gone)

    progress.on_start(len(found))
    for f in found:
        t = time.perf_counter()
        report.warnings += drop_bad_sidecars(f)
        try:
            fp = fingerprint(f)
        except OSError as e:
            reason = f"cannot read: {e.strerror or e}"
            report.failed.append((f.path, reason + ("; its clips are kept" if f.path in indexed else "")))
            progress.on_file_done(f.path, "failed")
            continue
        report.timings["hash"] += time.perf_counter() - t
        if indexed.get(f.path) == fp and f.path not in force:
            report.files_unchanged += 1
            progress.on_file_done(f.path, "unchanged")
            continue
        try:
            n = _index_file(f, fp, store, encoder, segment_cfg, decode_cfg, progress, report)
        except MediaError as e:
            report.failed.append((f.path, e.reason))
            progress.on_file_done(f.path, "failed")
            continue
        report.files_indexed += 1
        report.clips_written += n
        progress.on_file_done(f.path, "indexed")
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


def _index_file(
    f: FoundFile,
    fp: str,
    store: VectorStore,
    encoder: Encoder,
    segment_cfg: SegmentConfig,
    decode_cfg: DecodeConfig,
    progress: Progress,
    report: IngestReport,
) -> int:
    """Embed a file batch by batch (decoded frames of a batch only are held in memory) and write all its
    records at the end, so a file is either fully indexed or, after an interruption, not at all."""
    info, spans, jobs = plan_jobs(f, encoder, segment_cfg, decode_cfg, report.timings)
    progress.on_file(f.path, len(spans))
    records: list[ClipRecord] = []
    added_at = time.time()
    batch_size = max(1, encoder.options.batch_size)
    for batch in _batched(jobs, batch_size):
        t = time.perf_counter()
        embeddings = encoder.encode([j.input for j in batch])
        report.timings["embed"] += time.perf_counter() - t
        records += records_from(f, fp, batch, embeddings, added_at=added_at)
        progress.on_clips(len(batch))
    t = time.perf_counter()
    store.replace_file(f.path, records)
    report.timings["write"] += time.perf_counter() - t
    report.media_seconds += max(info.duration, 0.0)
    return len(records)


def _batched(items: Iterator[ClipJob], n: int) -> Iterator[list[ClipJob]]:
    batch: list[ClipJob] = []
    for item in items:
        batch.append(item)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch
