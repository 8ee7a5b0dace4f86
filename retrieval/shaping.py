"""Result shaping (pure): rank order, merging overlapping windows of one file, grouping by file, RRF.

Hits are ordered by score, best first, ties broken by clip id (then path and start), so the same
candidates give the same order whichever store found them.

Example:
    >>> a = Hit("f.mp4", 0, 10, 0.9); b = Hit("f.mp4", 5, 15, 0.8); c = Hit("g.wav", 0, 3, 0.7)
    >>> [(h.path, h.start, h.end) for h in merge_overlaps([a, b, c])]
    [('f.mp4', 0, 15), ('g.wav', 0, 3)]
    >>> sorted(rrf([["x", "y"], ["y"]]).items())
    [('x', 0.01639344262295082), ('y', 0.03252247488101534)]
"""

from __future__ import annotations

from collections.abc import Sequence

from omnisearch.types import Hit

RRF_K = 60


def rank_key(h: Hit) -> tuple[float, str, str, float]:
    """Sort key: best score first, then a deterministic tie-break (clip id, path, start)."""
    return (-h.score, h.clip_id, h.path, h.start)


def rrf(
    rankings: Sequence[Sequence[str]], k: int = RRF_K, weights: Sequence[float] | None = None
) -> dict[str, float]:
    """Reciprocal rank fusion: id -> sum over lists of w / (k + rank), rank from 1, w = 1 by default."""
    if weights is not None and len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    scores: dict[str, float] = {}
    for i, ranking in enumerate(rankings):
        w = 1.0 if weights is None else float(weights[i])
        for r, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + w / (k + r)
    return scores


def _overlaps(a: Hit, b: Hit) -> bool:
    return a.path == b.path and a.start <= b.end and a.end >= b.start


def _absorb(into: Hit, other: Hit) -> None:
    """Grow `into` (the better hit) to cover `other`; its score, keyframe and clip id stay."""
    into.start, into.end = min(into.start, other.start), max(into.end, other.end)
    for attr in ("text", "transcript"):
        mine, theirs = getattr(into, attr), getattr(other, attr)
        if theirs and theirs not in mine:
            setattr(into, attr, f"{mine} {theirs}".strip())


def merge_overlaps(hits: Sequence[Hit]) -> list[Hit]:
    """Merge the windows of one file that overlap (or touch), transitively, into one hit.

    The merged hit spans all of them and keeps the best window's score, keyframe, clip id and
    per-column scores; texts of the other windows are appended. A window that bridges two kept hits
    joins them. The input is not modified; the output is in rank order.
    """
    kept: list[Hit] = []
    for h in sorted(hits, key=rank_key):
        touching = [i for i, k in enumerate(kept) if _overlaps(k, h)]
        if not touching:
            kept.append(Hit(**{**h.__dict__, "scores": dict(h.scores)}))
            continue
        head = kept[touching[0]]  # the best of them: kept is in rank order
        _absorb(head, h)
        for i in reversed(touching[1:]):
            _absorb(head, kept.pop(i))
    return kept


def group_by_file(hits: Sequence[Hit]) -> list[Hit]:
    """The best hit of each file, in rank order."""
    seen: set[str] = set()
    out = []
    for h in sorted(hits, key=rank_key):
        if h.path not in seen:
            seen.add(h.path)
            out.append(h)
    return out


def shape(hits: Sequence[Hit], k: int, merge_windows: bool = True, by_file: bool = False) -> list[Hit]:
    """The top `k` hits after merging overlapping windows (over all candidates) and grouping by file."""
    out = merge_overlaps(hits) if merge_windows else sorted(hits, key=rank_key)
    if by_file:
        out = group_by_file(out)
    return out[:k]
