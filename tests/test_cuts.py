"""Shot / speech segmentation rules (omnisearch.media.cuts) against an exact-arithmetic reference."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from omnisearch.config import SegmentConfig
from omnisearch.media.cuts import pause_cuts, shot_cuts, shot_spans, spans_from_cuts, speech_spans
from omnisearch.types import Span


def reference(duration: Fraction, cuts: list[Fraction], min_len: Fraction, max_len: Fraction) -> list[tuple]:
    """The documented rule, the naive way: exact fractions, pieces split by counting up."""
    if duration <= 0:
        return [(Fraction(0), Fraction(0))]
    kept: list[Fraction] = []
    for c in sorted(set(cuts)):
        prev = kept[-1] if kept else Fraction(0)
        if 0 < c < duration and c - prev >= min_len and duration - c >= min_len:
            kept.append(c)
    out = []
    for a, b in zip([Fraction(0), *kept], [*kept, duration], strict=True):
        n = 1
        while (b - a) / n > max_len:
            n += 1
        out += [(a + (b - a) * i / n, a + (b - a) * (i + 1) / n) for i in range(n)]
    return out


def as_floats(spans: list[Span]) -> list[tuple[float, float]]:
    return [(s.start, s.end) for s in spans]


@pytest.mark.parametrize("seed", range(300))
def test_spans_from_cuts_match_reference(seed: int) -> None:
    rng = random.Random(seed)
    duration = Fraction(rng.randint(1, 2000), 10)
    cuts = [Fraction(rng.randint(-20, int(duration * 10) + 20), 10) for _ in range(rng.randint(0, 30))]
    min_len = Fraction(rng.randint(0, 50), 10)
    max_len = min_len + Fraction(rng.randint(1, 300), 10)
    got = spans_from_cuts(float(duration), [float(c) for c in cuts], float(min_len), float(max_len))
    want = reference(duration, cuts, min_len, max_len)
    assert len(got) == len(want)
    for (a, b), (c, d) in zip(as_floats(got), want, strict=True):
        assert a == pytest.approx(float(c), abs=2e-6) and b == pytest.approx(float(d), abs=2e-6)
    # invariants: sorted, no gaps, no overlap, lengths within [min_len, max_len] unless the file is short
    assert got[0].start == 0.0 and got[-1].end == float(duration)
    for x, y in zip(got, got[1:], strict=False):
        assert y.start == x.end
    for s in got:
        assert s.duration <= float(max_len) + 2e-6
    if duration >= min_len and max_len >= 2 * min_len:  # then splitting never goes under min_len
        assert all(s.duration >= float(min_len) - 2e-6 for s in got)


def test_empty_and_invalid() -> None:
    assert spans_from_cuts(0.0, [1.0], 1.0, 5.0) == [Span(0.0, 0.0)]
    assert spans_from_cuts(float("nan"), [], 1.0, 5.0) == [Span(0.0, 0.0)]
    with pytest.raises(ValueError):
        spans_from_cuts(float("inf"), [], 1.0, 5.0)
    with pytest.raises(ValueError):
        SegmentConfig(mode="scenes")
    with pytest.raises(ValueError):
        SegmentConfig(mode="shots", min_len=5, max_len=5)


def test_shot_cuts_threshold() -> None:
    scores = [(0.0, 0.0), (3.0, 0.45), (3.1, 0.29), (7.5, 0.3), (9.0, 0.05)]
    assert shot_cuts(scores, 0.3) == [3.0, 7.5]
    assert shot_cuts(scores, 0.5) == []


def test_pause_cuts_naive() -> None:
    rng = random.Random(0)
    for _ in range(100):
        # intervals on a 0.1 s grid; the naive rule samples the timeline every 0.01 s
        speech = []
        for _ in range(rng.randint(0, 8)):
            a = rng.randint(0, 500)
            speech.append((a / 10, (a + rng.randint(1, 50)) / 10))
        voiced = [any(a <= i / 100 < b for a, b in speech) for i in range(6000)]
        want, silent_from, seen = [], None, False
        for i, v in enumerate(voiced):
            if v and silent_from is not None and seen:
                want.append((silent_from + i) / 200)
            if v:
                silent_from, seen = None, True
            elif silent_from is None:
                silent_from = i
        assert pause_cuts(speech) == pytest.approx(want, abs=1e-9)


def test_modes_end_to_end() -> None:
    cfg = SegmentConfig(mode="shots", min_len=2.0, max_len=10.0)
    scores = [(t / 10, 0.0) for t in range(300)] + [(4.0, 0.9), (5.0, 0.8), (27.0, 0.7)]
    assert as_floats(shot_spans(30.0, scores, cfg)) == [(0.0, 4.0), (4.0, 11.666667), (11.666667, 19.333333),
                                                        (19.333333, 27.0), (27.0, 30.0)]  # fmt: skip
    cfg = SegmentConfig(mode="speech", min_len=2.0, max_len=10.0)
    speech = [(0.3, 2.0), (2.6, 6.0), (7.0, 9.0)]
    assert as_floats(speech_spans(9.5, speech, cfg)) == [(0.0, 2.3), (2.3, 6.5), (6.5, 9.5)]
