"""Segmentation that follows the media: clips cut at shot boundaries or in the pauses of speech.

Pure functions, no I/O: they turn what a probe measured (`omnisearch.media.boundaries`) into spans.

- `shot_cuts(scores, threshold)`: the times whose scene-change score is at least `threshold`.
- `pause_cuts(speech)`: the middle of each gap between consecutive speech intervals.
- `spans_from_cuts(duration, cuts, min_len, max_len)`: the rule both modes share:
  1. cuts outside `(0, duration)` are ignored; the rest are taken in time order;
  2. a cut is kept when it lies at least `min_len` after the last kept cut (or 0) and at least
     `min_len` before `duration`; a shorter piece therefore merges into the piece after it
     (the last piece into the one before it);
  3. a piece longer than `max_len` is split into `ceil(length / max_len)` equal parts.
  So spans are sorted, do not overlap, cover `[0, duration]` without gaps, and each one is at most
  `max_len` long and, unless the whole file is shorter, at least `min_len` long. A duration that is
  NaN or <= 0 gives one empty clip `[0, 0]`, as `segment` does. Times are rounded to 1 µs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from omnisearch.config import SegmentConfig
from omnisearch.types import Span

ROUND_DIGITS = 6
EPS = 1e-6


def shot_cuts(scores: Iterable[tuple[float, float]], threshold: float) -> list[float]:
    """Times (s) of the frames whose scene-change score (0..1, vs the previous frame) is >= threshold.

    Example:
        >>> shot_cuts([(0.0, 0.0), (4.0, 0.9), (4.2, 0.1), (9.0, 0.5)], 0.3)
        [4.0, 9.0]
    """
    return sorted(t for t, s in scores if s >= threshold)


def pause_cuts(speech: Sequence[tuple[float, float]]) -> list[float]:
    """The middle of each pause: the gap between one speech interval's end and the next one's start.
    Overlapping or touching intervals have no pause between them.

    Example:
        >>> pause_cuts([(0.5, 3.0), (4.0, 6.0), (6.0, 8.0), (9.0, 10.0)])
        [3.5, 8.5]
    """
    cuts = []
    ordered = sorted(speech)
    end = ordered[0][1] if ordered else 0.0
    for start, stop in ordered[1:]:
        if start > end:
            cuts.append((start + end) / 2)
        end = max(end, stop)
    return cuts


def spans_from_cuts(duration: float, cuts: Iterable[float], min_len: float, max_len: float) -> list[Span]:
    """Spans between kept cuts (see the module docstring for the rule).

    Example:
        >>> [(s.start, s.end) for s in spans_from_cuts(30.0, [1.0, 8.0, 9.0, 29.0], 2.0, 12.0)]
        [(0.0, 8.0), (8.0, 19.0), (19.0, 30.0)]
    """
    duration = float(duration)
    if math.isnan(duration) or duration <= 0:
        return [Span(0.0, 0.0)]
    if math.isinf(duration):
        raise ValueError("cannot segment an infinite duration")
    if max_len <= 0 or min_len >= max_len:
        raise ValueError(f"need 0 <= min_len < max_len, got min_len={min_len}, max_len={max_len}")
    bounds = [0.0]
    for c in sorted(float(c) for c in cuts):
        if c - bounds[-1] >= min_len - EPS and duration - c >= min_len - EPS and c > EPS:
            bounds.append(c)
    bounds.append(duration)
    spans: list[Span] = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        n = max(1, math.ceil((b - a) / max_len - EPS))
        step = (b - a) / n
        edges = [a + i * step for i in range(n)] + [b]
        for s, e in zip(edges, edges[1:], strict=False):
            spans.append(Span(round(s, ROUND_DIGITS), round(e, ROUND_DIGITS)))
    return spans


def shot_spans(duration: float, scores: Iterable[tuple[float, float]], cfg: SegmentConfig) -> list[Span]:
    """Clips cut at shot boundaries: `scores` are (time, scene-change score) pairs.

    Example:
        >>> cfg = SegmentConfig(mode="shots", min_len=2, max_len=20)
        >>> [(s.start, s.end) for s in shot_spans(12.0, [(5.0, 0.8), (5.5, 0.4)], cfg)]
        [(0.0, 5.0), (5.0, 12.0)]
    """
    return spans_from_cuts(duration, shot_cuts(scores, cfg.shot_threshold), cfg.min_len, cfg.max_len)


def speech_spans(duration: float, speech: Sequence[tuple[float, float]], cfg: SegmentConfig) -> list[Span]:
    """Clips cut in the pauses between utterances: `speech` are (start, end) intervals in seconds.

    Example:
        >>> cfg = SegmentConfig(mode="speech", min_len=2, max_len=20)
        >>> [(s.start, s.end) for s in speech_spans(10.0, [(0.2, 4.0), (5.0, 9.5)], cfg)]
        [(0.0, 4.5), (4.5, 10.0)]
    """
    return spans_from_cuts(duration, pause_cuts(speech), cfg.min_len, cfg.max_len)
