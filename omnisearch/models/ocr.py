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


class RecogniserMemo:
    """RapidOCR's line recogniser behind a memo: a text crop that does not differ (`frames_differ` on
    its grey pixels) from one of the `keep` crops recognised last takes that crop's line, so a title
    or caption that stays on screen is recognised once while detection still runs on every frame.
    Same call and result as the recogniser: (list of (text, score), seconds)."""

    def __init__(self, recognise, keep: int = 32) -> None:
        self.recognise, self.keep = recognise, keep
        self.recent: list[tuple[np.ndarray, tuple]] = []
        self.reused = self.read = 0

    def __call__(self, crops, return_word_box: bool = False):
        from omnisearch.media.image import frames_differ

        crops = [crops] if isinstance(crops, np.ndarray) else list(crops)
        greys = [np.asarray(c, np.float32).mean(-1) for c in crops]
        out: list[tuple | None] = [None] * len(crops)
        for i, g in enumerate(greys):
            if not return_word_box:
                out[i] = next((r for seen, r in reversed(self.recent) if not frames_differ(g, seen)), None)
        todo = [i for i, r in enumerate(out) if r is None]
        self.reused += len(crops) - len(todo)
        self.read += len(todo)
        if todo:
            got, _ = self.recognise([crops[i] for i in todo], return_word_box)
            for i, r in zip(todo, got, strict=True):
                out[i] = r
                self.recent.append((greys[i], r))
            self.recent = self.recent[-self.keep :]
        return out, 0.0


ONE_THREAD = {"intra_op_num_threads": 1, "inter_op_num_threads": 1}
"""RapidOCR's sessions on one thread each: by default each takes every core and busy-waits between
calls (8.3 s of CPU for 4.4 s of OCR on 2 cores), CPU the decoders and encoders beside it need."""


class FrameOCR:
    """OCR of a few frames per clip; lines under `min_score` confidence are dropped."""

    def __init__(self, frames_per_clip: int = 2, min_score: float = 0.6) -> None:
        from rapidocr_onnxruntime import RapidOCR

        # Detection at most 320 px on the long side and no angle classifier: ~0.1-0.2 s a frame on
        # 2 cores instead of ~1 s with the defaults (which upscale small frames to 736 px).
        self.engine = RapidOCR(det_limit_side_len=320, det_limit_type="max", use_cls=False, **ONE_THREAD)
        self.engine.text_rec = self.recogniser = RecogniserMemo(self.engine.text_rec)
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
