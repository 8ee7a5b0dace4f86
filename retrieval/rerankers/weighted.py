"""Weighted mean of the exact cosines of each candidate to the query vectors.

Example:
    >>> WeightedFusion().apply(Candidates.empty())
    'merge: weighted mean of exact cosines to 0 query vectors'
"""

from __future__ import annotations

from dataclasses import dataclass

from omnisearch.retrieval.rerankers.base import Candidates, Reranker


@dataclass
class WeightedFusion(Reranker):
    """score = order = sum_q w_q cos_q / sum_q w_q over the query vectors (list weights)."""

    def apply(self, c: Candidates) -> str:
        names = list(c.queries)
        total = sum(c.weights.get(n, 1.0) for n in names) or 1.0
        for cid, cos in c.cosines.items():
            mean = sum(c.weights.get(n, 1.0) * cos[n] for n in names) / total
            c.score[cid] = c.order[cid] = mean
        c.order_is_cosine = True
        return f"merge: weighted mean of exact cosines to {len(names)} query vectors"
