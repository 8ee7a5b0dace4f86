"""Encoder stage: it only embeds. Clips from any number of files wait in one queue and are embedded in
batches of the encoder's batch size, so a library of short sounds is encoded many clips a call.

For a `capabilities.SoundBlockEncoder` (omni-lite), each decoded chunk's audio is embedded once in short
blocks, all chunks waiting in the queue together, and each window's sound vector is pooled from the
blocks it covers (`audio_aisfx.blocks_in_span`), instead of embedding every overlapping window's audio
again. Other encoders get `encode(inputs)`, with the same out-of-memory back-off.

Example:
    >>> stage = EncodeStage(encoder)                       # doctest: +SKIP
    >>> stage.chunk(chunk_audio); stage.add(path, jobs)     # doctest: +SKIP
    >>> for path, job, emb in stage.drain(final=True): ...  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from omnisearch.ingest.stages.items import ChunkAudio, ClipJob
from omnisearch.models.audio_aisfx import BlockRows, blocks_in_span
from omnisearch.models.base import Encoder
from omnisearch.models.batching import encode_with_backoff
from omnisearch.models.capabilities import SoundBlockEncoder
from omnisearch.types import Embedding


def window_rows(grid: BlockRows, chunk_start: float, t0: float, t1: float) -> np.ndarray:
    """The raw block rows of a chunk's audio (which starts at `chunk_start` s) that stand for [t0, t1)."""
    idx = blocks_in_span(grid.starts, grid.block_seconds, t0 - chunk_start, t1 - chunk_start)
    return grid.rows[idx]


class EncodeStage:
    """`chunk(msg)` registers a chunk's audio, `add(path, jobs)` queues clips, `drain(final)` yields
    (path, job, embedding) for every full batch (every queued clip when `final`), in queue order.
    `seconds` is the time spent embedding."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.blocks = encoder if isinstance(encoder, SoundBlockEncoder) else None
        self.batch_size = max(1, encoder.options.batch_size)
        self.queue: list[tuple[str, ClipJob]] = []
        self.audio: dict[tuple[str, int], ChunkAudio] = {}
        self.grids: dict[tuple[str, int], BlockRows | None] = {}
        self.audio_start: dict[tuple[str, int], float] = {}
        self.seconds = 0.0

    def chunk(self, msg: ChunkAudio) -> None:
        if self.blocks is not None:
            self.audio[(msg.path, msg.chunk)] = msg

    def add(self, path: str, jobs: list[ClipJob]) -> None:
        self.queue += [(path, j) for j in jobs]

    def end(self, path: str) -> None:
        """Forget a file's chunks once all its clips were drained (call after its last drain)."""
        for key in [k for k in self.grids if k[0] == path]:
            del self.grids[key], self.audio_start[key]
        for key in [k for k in self.audio if k[0] == path]:
            del self.audio[key]

    def pending(self, path: str) -> bool:
        return any(p == path for p, _ in self.queue)

    def drain(self, final: bool = False) -> Iterator[tuple[str, ClipJob, Embedding]]:
        while len(self.queue) >= self.batch_size or (final and self.queue):
            batch = self.queue[: self.batch_size]
            t = time.perf_counter()
            embs = self._embed(batch)
            self.seconds += time.perf_counter() - t
            self.queue = self.queue[len(batch) :]
            for (path, job), emb in zip(batch, embs, strict=True):
                yield path, job, emb

    def _embed(self, batch: list[tuple[str, ClipJob]]) -> list[Embedding]:
        inputs = [job.input for _, job in batch]
        if self.blocks is None:
            return encode_with_backoff(self.encoder.encode, inputs, self.batch_size)
        self._embed_chunks({(p, j.chunk) for p, j in self.queue})
        sounds: list[np.ndarray | None] = []
        for path, job in batch:
            grid = self.grids.get((path, job.chunk))
            has_audio = job.input.audio is not None and len(job.input.audio) > 0
            if grid is None or not has_audio:
                sounds.append(None)
                continue
            start = self.audio_start.get((path, job.chunk), 0.0)
            sounds.append(window_rows(grid, start, job.span.start, job.span.end))
        return self.blocks.encode_pooled(inputs, sounds)

    def _embed_chunks(self, keys: set[tuple[str, int]]) -> None:
        """Block embeddings of every queued chunk not embedded yet, in one batched call."""
        todo = sorted(k for k in keys if k not in self.grids and k in self.audio)
        if not todo or self.blocks is None:
            return
        msgs = [self.audio.pop(k) for k in todo]
        grids = self.blocks.sound_blocks([m.audio for m in msgs])
        for k, m, g in zip(todo, msgs, grids, strict=True):
            self.grids[k] = g
            self.audio_start[k] = m.start
