"""segment() and evenly_spaced_times(): against an exact-arithmetic reference, plus edge cases."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

from omnisearch.config import SegmentConfig
from omnisearch.media.segment import evenly_spaced_times, segment
from omnisearch.types import Span


def reference(duration: Fraction, window: Fraction, overlap: Fraction, min_tail: Fraction) -> list[tuple]:
    """The documented rule, written the naive way with exact fractions and accumulated starts."""
    if duration <= 0:
        return [(Fraction(0), Fraction(0))]
    if duration <= window:
        return [(Fraction(0), duration)]
    hop = window - overlap
    out: list[list[Fraction]] = []
    start = Fraction(0)
    while start + window < duration:
        out.append([start, start + window])
        start += hop
    if start + window == duration:
        out.append([start, duration])
    elif duration - out[-1][1] < min_tail:
        out[-1][1] = duration
    else:
        out.append([start, duration])
    return [tuple(x) for x in out]


def spans_of(duration: float, window: float, overlap: float, min_tail: float = 1.0) -> list[tuple]:
    return [(s.start, s.end) for s in segment(duration, SegmentConfig(window, overlap, min_tail))]


def check_invariants(spans: list[Span], duration: float, cfg: SegmentConfig) -> None:
    assert spans[0].start == 0.0
    assert spans[-1].end == duration
    for a, b in zip(spans, spans[1:], strict=False):
        assert b.start > a.start
        assert b.start <= a.end + 1e-9, "gap between windows"
        assert b.start - a.start == pytest.approx(cfg.hop, abs=2e-6)
    for s in spans:
        assert 0.0 <= s.start < s.end <= duration
        assert s.duration <= cfg.window + cfg.min_tail + 1e-6


def test_matches_reference_on_grid_values() -> None:
    rng = random.Random(0)
    for _ in range(300):
        window = Fraction(rng.randint(2, 40), 4)
        overlap = Fraction(rng.randint(0, int(window * 4) - 2), 4)
        min_tail = Fraction(rng.randint(0, 12), 4)
        duration = Fraction(rng.randint(1, 400), 4)
        got = spans_of(float(duration), float(window), float(overlap), float(min_tail))
        want = reference(duration, window, overlap, min_tail)
        assert len(got) == len(want), (duration, window, overlap, min_tail)
        for (gs, ge), (ws, we) in zip(got, want, strict=True):
            assert gs == pytest.approx(float(ws), abs=1e-6) and ge == pytest.approx(float(we), abs=1e-6)
        cfg = SegmentConfig(float(window), float(overlap), float(min_tail))
        check_invariants(segment(float(duration), cfg), float(duration), cfg)


def test_matches_reference_on_random_floats() -> None:
    rng = random.Random(1)
    for _ in range(150):
        window = rng.uniform(1.0, 30)
        cfg = SegmentConfig(window, rng.uniform(0, window * 0.8), rng.uniform(0, 3))
        duration = rng.uniform(0.01, 200)
        spans = segment(duration, cfg)
        want = reference(*(Fraction(x) for x in (duration, cfg.window, cfg.overlap, cfg.min_tail)))
        assert len(spans) == len(want)
        check_invariants(spans, duration, cfg)


@pytest.mark.parametrize("duration", [0.0, -3.0, float("nan")])
def test_no_duration_gives_one_empty_span(duration: float) -> None:
    assert segment(duration, SegmentConfig()) == [Span(0.0, 0.0)]


def test_infinite_duration_raises() -> None:
    with pytest.raises(ValueError):
        segment(math.inf, SegmentConfig())


def test_short_files_are_one_clip() -> None:
    assert spans_of(0.001, 10, 5) == [(0.0, 0.001)]
    assert spans_of(9.99, 10, 5) == [(0.0, 9.99)]
    assert spans_of(10.0, 10, 5) == [(0.0, 10.0)]


def test_exact_multiples_keep_full_windows() -> None:
    assert spans_of(30.0, 10, 0) == [(0, 10), (10, 20), (20, 30)]
    assert spans_of(30.0, 10, 5) == [(0, 10), (5, 15), (10, 20), (15, 25), (20, 30)]
    # a full last window is kept even when the hop is smaller than min_tail
    assert spans_of(12.0, 10, 9.5, min_tail=1.0)[-1] == (2.0, 12.0)


def test_tail_rule() -> None:
    assert spans_of(20.5, 10, 0, min_tail=1.0) == [(0, 10), (10, 20.5)]  # merged: 0.5 s tail
    assert spans_of(21.5, 10, 0, min_tail=1.0) == [(0, 10), (10, 20), (20, 21.5)]  # kept
    assert spans_of(20.5, 10, 0, min_tail=0.0) == [(0, 10), (10, 20), (20, 20.5)]
    assert spans_of(10.5, 10, 5, min_tail=1.0) == [(0, 10.5)]
    assert spans_of(23.0, 10, 5, min_tail=1.0) == [(0, 10), (5, 15), (10, 20), (15, 23)]


def test_three_hours_do_not_drift() -> None:
    duration = 3 * 3600.0
    cfg = SegmentConfig(window=2.2, overlap=0.3, min_tail=1.0)  # hop 1.9 is not exact in binary
    spans = segment(duration, cfg)
    check_invariants(spans, duration, cfg)
    assert len(spans) == len(reference(Fraction(duration), Fraction("2.2"), Fraction("0.3"), Fraction(1)))
    for k in (1, 1000, len(spans) - 2):
        assert spans[k].start == round(k * 1.9, 6)
        assert spans[k].end == round(k * 1.9 + 2.2, 6)


def test_evenly_spaced_times() -> None:
    assert evenly_spaced_times(Span(0.0, 8.0), 4) == [1.0, 3.0, 5.0, 7.0]
    assert evenly_spaced_times(Span(10.0, 20.0), 1) == [15.0]
    assert evenly_spaced_times(Span(3.0, 3.0), 3) == [3.0, 3.0, 3.0]
    assert evenly_spaced_times(Span(0.0, 1.0), 0) == []
    times = evenly_spaced_times(Span(5.0, 15.0), 8)
    assert times == sorted(times) and 5.0 < times[0] and times[-1] < 15.0
    # overlapping windows with hop = window / 2 and an even frame count share half of their times
    assert set(evenly_spaced_times(Span(0, 10), 8)) & set(evenly_spaced_times(Span(5, 15), 8)) == set(
        times[:4]
    )
