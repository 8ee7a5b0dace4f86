"""Result shaping: window merging (against a brute-force interval-union reference), grouping, RRF.

Example:
    $ .venv/bin/python -m pytest tests/test_shaping.py -q
"""

from __future__ import annotations

import random

import pytest

from omnisearch.retrieval.shaping import group_by_file, merge_overlaps, rank_key, rrf, shape
from omnisearch.types import Hit


def hit(path: str, start: float, end: float, score: float, cid: str = "", text: str = "") -> Hit:
    return Hit(
        path=path,
        start=start,
        end=end,
        score=score,
        clip_id=cid or f"{path}:{start}",
        keyframe=(start + end) / 2,
        text=text,
        scores={"x": score},
    )


def test_overlapping_and_touching_windows_merge_keeping_the_best() -> None:
    a = hit("f.mp4", 10, 20, 0.5, text="middle")
    b = hit("f.mp4", 15, 25, 0.9, text="best")
    c = hit("f.mp4", 25, 35, 0.3, text="touching")
    d = hit("f.mp4", 40, 50, 0.8)
    e = hit("g.mp4", 12, 22, 0.7)
    out = merge_overlaps([a, b, c, d, e])
    assert [(h.path, h.start, h.end, h.score) for h in out] == [
        ("f.mp4", 10, 35, 0.9),
        ("f.mp4", 40, 50, 0.8),
        ("g.mp4", 12, 22, 0.7),
    ]
    best = out[0]
    assert best.keyframe == 20 and best.clip_id == b.clip_id and best.scores == {"x": 0.9}
    assert best.text == "best middle touching"
    assert (b.start, b.end, b.text) == (15, 25, "best")  # inputs untouched


def test_a_window_bridging_two_kept_hits_joins_them() -> None:
    left, right = hit("f.mp4", 0, 10, 0.9), hit("f.mp4", 20, 30, 0.8)
    bridge = hit("f.mp4", 8, 22, 0.1)
    out = merge_overlaps([right, bridge, left])
    assert [(h.start, h.end, h.score, h.keyframe) for h in out] == [(0, 30, 0.9, 5)]


def _reference_spans(hits: list[Hit]) -> set[tuple[str, float, float, float]]:
    """Connected components of the overlap graph per file, by brute force: (path, start, end, best)."""
    comps: list[list[Hit]] = []
    for h in hits:
        joined = [
            c for c in comps if any(x.path == h.path and x.start <= h.end and x.end >= h.start for x in c)
        ]
        merged = [h] + [x for c in joined for x in c]
        comps = [c for c in comps if c not in joined] + [merged]
    changed = True
    while changed:  # merge components whose union intervals now overlap (through chains)
        changed = False
        for i in range(len(comps)):
            for j in range(i + 1, len(comps)):
                a, b = comps[i], comps[j]
                if a[0].path == b[0].path and any(
                    x.start <= y.end and x.end >= y.start for x in a for y in b
                ):
                    comps[i] = a + b
                    del comps[j]
                    changed = True
                    break
            if changed:
                break
    return {
        (c[0].path, min(x.start for x in c), max(x.end for x in c), max(x.score for x in c)) for c in comps
    }


@pytest.mark.parametrize("seed", range(30))
def test_merge_matches_interval_union_reference(seed: int) -> None:
    rng = random.Random(seed)
    hits = []
    for i in range(rng.randint(1, 25)):
        s = rng.choice([0, 5, 10, 15, 20, 30, 45, 60, 62])
        hits.append(hit(rng.choice(["a.mp4", "b.wav"]), s, s + rng.choice([2, 5, 10]), rng.random(), f"c{i}"))
    out = merge_overlaps(hits)
    assert {(h.path, h.start, h.end, h.score) for h in out} == _reference_spans(hits)
    assert [h.score for h in out] == sorted((h.score for h in out), reverse=True)
    for a in out:  # the merged hits of one file are disjoint and each keyframe lies in its span
        assert a.start <= a.keyframe <= a.end
        assert not any(b is not a and b.path == a.path and b.start <= a.end and b.end >= a.start for b in out)


def test_group_by_file_keeps_the_best_hit_of_each_file() -> None:
    hits = [hit("a", 0, 5, 0.4), hit("b", 0, 5, 0.9), hit("a", 50, 55, 0.95), hit("b", 9, 14, 0.1)]
    assert [(h.path, h.start) for h in group_by_file(hits)] == [("a", 50), ("b", 0)]


def test_shape_merges_groups_then_cuts_to_k() -> None:
    hits = [hit("a", 0, 10, 0.9), hit("a", 5, 15, 0.85), hit("a", 30, 40, 0.8), hit("b", 0, 5, 0.7)]
    assert [(h.path, h.start, h.end) for h in shape(hits, 2)] == [("a", 0, 15), ("a", 30, 40)]
    assert [(h.path, h.start, h.end) for h in shape(hits, 5, by_file=True)] == [("a", 0, 15), ("b", 0, 5)]
    assert [(h.start, h.end) for h in shape(hits, 2, merge_windows=False)] == [(0, 10), (5, 15)]


def test_ties_break_by_clip_id() -> None:
    hits = [hit("z", 0, 1, 0.5, "c3"), hit("y", 0, 1, 0.5, "c1"), hit("x", 0, 1, 0.5, "c2")]
    assert [h.clip_id for h in sorted(hits, key=rank_key)] == ["c1", "c2", "c3"]
    assert [h.clip_id for h in merge_overlaps(hits)] == ["c1", "c2", "c3"]


def test_rrf_reference_and_weights() -> None:
    got = rrf([["a", "b", "c"], ["b", "a"]], k=60)
    assert got == pytest.approx({"a": 1 / 61 + 1 / 62, "b": 1 / 62 + 1 / 61, "c": 1 / 63})
    got = rrf([["a", "b"], ["b", "a"]], k=1, weights=[2.0, 1.0])
    assert got == pytest.approx({"a": 2 / 2 + 1 / 3, "b": 2 / 3 + 1 / 2})
    assert rrf([]) == {}
    with pytest.raises(ValueError, match="weights"):
        rrf([["a"]], weights=[1.0, 2.0])
