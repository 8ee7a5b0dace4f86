"""Enricher stage: the text a clip carries besides its sidecar, made once per file where windows overlap.

- Speech: per decoded chunk, a voice-activity check (`SpeechDetector`) decides whether the transcriber
  runs at all; when it does, the chunk is transcribed once and each clip gets the words spoken in it.
  With `background=True` (the local engine) both run on a thread of their own, one chunk after the
  other, while the caller goes on: `text_ready(path, job)` says whether a clip's words are known yet
  (and fills them in when they are), `wait_text(path, jobs)` waits for them. Without, `chunk` returns
  once its chunk is transcribed.
- On-screen text: each clip reads `ocr_frames` of its frames (`ocr.pick_frames`); a frame is read once
  per file (clips that overlap share it, by its time), and a frame that does not differ from the last
  frame read (`frames_differ`) reuses that frame's lines instead of being read again.

An encoder takes part by implementing `capabilities.Enriching`; for any other encoder the enricher
leaves the clips as they are.

Example:
    >>> enricher = Enricher(load_encoder(), background=True)   # doctest: +SKIP
    >>> enricher.chunk(msg); enricher.clips(path, jobs)   # doctest: +SKIP
    >>> enricher.wait_text(path, jobs); jobs[0].input.transcript   # doctest: +SKIP
    'welcome to the quarterly review'
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from omnisearch.ingest.stages.background import Background, done, wait_until
from omnisearch.ingest.stages.items import ChunkAudio, ClipJob
from omnisearch.media.image import frames_differ, thumbnail
from omnisearch.models.asr import Segment, text_in_span
from omnisearch.models.capabilities import Enriching, StreamingTranscriber
from omnisearch.models.ocr import dedupe_lines, pick_frames


@dataclass
class _Speech:
    """A chunk's speech as it is being transcribed: `segments` holds every segment that starts before
    `heard_to` (the start of the last one heard; segments come in time order), all of them once
    `future` is done. `future` holds None when the chunk has no speech to look for (no audio, no
    transcriber): its clips' transcripts are left as they are."""

    future: Future
    segments: list[Segment] = field(default_factory=list)
    heard_to: float = float("-inf")


@dataclass
class _FileText:
    speech: dict[int, _Speech] = field(default_factory=dict)  # chunk -> its speech
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
    """`chunk(msg)` for each ChunkAudio, `clips(path, jobs)` for each group, `end(path)` per file and
    `close()` at the end; `seconds` is the time spent (the speech thread's included)."""

    def __init__(self, encoder: object, background: bool = False) -> None:
        self.tools = encoder if isinstance(encoder, Enriching) else None
        self.files: dict[str, _FileText] = {}
        self.stats = EnrichStats()
        # the speech thread, which also adds up the time spent reading on-screen text in the caller's
        self._work = Background("omnisearch-speech", background and self.tools is not None)

    @property
    def seconds(self) -> float:
        return self._work.seconds

    def chunk(self, msg: ChunkAudio) -> None:
        state = self.files.setdefault(msg.path, _FileText())
        if self.tools is None or msg.audio is None:
            state.speech[msg.chunk] = _Speech(done(None))
        else:
            sp = _Speech(Future())
            sp.future = self._work.submit(self._speech, msg, sp)
            state.speech[msg.chunk] = sp

    def _speech(self, msg: ChunkAudio, sp: _Speech) -> list[Segment]:
        """Fill `sp` with the chunk's speech segments, in file time, as they are decoded (none when the
        voice-activity check hears no speech)."""
        assert self.tools is not None and msg.audio is not None
        if not self.tools.speech_detector().has_speech(msg.audio):
            self.stats.chunks_without_speech += 1  # (one thread writes these)
            return sp.segments
        self.stats.chunks_with_speech += 1
        asr = self.tools.transcriber()
        heard = asr.stream(msg.audio) if isinstance(asr, StreamingTranscriber) else asr.transcribe(msg.audio)
        for s in heard:
            seg = Segment(s.start + msg.start, s.end + msg.start, s.text)
            sp.segments.append(seg)
            sp.heard_to = seg.start  # after the append: a reader never misses a segment before it
        return sp.segments

    def clips(self, path: str, jobs: list[ClipJob]) -> None:
        """Read each clip's on-screen text now, and fill in its words where its chunk's speech is known."""
        if self.tools is None:
            return
        t = time.perf_counter()
        state = self.files.setdefault(path, _FileText())
        for job in jobs:
            inp = job.input
            if inp.frames is not None and len(inp.frames):
                inp.ocr_text = self._on_screen(state, job)
            self.text_ready(path, job)
        self._work.add(time.perf_counter() - t)

    def text_ready(self, path: str, job: ClipJob) -> bool:
        """Whether the clip's words are known: its chunk is transcribed, or a segment that starts after
        the clip's end was heard. When they are known, they are in its input's transcript."""
        sp = self.files[path].speech.get(job.chunk) if path in self.files else None
        if sp is None:
            return True
        finished = sp.future.done()
        if not finished and sp.heard_to <= job.span.end:
            return False
        speech = sp.future.result() if finished else list(sp.segments)
        inp = job.input
        if inp.audio is not None and len(inp.audio) and speech is not None:
            inp.transcript = text_in_span(speech, job.span.start, job.span.end)
        return True

    def wait_text(self, path: str, jobs: list[ClipJob]) -> None:
        """Wait until the words of every clip in `jobs` are known (an error of the transcriber is
        raised here)."""
        for job in jobs:
            sp = self.files[path].speech.get(job.chunk) if path in self.files else None
            if sp is not None:  # the chunk's end, or a later segment heard
                wait_until(sp.future, lambda job=job: self.text_ready(path, job))
                self.text_ready(path, job)

    def close(self) -> None:
        """Stop the speech thread (chunks not started are dropped; one being transcribed ends on its own)."""
        self._work.close()

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
