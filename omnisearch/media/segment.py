"""Fixed-window segmentation of a file's timeline into clips, and frame timestamps inside a clip.

Pure functions, no I/O. The rule `segment` follows (window W, overlap O, hop H = W - O, tail T):

1. `duration` NaN or <= 0 (an image, or a stream of unknown length): one empty clip `[0, 0]`.
   `duration` infinite: `ValueError`.
2. `duration <= W`: one clip `[0, duration]`.
3. Otherwise windows start at `k * H` (computed by multiplication, never by summing, so a 3 h file does
   not drift) and are `W` long, until the first window that reaches `duration`; that last window is
   cut to end exactly at `duration`.
   - If it was cut (it is shorter than `W`), its *new* content -- the part after the previous window's
     end, `duration - prev.end` -- is the tail. A tail shorter than `min_tail` does not become a clip:
     the previous window is extended to `duration` instead (so it is at most `W + min_tail` long).
   - A last window that is a full `W` long (duration an exact multiple) is always kept.

So windows are sorted by start, never exceed `duration`, cover `[0, duration]` without gaps, and
consecutive starts differ by exactly `H`. Times are rounded to 1 µs (`ROUND_DIGITS`) to keep clip ids
stable; ends within 1 µs of `duration` count as reaching it.
"""

from __future__ import annotations

import math

from omnisearch.config import SegmentConfig
from omnisearch.types import Span

ROUND_DIGITS = 6
EPS = 1e-6


def segment(duration: float, cfg: SegmentConfig) -> list[Span]:
    """Split `[0, duration]` into overlapping fixed windows (see the module docstring for the rule).

    Example:
        >>> [(s.start, s.end) for s in segment(23.0, SegmentConfig(window=10, overlap=5, min_tail=1))]
        [(0.0, 10.0), (5.0, 15.0), (10.0, 20.0), (15.0, 23.0)]
        >>> [(s.start, s.end) for s in segment(20.5, SegmentConfig(window=10, overlap=0, min_tail=1))]
        [(0.0, 10.0), (10.0, 20.5)]
        >>> segment(0.0, SegmentConfig())
        [Span(start=0.0, end=0.0)]
    """
    duration = float(duration)
    if math.isnan(duration) or duration <= 0:
        return [Span(0.0, 0.0)]
    if math.isinf(duration):
        raise ValueError("cannot segment an infinite duration")
    window, hop = float(cfg.window), float(cfg.hop)
    if window <= 0 or hop <= 0:
        raise ValueError(f"window and hop must be > 0, got window={window}, hop={hop}")
    if duration <= window + EPS:
        return [Span(0.0, duration)]

    spans: list[Span] = []
    k = 0
    while True:
        start = round(k * hop, ROUND_DIGITS)
        end = round(start + window, ROUND_DIGITS)
        if end < duration - EPS:
            spans.append(Span(start, end))
            k += 1
            continue
        if end <= duration + EPS:  # a full window ending at duration: always kept
            spans.append(Span(start, duration))
            break
        tail = duration - spans[-1].end  # spans is non-empty: duration > window
        if tail < cfg.min_tail:
            spans[-1] = Span(spans[-1].start, duration)
        else:
            spans.append(Span(start, duration))
        break
    return spans


def evenly_spaced_times(span: Span, n: int) -> list[float]:
    """`n` timestamps at the centres of `n` equal sub-intervals of `span` (never its exclusive end).

    A zero-length span (an image) gives `n` copies of its start; `n <= 0` gives `[]`.

    Example:
        >>> evenly_spaced_times(Span(0.0, 8.0), 4)
        [1.0, 3.0, 5.0, 7.0]
        >>> evenly_spaced_times(Span(2.0, 2.0), 2)
        [2.0, 2.0]
    """
    if n <= 0:
        return []
    length = max(span.end - span.start, 0.0)
    step = length / n
    return [round(span.start + (i + 0.5) * step, ROUND_DIGITS) for i in range(n)]
