"""The local engine: reader processes -> enricher -> encoder -> writer thread, on one machine.

Reader workers decode ahead through a bounded queue; this thread reads on-screen text and embeds
(batches cross files) while the enricher's speech thread transcribes, so a clip is embedded once its
words are known (`encode_stage.TextGate`); the writer thread commits each file as soon as its last clip
is embedded. Each stage keeps its own time (`StageTimes`); the reader's is the sum over its workers.

Example:
    >>> job = IngestJob(store, encoder, SegmentConfig(), DecodeConfig(), progress, stats)  # doctest: +SKIP
    >>> res = run_local(tasks, job, workers=1)                                           # doctest: +SKIP
    >>> res.times.busiest()                                                  # doctest: +SKIP
    'encode'
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from omnisearch.config import DecodeConfig, SegmentConfig
from omnisearch.ingest.clips import OpenFile
from omnisearch.ingest.stages.background import one_blas_thread
from omnisearch.ingest.stages.encode_stage import EncodeStage
from omnisearch.ingest.stages.enricher import Enricher
from omnisearch.ingest.stages.items import ChunkAudio, Clips, FileEnd, FileFailed, FileStart, FileTask
from omnisearch.ingest.stages.reader import read_all
from omnisearch.ingest.stages.writer import Writer
from omnisearch.ingest.statcache import StatCache
from omnisearch.models.base import Encoder

if TYPE_CHECKING:
    from omnisearch.indexers.base import VectorStore
    from omnisearch.ingest.pipeline import Progress


@dataclass
class StageTimes:
    """Seconds spent in each stage (the reader's summed over its workers)."""

    read: float = 0.0
    enrich: float = 0.0
    encode: float = 0.0
    write: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {"read": self.read, "enrich": self.enrich, "encode": self.encode, "write": self.write}

    def busiest(self) -> str:
        d = self.as_dict()
        return max(d, key=lambda k: d[k])


@dataclass
class IngestJob:
    """What an engine indexes its tasks with: the store, the encoder, how files become clips, and the
    progress callbacks and file stats the writer keeps (one record for the local and the Ray engine)."""

    store: VectorStore
    encoder: Encoder
    seg: SegmentConfig
    dec: DecodeConfig
    progress: Progress
    stats: StatCache


@dataclass
class LocalResult:
    times: StageTimes
    failed: list[tuple[str, str]]
    files: int
    clips: int
    media_seconds: float


def run_local(tasks: list[FileTask], job: IngestJob, workers: int) -> LocalResult:
    """Index `tasks` (new or changed files) into the job's store; returns the stage times and what failed."""
    with one_blas_thread():
        return _run(tasks, job, workers)


def _run(tasks: list[FileTask], job: IngestJob, workers: int) -> LocalResult:
    times, progress = StageTimes(), job.progress
    enricher = Enricher(job.encoder, background=True)  # speech on its own thread, alongside the encoder
    encode = EncodeStage(job.encoder, gate=enricher, background=True)
    writer = Writer(job.store, progress, job.stats)
    open_files: dict[str, OpenFile] = {}
    failed: list[tuple[str, str]] = []
    added_at = time.time()

    def finish_ready() -> None:
        for path in [p for p, o in open_files.items() if o.read_all and not encode.pending(p)]:
            o = open_files.pop(path)
            enricher.end(path)
            encode.end(path)
            writer.put(o.commit(added_at))

    def collect(final: bool) -> None:
        for path, job, emb in encode.drain(final):
            if path in open_files:  # a file that failed meanwhile is dropped
                open_files[path].jobs.append((job, emb))

    try:
        for msg in read_all(tasks, job.seg, job.dec, workers):
            if isinstance(msg, FileStart):
                open_files[msg.task.found.path] = OpenFile(msg)
                progress.on_file(msg.task.found.path, len(msg.spans))
            elif isinstance(msg, ChunkAudio):
                enricher.chunk(msg)
                encode.chunk(msg)
            elif isinstance(msg, Clips):
                enricher.clips(msg.path, msg.jobs)
                encode.add(msg.path, msg.jobs)
                collect(final=False)
            elif isinstance(msg, FileEnd):
                times.read += msg.read_s
                open_files[msg.path].read_all = True
            elif isinstance(msg, FileFailed):
                times.read += msg.read_s
                failed.append((msg.path, msg.reason))
                open_files.pop(msg.path, None)
                enricher.end(msg.path)
                encode.queue = [(p, j) for p, j in encode.queue if p != msg.path]
                encode.end(msg.path)
                progress.on_file_done(msg.path, "failed")
            finish_ready()
        collect(final=True)
        finish_ready()
    finally:
        enricher.close()
        encode.close()
        try:
            writer.close()
        finally:
            times.enrich, times.encode, times.write = enricher.seconds, encode.seconds, writer.seconds
    return LocalResult(times, failed, writer.files, writer.clips, writer.media_seconds)
