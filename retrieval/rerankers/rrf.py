"""Weighted reciprocal rank fusion of the first-stage lists (vector lists and the full-text list).

Example:
    >>> sorted(rrf([["x", "y"], ["y"]]).items())
    [('x', 0.01639344262295082), ('y', 0.03252247488101534)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omnisearch.retrieval.rerankers.base import Candidates, Reranker

RRF_K = 60


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


@dataclass
class RRFFusion(Reranker):
    """Order by weighted RRF over every list; the score shown stays the best cosine."""

    k: int = RRF_K

    def apply(self, c: Candidates) -> str:
        names = list(c.lists)
        fused = rrf([c.lists[n] for n in names], self.k, [c.weights.get(n, 1.0) for n in names])
        for cid in c.found:
            c.order[cid] = fused.get(cid, 0.0)
            c.extra.setdefault(cid, {})["rrf"] = c.order[cid]
        c.order_is_cosine = False
        return f"merge: reciprocal rank fusion of {len(names)} lists -> {len(c.found)} candidates"
