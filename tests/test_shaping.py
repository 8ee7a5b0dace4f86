"""Result shaping: moments (best window + capped neighbours within a margin), grouping, RRF.

Example:
    $ .venv/bin/python -m pytest tests/test_shaping.py -q
"""

from __future__ import annotations

import random

import pytest

from omnisearch.retrieval.rerankers import rrf
from omnisearch.retrieval.rerankers.rrf import shared_ranks
from omnisearch.retrieval.shaping import MomentConfig, group_by_file, merge_moments, rank_key, shape
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


def test_neighbours_join_the_best_window_only_within_the_margin() -> None:
    a = hit("f.mp4", 10, 20, 0.87, text="before")
    b = hit("f.mp4", 15, 25, 0.9, text="best")
    c = hit("f.mp4", 20, 30, 0.6, text="weak neighbour")
    d = hit("f.mp4", 25, 35, 0.89)  # touches the best window only: not a neighbour, its own moment
    e = hit("g.mp4", 12, 22, 0.7)
    out = merge_moments([a, b, c, d, e], MomentConfig(margin=0.05))
    assert [(h.path, h.start, h.end, h.span_start, h.span_end, h.score) for h in out] == [
        ("f.mp4", 15, 25, 10, 25, 0.9),
        ("f.mp4", 25, 35, 25, 35, 0.89),
        ("g.mp4", 12, 22, 12, 22, 0.7),
    ]
    best = out[0]
    assert best.keyframe == 20 and best.clip_id == b.clip_id and best.text == "best"
    assert (b.span_start, b.span_end) == (None, None)  # inputs untouched


def test_a_talk_whose_every_window_matches_gives_moments_not_the_file() -> None:
    """A 10-min talk, 10 s windows every 5 s, all about equally good: each hit spans <= 3 windows."""
    rng = random.Random(3)
    hits = [hit("talk.mp4", s, s + 10, 0.8 + 0.01 * rng.random()) for s in range(0, 595, 5)]
    out = merge_moments(hits)
    assert len(out) > 20
    for h in out:
        assert h.end - h.start == 10 and h.span_end - h.span_start <= 20
    cfg = MomentConfig(margin=1.0, max_windows=5)
    assert all(h.span_end - h.span_start <= 20 for h in merge_moments(hits, cfg))  # neighbours overlap it


def test_a_neighbour_never_grows_a_moment_into_the_next_one() -> None:
    """The talk's case: the window after the best one ranks second, then the one between them would
    join the first moment and overlap the second: it is dropped instead."""
    first, second = hit("t.mp4", 575, 585, 0.412), hit("t.mp4", 585, 595, 0.409)
    between = hit("t.mp4", 580, 590, 0.405)
    out = merge_moments([first, second, between])
    assert [(h.start, h.span_start, h.span_end) for h in out] == [(575, 575, 585), (585, 585, 595)]


@pytest.mark.parametrize("seed", range(30))
def test_moment_invariants(seed: int) -> None:
    rng = random.Random(seed)
    hits = []
    for i in range(rng.randint(1, 25)):
        s = rng.choice([0, 5, 10, 15, 20, 30, 45, 60, 62])
        hits.append(hit(rng.choice(["a.mp4", "b.wav"]), s, s + rng.choice([2, 5, 10]), rng.random(), f"c{i}"))
    cfg = MomentConfig(margin=rng.choice([0.0, 0.1, 0.5]), max_windows=rng.choice([1, 2, 3]))
    out = merge_moments(hits, cfg)
    by_id = {h.clip_id: h for h in hits}
    assert [h.order_score for h in out] == sorted((h.order_score for h in out), reverse=True)
    for i, m in enumerate(out):
        src = by_id[m.clip_id]
        assert (m.start, m.end, m.score) == (src.start, src.end, src.score)  # the best window itself
        assert m.span_start <= m.start <= m.keyframe <= m.end <= m.span_end
        joined = [
            h for h in hits
            if h.path == m.path and h.start < m.end and h.end > m.start and h.score >= m.score - cfg.margin
        ]  # fmt: skip
        assert m.span_start >= min(h.start for h in joined) and m.span_end <= max(h.end for h in joined)
        for later in out[i + 1 :]:  # the moments of a file never overlap
            assert not (
                later.path == m.path and later.span_start < m.span_end and later.span_end > m.span_start
            )
    for h in hits:  # every window is a moment, or lies in (overlaps) one kept before it
        assert any(m.path == h.path and m.span_start < h.end and m.span_end > h.start for m in out)
    assert [h.clip_id for h in out] == [h.clip_id for h in merge_moments(list(reversed(hits)), cfg)]


