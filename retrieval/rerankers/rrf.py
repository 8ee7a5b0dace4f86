"""Weighted reciprocal rank fusion of the first-stage lists (vector lists and the full-text list).

Equal scores share a rank (competition ranking: 1, 2, 2, 4), so a list whose scores tie, such as a
text query's cosines to sound clips that hold no words (all exactly 0), adds the same to each of
them instead of an order that depends on how the store happened to return the rows.

Example:
    >>> sorted(rrf([["x", "y"], ["y"]]).items())
    [('x', 0.01639344262295082), ('y', 0.03252247488101534)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omnisearch.retrieval.rerankers.base import Candidates, Reranker

RRF_K = 60


def shared_ranks(ids: Sequence[str], scores: Sequence[float] | None) -> list[int]:
    """Rank from 1 of each id of a list, best first; with `scores`, 1 + the number of ids of the list
    scoring strictly higher (ties share a rank)."""
    if scores is None:
        return list(range(1, len(ids) + 1))
    if len(scores) != len(ids):
        raise ValueError(f"{len(scores)} scores for {len(ids)} ids")
    ordered = sorted(scores, reverse=True)
    higher = {}
    for i, s in enumerate(ordered):
        higher.setdefault(s, i)
    return [higher[s] + 1 for s in scores]


def rrf(
    rankings: Sequence[Sequence[str]],
    k: int = RRF_K,
    weights: Sequence[float] | None = None,
    scores: Sequence[Sequence[float] | None] | None = None,
) -> dict[str, float]:
    """Reciprocal rank fusion: id -> sum over lists of w / (k + rank), rank from 1, w = 1 by default;
    `scores` (per list, optional): ties share a rank (`shared_ranks`)."""
    if weights is not None and len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    out: dict[str, float] = {}
    for i, ranking in enumerate(rankings):
        w = 1.0 if weights is None else float(weights[i])
        ranks = shared_ranks(ranking, None if scores is None else scores[i])
        for r, key in zip(ranks, ranking, strict=True):
            out[key] = out.get(key, 0.0) + w / (k + r)
    return out


@dataclass
class RRFFusion(Reranker):
    """Order by weighted RRF over every list; the score shown stays the best cosine."""

    k: int = RRF_K

    def apply(self, c: Candidates) -> str:
        names = list(c.lists)
        weights = [c.weights.get(n, 1.0) for n in names]
        fused = rrf([c.lists[n] for n in names], self.k, weights, [c.list_scores(n) for n in names])
        for cid in c.found:
            c.order[cid] = fused.get(cid, 0.0)
            c.extra.setdefault(cid, {})["rrf"] = c.order[cid]
        c.order_is_cosine = False
        return f"merge: reciprocal rank fusion of {len(names)} lists -> {len(c.found)} candidates"
