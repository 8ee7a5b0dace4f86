"""Writer stage: a background thread that commits each file's rows, all of them in one
`VectorStore.replace_file` call (a file is fully indexed or, after an interruption, not at all).

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
    """One thread, a queue of at most `depth` files; `written` files and clips, `seconds` spent."""

    def __init__(self, store, progress, stats: StatCache, depth: int = 4) -> None:
        self.store, self.progress, self.stats = store, progress, stats
        self.q: queue.Queue[Commit | None] = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.files = self.clips = 0
        self.media_seconds = 0.0
        self.seconds = 0.0
        self.thread = threading.Thread(target=self._run, name="omnisearch-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (c := self.q.get()) is not None:
            if self.error is not None:
                continue  # drain: nothing more is written after a failure
            t = time.perf_counter()
            try:
                self.store.replace_file(c.task.found.path, c.records)
            except BaseException as e:  # re-raised in the pipeline's thread
                self.error = e
                continue
            finally:
                self.seconds += time.perf_counter() - t
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
