"""Encoder stage: it only embeds. Clips from any number of files wait in one queue and are embedded in
batches of the encoder's batch size, so a library of short sounds is encoded many clips a call.

For a `capabilities.SoundBlockEncoder` (omni-lite), each decoded chunk's audio is embedded once in short
blocks, and each window's sound vector is pooled from the blocks it covers
(`audio_aisfx.blocks_in_span`), instead of embedding every overlapping window's audio again. Other
encoders get `encode(inputs)`, with the same out-of-memory back-off.

With `background=True` (the local engine) the stage works beside the enricher's speech thread:
- a chunk's sound blocks are embedded on a thread of their own as soon as the chunk arrives;
- with a `TextGate` (the enricher), a batch is embedded only once its clips' words are known. While
  clips wait for their words or their sound blocks, a `capabilities.Preparing` encoder does the work
  that does not need them (omni-lite: the frames). At most `max_waiting` clips wait for words; past
  that, `drain` waits for the oldest batch's.
So on a CPU the transcriber, the sound network, the frame networks and the decoders each keep a core
busy instead of taking turns. Without it (the Ray engine's actors), everything runs in the caller's
thread and the sound blocks of all queued chunks go through the network in one call.

Example:
    >>> stage = EncodeStage(encoder)                       # doctest: +SKIP
    >>> stage.chunk(chunk_audio); stage.add(path, jobs)     # doctest: +SKIP
    >>> for path, job, emb in stage.drain(final=True): ...  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from omnisearch.ingest.stages.background import Background, done, wait_until
from omnisearch.ingest.stages.items import ChunkAudio, ClipJob
from omnisearch.models.audio_aisfx import BlockRows, blocks_in_span
from omnisearch.models.base import Encoder
from omnisearch.models.batching import encode_with_backoff
from omnisearch.models.capabilities import Preparing, SoundBlockEncoder, StreamingSoundBlocks
from omnisearch.types import Embedding


def window_rows(grid: BlockRows, chunk_start: float, t0: float, t1: float) -> np.ndarray:
    """The raw block rows of a chunk's audio (which starts at `chunk_start` s) that stand for [t0, t1)."""
    idx = blocks_in_span(grid.starts, grid.block_seconds, t0 - chunk_start, t1 - chunk_start)
    return grid.rows[idx]


@dataclass
class _Sound:
    """A chunk's sound blocks as the sound thread embeds them: `pieces` in time order, all of them once
    `future` is done (which then holds the whole grid, or None without audio)."""

    future: Future
    pieces: list[BlockRows] = field(default_factory=list)

    def grid_for(self, t1: float) -> BlockRows | None:
        """The grid so far, once it holds every block a window ending at `t1` (chunk time) may pool:
        all blocks whose centre lies before `t1`, and one past it (so the fallback to the block nearest
        the window's middle sees the same candidates); None until then, or without audio."""
        if self.future.done():
            return self.future.result()
        pieces = list(self.pieces)  # the sound thread appends meanwhile
        if not pieces or pieces[-1].starts[-1] + pieces[-1].block_seconds / 2 < t1:
            return None
        return joined(pieces)


def joined(pieces: list[BlockRows]) -> BlockRows | None:
    """One grid from consecutive pieces (None for none)."""
    if not pieces:
        return None
    rows = np.concatenate([p.rows for p in pieces])
    return BlockRows(rows, np.concatenate([p.starts for p in pieces]), pieces[-1].block_seconds)


class TextGate(Protocol):
    """Whether a queued clip's text is complete yet (`stages.enricher.Enricher`)."""

    def text_ready(self, path: str, job: ClipJob) -> bool: ...

    def wait_text(self, path: str, jobs: list[ClipJob]) -> None: ...


MAX_WAITING = 128  # clips queued while their words are being transcribed (their frames stay in memory)


