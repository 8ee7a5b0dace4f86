"""Stored rows of one file's embedded clips, and a file being assembled from them (both engines).

Example:
    >>> records = records_from(found, fingerprint, jobs, embeddings, added_at=time.time())  # doctest: +SKIP
    >>> f = OpenFile(start); f.jobs.append((job, emb)); writer.put(f.commit(added_at))       # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from omnisearch.ingest.stages.items import ClipJob, FileStart
from omnisearch.ingest.stages.writer import Commit
from omnisearch.media.walk import FoundFile
from omnisearch.types import ClipRecord, Embedding, clip_id


def records_from(
    f: FoundFile, fingerprint: str, jobs: list[ClipJob], embeddings: list[Embedding], added_at: float
) -> list[ClipRecord]:
    """Stored rows for the clips of one file (clips with no modality at all are dropped). Transcript and
    on-screen text come from the enricher (the clip's input); tags (what is seen) from the encoder."""
    # identical files at two paths are two sets of clips: the id hashes the path with the content
    key = hashlib.sha256(f"{f.path}\0{fingerprint}".encode()).hexdigest()
    records = []
    for job, emb in zip(jobs, embeddings, strict=True):
        if not emb.vectors:
            continue
        records.append(
            ClipRecord(
                clip_id=clip_id(key, job.span.start, job.span.end),
                path=f.path,
                media_type=f.media_type.value,
                start=job.span.start,
                end=job.span.end,
                file_hash=fingerprint,
                text=job.text,
                transcript=job.input.transcript or "",
                ocr_text=job.input.ocr_text or "",
                tags=emb.derived.get("tags", ""),
                keyframe=job.keyframe,
                added_at=added_at,
                vectors=emb.vectors,
            )
        )
    return records


@dataclass
class OpenFile:
    """A file whose clips are being embedded: its start message, the (job, embedding) pairs so far, and
    whether its reader has finished (`read_all`)."""

    start: FileStart | None = None
    jobs: list[tuple[ClipJob, Embedding]] = field(default_factory=list)
    read_all: bool = False

    def commit(self, added_at: float) -> Commit:
        """The writer's commit of the file: the rows of its clips, in the order of `jobs`."""
        assert self.start is not None, "a file commits after its start message"
        task = self.start.task
        jobs, embs = [j for j, _ in self.jobs], [e for _, e in self.jobs]
        records = records_from(task.found, task.fingerprint, jobs, embs, added_at=added_at)
        return Commit(task, records, max(self.start.info.duration, 0.0))
