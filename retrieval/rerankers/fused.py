"""Rerank by the fused query: each candidate's cosine between the fused query vector and its own
fused vector (taken from the first stage when the target is the fused column, else fetched once).

Example:
    >>> FusedRerank(store=None, query=None, target_is_fused=True).apply(Candidates.empty())
    'rerank: fused query vs the fused vectors of 0 candidates'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omnisearch.indexers.base import VectorStore
from omnisearch.retrieval.rerankers.base import Candidates, Reranker
from omnisearch.types import Modality

KEY = "rerank fused->fused"


@dataclass
class FusedRerank(Reranker):
    """score = order = cos(fused query, clip's fused vector)."""

    store: VectorStore | None
    query: np.ndarray | None
    target_is_fused: bool

    def apply(self, c: Candidates) -> str:
        ids = list(c.found)
        if self.target_is_fused:
            fused = {cid: c.found[cid].vector for cid in ids}
        else:
            fused = self.store.vectors(ids, Modality.FUSED) if self.store is not None and ids else {}
        for cid in ids:
            vec = fused.get(cid)
            sc = float(vec @ self.query) if vec is not None and self.query is not None else -1.0
            c.score[cid] = c.order[cid] = sc
            c.extra.setdefault(cid, {})[KEY] = sc
        c.order_is_cosine = True
        return f"rerank: fused query vs the fused vectors of {len(ids)} candidates"
