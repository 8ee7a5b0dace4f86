"""Result shaping (pure): rank order, moments (a best window plus the few neighbours that match as
well), grouping by file.

A hit is its best-scoring window. A neighbouring window of the same file joins it only when it
overlaps that best window and its cosine is within `margin` of the best one, and at most
`max_windows` windows make one moment; any other window whose time lies in a moment already kept is
dropped (it is a weaker view of the same moment), and so is a neighbour that would grow a moment
into another one: the moments of a file never overlap. So a talk whose every window matches gives
moments of one to three windows, never the whole file.

Hits are ordered by `Hit.order_score` (the RRF value or boosted score when set, else the cosine),
best first, ties broken by clip id (then path and start), so the same candidates give the same order
whichever store found them.

Example:
    >>> a = Hit("f.mp4", 0, 10, 0.9); b = Hit("f.mp4", 5, 15, 0.88); c = Hit("g.wav", 0, 3, 0.7)
    >>> [(h.path, h.start, h.end, h.span_start, h.span_end) for h in merge_moments([a, b, c])]
    [('f.mp4', 0, 10, 0, 15), ('g.wav', 0, 3, 0, 3)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omnisearch.types import Hit


@dataclass(frozen=True)
class MomentConfig:
    """margin: a neighbour joins when its cosine >= best - margin; max_windows: windows per moment."""

    margin: float = 0.05
    max_windows: int = 3

    def __post_init__(self) -> None:
        if self.margin < 0 or self.max_windows < 1:
            raise ValueError("MomentConfig wants margin >= 0 and max_windows >= 1")


def rank_key(h: Hit) -> tuple[float, float, str, str, float]:
    """Sort key: best order score first; equal ones (two clips with the same RRF ranks) by the higher
    cosine, then a deterministic tie-break (clip id, path, start)."""
    return (-h.order_score, -h.score, h.clip_id, h.path, h.start)


def _span(h: Hit) -> tuple[float, float]:
    return (
        h.start if h.span_start is None else h.span_start,
        h.end if h.span_end is None else h.span_end,
    )


def _overlap(a0: float, a1: float, b0: float, b1: float) -> bool:
    """Strict overlap of [a0, a1] and [b0, b1] (windows that only touch do not overlap)."""
    return a0 < b1 and a1 > b0


def merge_moments(hits: Sequence[Hit], cfg: MomentConfig | None = None) -> list[Hit]:
    """Moments in rank order: each kept hit is a best window, its span grown by the neighbours that
    overlap that window and score within `cfg.margin` of it (at most `cfg.max_windows` windows).
    Windows falling inside a kept moment's span otherwise are dropped. Inputs are not modified."""
    cfg = cfg or MomentConfig()
    kept: list[Hit] = []
    windows: list[int] = []
    for h in sorted(hits, key=rank_key):
        home = next(
            (i for i, k in enumerate(kept) if k.path == h.path and _overlap(*_span(k), h.start, h.end)), None
        )
        if home is None:
            kept.append(
                Hit(**{**h.__dict__, "scores": dict(h.scores), "span_start": h.start, "span_end": h.end})
            )
            windows.append(1)
            continue
        best = kept[home]
        joins = (
            windows[home] < cfg.max_windows
            and _overlap(best.start, best.end, h.start, h.end)
            and h.score >= best.score - cfg.margin
            and not any(  # never grow into another moment: the moments of a file stay disjoint
                i != home and k.path == h.path and _overlap(*_span(k), h.start, h.end)
                for i, k in enumerate(kept)
            )
        )
        if joins:
            s0, s1 = _span(best)
            best.span_start, best.span_end = min(s0, h.start), max(s1, h.end)
            windows[home] += 1
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


def shape(
    hits: Sequence[Hit],
    k: int,
    merge_windows: bool = True,
    by_file: bool = False,
    moments: MomentConfig | None = None,
) -> list[Hit]:
    """The top `k` hits after forming moments (over all candidates) and grouping by file."""
    out = merge_moments(hits, moments) if merge_windows else sorted(hits, key=rank_key)
    if by_file:
        out = group_by_file(out)
    return out[:k]