def test_order_score_ranks_while_score_stays_the_cosine() -> None:
    a = Hit("a", 0, 10, 0.9, clip_id="a", rank_score=0.01)
    b = Hit("b", 0, 10, 0.5, clip_id="b", rank_score=0.03)
    assert [h.clip_id for h in shape([a, b], 2)] == ["b", "a"]
    assert shape([a, b], 2)[0].score == 0.5
    d = shape([a], 1)[0].to_dict()
    assert (d["start"], d["end"], d["span_start"], d["span_end"]) == (0, 10, 0, 10)


def test_group_by_file_keeps_the_best_hit_of_each_file() -> None:
    hits = [hit("a", 0, 5, 0.4), hit("b", 0, 5, 0.9), hit("a", 50, 55, 0.95), hit("b", 9, 14, 0.1)]
    assert [(h.path, h.start) for h in group_by_file(hits)] == [("a", 50), ("b", 0)]


def test_shape_merges_groups_then_cuts_to_k() -> None:
    hits = [hit("a", 0, 10, 0.9), hit("a", 5, 15, 0.85), hit("a", 30, 40, 0.8), hit("b", 0, 5, 0.7)]
    spans = [(h.path, h.start, h.span_end) for h in shape(hits, 2)]
    assert spans == [("a", 0, 15), ("a", 30, 40)]
    assert [(h.path, h.span_end) for h in shape(hits, 5, by_file=True)] == [("a", 15), ("b", 5)]
    assert [(h.start, h.end) for h in shape(hits, 2, merge_windows=False)] == [(0, 10), (5, 15)]


def test_ties_break_by_clip_id() -> None:
    hits = [hit("z", 0, 1, 0.5, "c3"), hit("y", 0, 1, 0.5, "c1"), hit("x", 0, 1, 0.5, "c2")]
    assert [h.clip_id for h in sorted(hits, key=rank_key)] == ["c1", "c2", "c3"]
    assert [h.clip_id for h in merge_moments(hits)] == ["c1", "c2", "c3"]


def test_rrf_reference_and_weights() -> None:
    got = rrf([["a", "b", "c"], ["b", "a"]], k=60)
    assert got == pytest.approx({"a": 1 / 61 + 1 / 62, "b": 1 / 62 + 1 / 61, "c": 1 / 63})
    got = rrf([["a", "b"], ["b", "a"]], k=1, weights=[2.0, 1.0])
    assert got == pytest.approx({"a": 2 / 2 + 1 / 3, "b": 2 / 3 + 1 / 2})
    assert rrf([]) == {}
    with pytest.raises(ValueError, match="weights"):
        rrf([["a"]], weights=[1.0, 2.0])


@pytest.mark.parametrize("seed", range(10))
def test_shared_ranks_equal_a_count_of_higher_scores(seed: int) -> None:
    rng = random.Random(seed)
    scores = [rng.choice([0.0, 0.5, 0.5, 0.9, 1.0]) for _ in range(rng.randint(0, 12))]
    ids = [f"c{i}" for i in range(len(scores))]
    assert shared_ranks(ids, scores) == [1 + sum(t > s for t in scores) for s in scores]
    assert shared_ranks(ids, None) == list(range(1, len(ids) + 1))


def test_a_list_of_tied_scores_adds_the_same_to_each_whatever_its_order() -> None:
    """A text query against clips with no words scores them all 0: that list must not rank them."""
    audio = (["s3", "s3b", "s6", "s5"], [1.0, 1.0, 0.9, 0.6])
    words_a, words_b = ["s5", "s6", "s3b", "s3"], ["s3", "s3b", "s6", "s5"]
    got = [rrf([audio[0], ws], scores=[audio[1], [0.0] * 4]) for ws in (words_a, words_b)]
    assert got[0] == pytest.approx(got[1])
    assert got[0]["s3"] == pytest.approx(got[0]["s3b"]) and got[0]["s3"] > got[0]["s6"] > got[0]["s5"]
