"""Text inside frames for omni-lite: RapidOCR (ONNX models shipped by `rapidocr-onnxruntime`).

Example:
    >>> FrameOCR().read(frames)                              # doctest: +SKIP
    'PARIS'
"""

from __future__ import annotations

import numpy as np


def dedupe_lines(lines: list[str]) -> list[str]:
    """Keep the first occurrence of each line (case-insensitive), in order (pure)."""
    seen: set[str] = set()
    out = []
    for line in lines:
        key = line.strip().lower()
        if key and key not in seen:
            seen.add(key)
            out.append(line.strip())
    return out


def pick_frames(n: int, k: int) -> list[int]:
    """Indices of k frames spread over n (pure): k=2 of 8 -> [2, 5]."""
    if n <= 0 or k <= 0:
        return []
    if k >= n:
        return list(range(n))
    return [int((i + 0.5) * n / k) for i in range(k)]


class FrameOCR:
    """OCR of a few frames per clip; lines under `min_score` confidence are dropped."""

    def __init__(self, frames_per_clip: int = 2, min_score: float = 0.6) -> None:
        from rapidocr_onnxruntime import RapidOCR

        # Detection at most 320 px on the long side and no angle classifier: ~0.1-0.2 s a frame on
        # 2 cores instead of ~1 s with the defaults (which upscale small frames to 736 px).
        self.engine = RapidOCR(det_limit_side_len=320, det_limit_type="max", use_cls=False)
        self.frames_per_clip = frames_per_clip
        self.min_score = min_score

    def read(self, frames: np.ndarray) -> str:
        """The text of a clip: the lines of `frames_per_clip` of its frames, deduplicated."""
        lines: list[str] = []
        for i in pick_frames(len(frames), self.frames_per_clip):
            lines += self.read_lines(frames[i])
        return " ".join(dedupe_lines(lines))

    def read_lines(self, frame: np.ndarray) -> list[str]:
        """Confident lines of one RGB frame (`capabilities.TextReader`)."""
        result, _ = self.engine(np.ascontiguousarray(frame[..., ::-1]))  # RapidOCR takes BGR like OpenCV
        return [str(text) for _box, text, score in result or [] if float(score) >= self.min_score]
