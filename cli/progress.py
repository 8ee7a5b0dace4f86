"""A rich progress display (files and clips, with clips/s and an ETA) for `omnisearch index`, driven by
the writer: a file's clips count when they are committed.

Example:
    >>> with IngestProgress(disable=True) as p:
    ...     cb = p.callbacks()
"""

from __future__ import annotations

import os

from omnisearch.ingest.pipeline import Progress


class IngestProgress:
    def __init__(self, disable: bool = False) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        self.bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[detail]}"),
            disable=disable,
            transient=False,
            console=Console(stderr=True),  # stdout holds only results (and --json)
        )
        self.files = self.bar.add_task("files", total=None, detail="", rate="")
        self.clips = self.bar.add_task("clips", total=0, detail="", rate="")

    def __enter__(self) -> IngestProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def callbacks(self) -> Progress:
        def on_start(n: int) -> None:
            self.bar.update(self.files, total=n)

        def on_file(path: str, n_clips: int) -> None:
            total = self.bar.tasks[self.clips].total or 0
            self.bar.update(self.clips, total=total + n_clips, detail=os.path.basename(path))

        def on_clips(n: int) -> None:
            self.bar.advance(self.clips, n)
            task = self.bar.tasks[self.clips]
            elapsed = task.elapsed or 0.0
            rate = f"{task.completed / elapsed:.2f} clips/s" if elapsed > 0 else ""
            self.bar.update(self.clips, rate=rate)

        def on_file_done(path: str, status: str) -> None:
            self.bar.advance(self.files, 1)
            if status == "failed":
                self.bar.console.print(f"[yellow]skipped[/] {path}", highlight=False)

        return Progress(on_start=on_start, on_file=on_file, on_clips=on_clips, on_file_done=on_file_done)
