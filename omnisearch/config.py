"""Dataclass configs. No heavy imports.

Example:
    >>> SegmentConfig(window=10.0, overlap=5.0).hop
    5.0
"""

from __future__ import annotations

import os
from dataclasses import dataclass

VIDEO_EXTS = (".mp4", ".mkv", ".webm", ".mov", ".avi")
AUDIO_EXTS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".m4a", ".opus")
IMAGE_EXTS = (".png", ".jpg", ".jpeg")
SIDECAR_EXTS = (".srt", ".vtt", ".txt")

SAMPLE_RATE = 16_000


SEGMENT_MODES = ("fixed", "shots", "speech")


@dataclass
class SegmentConfig:
    """How a file's timeline becomes clips.

    - `mode="fixed"` (default): windows of `window` s overlapping by `overlap` s. A file no longer
      than `window` is one clip; a tail shorter than `min_tail` is merged into the previous window.
    - `mode="shots"`: cut where the picture changes (a scene-change score of at least
      `shot_threshold`), `mode="speech"`: cut in the pauses between utterances. Both give clips of
      at least `min_len` s (shorter pieces merge into the next one) and at most `max_len` s (longer
      ones are split evenly); clips do not overlap. See `omnisearch.media.cuts`.
    """

    window: float = 10.0
    overlap: float = 5.0
    min_tail: float = 1.0
    mode: str = "fixed"
    min_len: float = 2.0
    max_len: float = 20.0
    shot_threshold: float = 0.3

    @property
    def hop(self) -> float:
        return self.window - self.overlap

    def __post_init__(self) -> None:
        if self.window <= 0:
            raise ValueError(f"window must be > 0, got {self.window}")
        if not 0 <= self.overlap < self.window:
            raise ValueError(f"overlap must be in [0, window), got {self.overlap} for window {self.window}")
        if self.mode not in SEGMENT_MODES:
            raise ValueError(f"segment mode must be one of {', '.join(SEGMENT_MODES)}, got {self.mode!r}")
        if not 0 <= self.min_len < self.max_len:
            raise ValueError(
                f"need 0 <= min_len < max_len, got min_len={self.min_len}, max_len={self.max_len}"
            )
        if not 0 < self.shot_threshold <= 1:
            raise ValueError(f"shot_threshold must be in (0, 1], got {self.shot_threshold}")


@dataclass
class DecodeConfig:
    """How a clip is decoded: `frames` evenly spaced frames resized to fit `frame_size`, audio at 16 kHz."""

    frames: int = 8
    frame_size: int = 320
    sample_rate: int = SAMPLE_RATE


def set_thread_env() -> None:
    """Set OMP_NUM_THREADS before torch is imported (torch runs several times slower without it)."""
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    os.environ.setdefault("MKL_NUM_THREADS", os.environ["OMP_NUM_THREADS"])
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
