"""Result shaping (pure): merge overlapping windows of one file into one hit, group by file, RRF.

Example:
    >>> a = Hit("f.mp4", 0, 10, 0.9); b = Hit("f.mp4", 5, 15, 0.8); c = Hit("g.wav", 0, 3, 0.7)
    >>> [(h.path, h.start, h.end) for h in merge_overlaps([a, b, c])]
    [('f.mp4', 0, 15), ('g.wav', 0, 3)]
"""

from __future__ import annotations

from collections.abc import Sequence

from omnisearch.types import Hit

RRF_K = 60


def rrf(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> dict[str, float]:
    """Reciprocal rank fusion: id -> sum over lists of 1 / (k + rank), rank from 1."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for r, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + r)
    return scores


def merge_overlaps(hits: Sequence[Hit]) -> list[Hit]:
    """Hits sorted by score; a hit whose span overlaps (or touches) an already kept hit of the same
    file is folded into it: the kept hit's span grows, its score and keyframe stay the best one's."""
    kept: list[Hit] = []
    for h in sorted(hits, key=lambda x: -x.score):
        for k in kept:
            if k.path == h.path and h.start <= k.end and h.end >= k.start:
                k.start, k.end = min(k.start, h.start), max(k.end, h.end)
                if h.text and h.text not in k.text:
                    k.text = f"{k.text} {h.text}".strip()
                if h.transcript and h.transcript not in k.transcript:
                    k.transcript = f"{k.transcript} {h.transcript}".strip()
                break
        else:
            kept.append(Hit(**{**h.__dict__, "scores": dict(h.scores)}))
    return kept


def group_by_file(hits: Sequence[Hit]) -> list[Hit]:
    """The best hit of each file, in score order."""
    seen: set[str] = set()
    out = []
    for h in sorted(hits, key=lambda x: -x.score):
        if h.path not in seen:
            seen.add(h.path)
            out.append(h)
    return out
