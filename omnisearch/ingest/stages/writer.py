"""Writer stage: a background thread that commits each file's rows, all of them in one commit
(`VectorStore.replace_files`: a file is fully indexed or, after an interruption, not at all); files
that are ready together share a commit.

The pipeline hands it complete files (`put`); the writer drives the progress display (clips written,
files done), remembers the stats of committed files (`statcache`) and re-raises a store error in the
pipeline's thread at the next `put` or at `close`.

Example:
    >>> w = Writer(store, progress, stats)   # doctest: +SKIP
    >>> w.put(commit); w.close()             # doctest: +SKIP
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

from omnisearch.ingest.stages.items import FileTask
from omnisearch.ingest.statcache import StatCache
from omnisearch.types import ClipRecord


@dataclass
class Commit:
    task: FileTask
    records: list[ClipRecord]
    media_seconds: float


class Writer:
    """One thread, a queue of at most `depth` files; `written` files and clips, `seconds` spent. Files
    that wait in the queue together are committed together (`VectorStore.replace_files`, at most
    `per_commit` a commit): a library of short files is not written one commit per file."""

    def __init__(self, store, progress, stats: StatCache, depth: int = 64, per_commit: int = 64) -> None:
        self.store, self.progress, self.stats = store, progress, stats
        self.q: queue.Queue[Commit | None] = queue.Queue(maxsize=depth)
        self.per_commit = per_commit
        self.error: BaseException | None = None
        self.files = self.clips = 0
        self.media_seconds = 0.0
        self.seconds = 0.0
        self.thread = threading.Thread(target=self._run, name="omnisearch-writer", daemon=True)
        self.thread.start()

    def _batch(self) -> tuple[list[Commit], bool]:
        """The next file, and every other one already queued (up to `per_commit`); True at the end."""
        first = self.q.get()
        if first is None:
            return [], True
        batch = [first]
        while len(batch) < self.per_commit:
            try:
                c = self.q.get_nowait()
            except queue.Empty:
                break
            if c is None:
                return batch, True
            batch.append(c)
        return batch, False

    def _run(self) -> None:
        done = False
        while not done:
            batch, done = self._batch()
            if not batch or self.error is not None:
                continue  # drain: nothing more is written after a failure
            t = time.perf_counter()
            try:
                files: dict[str, list[ClipRecord]] = {}
                for c in batch:  # a path queued twice: its last version wins
                    files[c.task.found.path] = c.records
                self.store.replace_files(files)
            except BaseException as e:  # re-raised in the pipeline's thread
                self.error = e
                continue
            finally:
                self.seconds += time.perf_counter() - t
            for c in batch:
                f = c.task.found
                self.stats.remember(f.path, f.sidecars, c.task.fingerprint, c.task.stat)
                self.files += 1
                self.clips += len(c.records)
                self.media_seconds += c.media_seconds
                self.progress.on_clips(len(c.records))
                self.progress.on_file_done(f.path, "indexed")

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def put(self, commit: Commit) -> None:
        self._check()
        self.q.put(commit)

    def close(self) -> None:
        """Wait for every queued file to be written; re-raise the first store error."""
        self.q.put(None)
        self.thread.join()
        self._check()
