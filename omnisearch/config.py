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


@dataclass
class SegmentConfig:
    """Fixed-window segmentation: windows of `window` s overlapping by `overlap` s.

    A file no longer than `window` is one clip; a tail shorter than `min_tail` is merged into the
    previous window rather than becoming a clip of its own.
    """

    window: float = 10.0
    overlap: float = 5.0
    min_tail: float = 1.0

    @property
    def hop(self) -> float:
        return self.window - self.overlap

    def __post_init__(self) -> None:
        if self.window <= 0:
            raise ValueError(f"window must be > 0, got {self.window}")
        if not 0 <= self.overlap < self.window:
            raise ValueError(f"overlap must be in [0, window), got {self.overlap} for window {self.window}")


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