class EncodeStage:
    """`chunk(msg)` registers a chunk's audio, `add(path, jobs)` queues clips, `drain(final)` yields
    (path, job, embedding) for every full batch (every queued clip when `final`) whose text is complete,
    in queue order. `seconds` is the time spent embedding (the sound thread's included)."""

    def __init__(
        self,
        encoder: Encoder,
        gate: TextGate | None = None,
        background: bool = False,
        max_waiting: int = MAX_WAITING,
    ) -> None:
        self.encoder = encoder
        self.blocks = encoder if isinstance(encoder, SoundBlockEncoder) else None
        self.prepares = encoder if isinstance(encoder, Preparing) else None
        self.gate, self.max_waiting = gate, max_waiting
        self.batch_size = max(1, encoder.options.batch_size)
        self.queue: list[tuple[str, ClipJob]] = []
        self.audio: dict[tuple[str, int], ChunkAudio] = {}  # chunks whose blocks are not asked for yet
        self.grids: dict[tuple[str, int], _Sound] = {}
        self.audio_start: dict[tuple[str, int], float] = {}
        # the sound thread, which also adds up the time this stage spends in the caller's thread
        self._work = Background("omnisearch-sound", background and self.blocks is not None)

    @property
    def seconds(self) -> float:
        return self._work.seconds

    def chunk(self, msg: ChunkAudio) -> None:
        if self.blocks is None:
            return
        key = (msg.path, msg.chunk)
        if self._work.enabled:
            sound = _Sound(Future())
            sound.future = self._work.submit(self._one_chunk, msg.audio, sound)
            self.grids[key] = sound
            self.audio_start[key] = msg.start
        else:
            self.audio[key] = msg  # embedded with every other queued chunk, at the next drain

    def _one_chunk(self, audio: np.ndarray | None, sound: _Sound) -> BlockRows | None:
        """One chunk's blocks, on the sound thread (piece by piece where the encoder can)."""
        assert self.blocks is not None
        if not isinstance(self.blocks, StreamingSoundBlocks):
            return self.blocks.sound_blocks([audio])[0]
        for piece in self.blocks.sound_block_pieces(audio):
            sound.pieces.append(piece)  # windows before it can be embedded now
        return joined(sound.pieces)

    def add(self, path: str, jobs: list[ClipJob]) -> None:
        self.queue += [(path, j) for j in jobs]
        if self.prepares is not None and self._must_wait(path, jobs):
            t = time.perf_counter()  # embed what does not need their words or sound blocks meanwhile
            self.prepares.prepare([j.input for j in jobs])
            self._work.add(time.perf_counter() - t)

    def _must_wait(self, path: str, jobs: list[ClipJob]) -> bool:
        """Whether some of these clips cannot be embedded yet: their words are being transcribed, or
        their chunk's sound blocks are being embedded on the sound thread."""
        if self.gate is not None and not all(self.gate.text_ready(path, j) for j in jobs):
            return True
        return any(
            not g.future.done() for g in (self.grids.get((path, j.chunk)) for j in jobs) if g is not None
        )

    def close(self) -> None:
        """Stop the sound thread (chunks not started are dropped)."""
        self._work.close()

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
            if self.gate is not None and not all(self.gate.text_ready(p, j) for p, j in batch):
                if not final and len(self.queue) < self.max_waiting:
                    return  # go on reading; these clips are embedded once their words are known
                for path, job in batch:
                    self.gate.wait_text(path, [job])
            t = time.perf_counter()
            embs = self._embed(batch)
            self._work.add(time.perf_counter() - t)
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
            sound = self.grids.get((path, job.chunk))
            start = self.audio_start.get((path, job.chunk), 0.0)
            grid = self._wait_grid(sound, job.span.end - start) if sound is not None else None
            has_audio = job.input.audio is not None and len(job.input.audio) > 0
            if grid is None or not has_audio:
                sounds.append(None)
                continue
            sounds.append(window_rows(grid, start, job.span.start, job.span.end))
        return self.blocks.encode_pooled(inputs, sounds)

    @staticmethod
    def _wait_grid(sound: _Sound, t1: float) -> BlockRows | None:
        """The chunk's grid as soon as it covers a window ending at `t1` (chunk time)."""
        wait_until(sound.future, lambda: sound.grid_for(t1) is not None)
        return sound.grid_for(t1)

    def _embed_chunks(self, keys: set[tuple[str, int]]) -> None:
        """Block embeddings of every queued chunk not embedded yet, in one batched call."""
        todo = sorted(k for k in keys if k not in self.grids and k in self.audio)
        if not todo or self.blocks is None:
            return
        msgs = [self.audio.pop(k) for k in todo]
        grids = self.blocks.sound_blocks([m.audio for m in msgs])
        for k, m, g in zip(todo, msgs, grids, strict=True):
            self.grids[k] = _Sound(done(g))
            self.audio_start[k] = m.start
