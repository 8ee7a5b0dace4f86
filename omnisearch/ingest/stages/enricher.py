"""Enricher stage: the text a clip carries besides its sidecar, made once per file where windows overlap.

- Speech: per decoded chunk, a voice-activity check (`SpeechDetector`) decides whether the transcriber
  runs at all; when it does, the chunk is transcribed once and each clip gets the words spoken in it.
- On-screen text: each clip reads `ocr_frames` of its frames (`ocr.pick_frames`); a frame is read once
  per file (clips that overlap share it, by its time), and a frame that does not differ from the last
  frame read (`frames_differ`) reuses that frame's lines instead of being read again.

An encoder takes part by implementing `capabilities.Enriching`; for any other encoder the enricher
leaves the clips as they are.

Example:
    >>> enricher = Enricher(load_encoder())   # doctest: +SKIP
    >>> enricher.chunk(msg); enricher.clips(path, jobs)   # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from omnisearch.ingest.stages.items import ChunkAudio, ClipJob
from omnisearch.media.image import frames_differ, thumbnail
from omnisearch.models.asr import Segment, text_in_span
from omnisearch.models.capabilities import Enriching
from omnisearch.models.ocr import dedupe_lines, pick_frames


@dataclass
class _FileText:
    speech: dict[int, list[Segment] | None] = field(default_factory=dict)  # chunk -> segments
    lines: dict[float, list[str]] = field(default_factory=dict)  # frame time -> lines read
    last: tuple[np.ndarray, list[str]] | None = None  # (thumbnail, lines) of the last frame read


@dataclass
class EnrichStats:
    chunks_with_speech: int = 0
    chunks_without_speech: int = 0
    frames_read: int = 0
    frames_reused: int = 0  # same time as a frame read for an overlapping clip
    frames_unchanged: int = 0  # did not differ from the last frame read


class Enricher:
    """`chunk(msg)` for each ChunkAudio, `clips(path, jobs)` for each group, `end(path)` per file;
    `seconds` is the time spent."""

    def __init__(self, encoder: object) -> None:
        self.tools = encoder if isinstance(encoder, Enriching) else None
        self.files: dict[str, _FileText] = {}
        self.stats = EnrichStats()
        self.seconds = 0.0

    def chunk(self, msg: ChunkAudio) -> None:
        t = time.perf_counter()
        state = self.files.setdefault(msg.path, _FileText())
        speech: list[Segment] | None = None
        if self.tools is not None and msg.audio is not None:
            speech = []
            if self.tools.speech_detector().has_speech(msg.audio):
                self.stats.chunks_with_speech += 1
                heard = self.tools.transcriber().transcribe(msg.audio)
                speech = [Segment(s.start + msg.start, s.end + msg.start, s.text) for s in heard]
            else:
                self.stats.chunks_without_speech += 1
        state.speech[msg.chunk] = speech
        self.seconds += time.perf_counter() - t

    def clips(self, path: str, jobs: list[ClipJob]) -> None:
        if self.tools is None:
            return
        t = time.perf_counter()
        state = self.files.setdefault(path, _FileText())
        for job in jobs:
            inp = job.input
            speech = state.speech.get(job.chunk)
            if inp.audio is not None and len(inp.audio) and speech is not None:
                inp.transcript = text_in_span(speech, job.span.start, job.span.end)
            if inp.frames is not None and len(inp.frames):
                inp.ocr_text = self._on_screen(state, job)
        self.seconds += time.perf_counter() - t

    def _on_screen(self, state: _FileText, job: ClipJob) -> str:
        frames = job.input.frames
        assert frames is not None and self.tools is not None
        times = job.frame_times if len(job.frame_times) == len(frames) else [None] * len(frames)
        lines: list[str] = []
        for i in pick_frames(len(frames), self.tools.ocr_frames):
            t = times[i]
            if t is not None and t in state.lines:
                self.stats.frames_reused += 1
                lines += state.lines[t]
                continue
            thumb = thumbnail(frames[i])
            if state.last is not None and not frames_differ(thumb, state.last[0]):
                self.stats.frames_unchanged += 1
                got = state.last[1]
            else:
                self.stats.frames_read += 1
                got = self.tools.text_reader().read_lines(frames[i])
                state.last = (thumb, got)
            if t is not None:
                state.lines[t] = got
            lines += got
        return " ".join(dedupe_lines(lines))

    def end(self, path: str) -> None:
        self.files.pop(path, None)
