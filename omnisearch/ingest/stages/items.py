"""What travels between the ingest stages (plain, picklable data: reader workers are processes).

A reader emits, per file: `FileStart`, then per decoded chunk one `ChunkAudio` and `Clips` groups of
at most `CLIPS_PER_MESSAGE` clips, then `FileEnd` (or `FileFailed` at any point).

Example:
    >>> FileEnd("/a.wav", read_s=0.5).path
    '/a.wav'
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from omnisearch.media.walk import FoundFile
from omnisearch.types import EncoderInput, MediaInfo, Span

CLIPS_PER_MESSAGE = 16


@dataclass
class FileTask:
    """A new or changed file to index: its content fingerprint and the stats it was taken at."""

    found: FoundFile
    fingerprint: str
    stat: list[list[int]] = field(default_factory=list)


@dataclass
class ClipJob:
    """One clip to embed: its span, encoder input (the enricher fills transcript and on-screen text),
    keyframe time, sidecar text and the frame times its frames were read at."""

    span: Span
    input: EncoderInput
    keyframe: float
    text: str
    frame_times: list[float] = field(default_factory=list)
    chunk: int = 0  # index of the decoded chunk (of its file) the clip's audio is sliced from


@dataclass
class FileStart:
    task: FileTask
    info: MediaInfo
    spans: list[Span]


@dataclass
class ChunkAudio:
    """A decoded chunk's audio (16 kHz mono from `start` s; None without audio): transcribed once and,
    for a sound-block encoder, embedded once in blocks."""

    path: str
    chunk: int
    start: float
    audio: np.ndarray | None


@dataclass
class Clips:
    path: str
    jobs: list[ClipJob]


@dataclass
class FileEnd:
    path: str
    read_s: float = 0.0  # seconds the reader spent probing and decoding it


@dataclass
class FileFailed:
    path: str
    reason: str
    read_s: float = 0.0


Message = FileStart | ChunkAudio | Clips | FileEnd | FileFailed
