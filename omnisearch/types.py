"""Core value types shared by every layer. No heavy imports here.

One name per concept: a modality is `Modality` everywhere; a clip's identity is
(file hash, start, end) everywhere, spelled as `clip_id(file_hash, start, end)`.

Example:
    >>> clip_id("ab" * 32, 0.0, 10.0)
    'abababababababab:0.000-10.000'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: `omnisearch --help` imports this module, and numpy costs ~0.2 s
    import numpy as np


class Modality(StrEnum):
    """A vector column. TEXT/VIDEO/AUDIO are single modalities; FUSED is the (T,V,A) tuple."""

    TEXT = "text"
    VIDEO = "video"
    AUDIO = "audio"
    FUSED = "fused"

    @classmethod
    def singles(cls) -> tuple[Modality, Modality, Modality]:
        return (cls.TEXT, cls.VIDEO, cls.AUDIO)


class MediaType(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"
    IMAGE = "image"


def clip_id(file_hash: str, start: float, end: float) -> str:
    """The identity of a clip: first 16 hex digits of the file hash plus its span in seconds.
    (Ingest passes a hash of path + content, so duplicate files at two paths keep separate rows.)"""
    return f"{file_hash[:16]}:{start:.3f}-{end:.3f}"


@dataclass(frozen=True)
class Span:
    """A time window in seconds, end exclusive."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class MediaInfo:
    """What probing a file tells: its kind, duration and which streams it carries."""

    path: str
    media_type: MediaType
    duration: float
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0


@dataclass
class EncoderInput:
    """One item to embed: any non-empty combination of text, frames and audio.

    frames: uint8 array (N, H, W, 3); audio: float32 mono at 16 kHz.
    The encoder returns one vector per modality present plus the fused tuple of those present.
    """

    text: str | None = None
    frames: np.ndarray | None = None
    audio: np.ndarray | None = None
    transcript: str | None = None  # speech already transcribed (ingest transcribes each file once)
    ocr_text: str | None = None  # on-screen text already read (ingest's enricher reads each frame once)

    def modalities(self) -> list[Modality]:
        present = []
        if self.text and self.text.strip():
            present.append(Modality.TEXT)
        if self.frames is not None and len(self.frames) > 0:
            present.append(Modality.VIDEO)
        if self.audio is not None and len(self.audio) > 0:
            present.append(Modality.AUDIO)
        return present


@dataclass
class Embedding:
    """Vectors of one item keyed by modality, plus text the encoder derived (transcript, OCR, tags)."""

    vectors: dict[Modality, np.ndarray]
    derived: dict[str, str] = field(default_factory=dict)


@dataclass
class ClipRecord:
    """One stored row: a clip of a file with its vectors and metadata."""

    clip_id: str
    path: str
    media_type: str
    start: float
    end: float
    file_hash: str
    text: str
    transcript: str
    vectors: dict[Modality, np.ndarray]
    ocr_text: str = ""
    tags: str = ""
    keyframe: float = 0.0
    added_at: float = 0.0


@dataclass
class Hit:
    """A search result: a moment. `start`/`end` are its best window, `span_start`/`span_end` the span of
    the neighbouring windows merged into it (None: the window itself). `score` is the cosine to the
    query; `rank_score` (when set: an RRF value, a boosted score) is what the hits are ordered by;
    `scores` holds the per-list scores (cosines, "rrf", "lexical")."""

    path: str
    start: float
    end: float
    score: float
    text: str = ""
    media_type: str = ""
    clip_id: str = ""
    keyframe: float = 0.0
    transcript: str = ""
    scores: dict[str, float] = field(default_factory=dict)
    span_start: float | None = None
    span_end: float | None = None
    rank_score: float | None = None
    ocr_text: str = ""
    tags: str = ""

    @property
    def order_score(self) -> float:
        """The value hits are ranked by: `rank_score` when set, else the cosine `score`."""
        return self.score if self.rank_score is None else self.rank_score

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "span_start": round(self.start if self.span_start is None else self.span_start, 3),
            "span_end": round(self.end if self.span_end is None else self.span_end, 3),
            "score": round(float(self.score), 6),
            **({"rrf": round(float(self.scores["rrf"]), 6)} if "rrf" in self.scores else {}),
            "text": self.text,
            "transcript": self.transcript,
            "media_type": self.media_type,
            "clip_id": self.clip_id,
            "keyframe": round(self.keyframe, 3),
            "scores": {k: round(float(v), 6) for k, v in self.scores.items()},
        }
