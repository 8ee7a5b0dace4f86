"""The one interface of rank fusion and reranking: a `Reranker` rescores `Candidates` in place.

`Candidates` holds what the first stage found: each clip's row with its stored target vector (the
store returns it), the ranked lists (one per query vector, plus the full-text list "words"), and,
per clip, the exact cosine of its target vector to every query vector. Two numbers per clip result:
`score`, the cosine shown to the user (by default the best cosine among the query vectors), and
`order`, what the hits are ranked by (an RRF value, a weighted mean, a boosted score...).

Example:
    >>> c = Candidates.empty()
    >>> RRFFusion().apply(c)
    'merge: reciprocal rank fusion of 0 lists -> 0 candidates'
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from omnisearch.indexers.base import StoreHit

WORDS = "words"  # the name of the full-text list


@dataclass
class Candidates:
    """found: clip id -> row (+ target vector); lists: list name -> ids, best first; weights: list
    name -> weight; queries: vector list name -> unit query vector; cosines: id -> {name: cosine};
    score: id -> cosine shown; order: id -> rank value; extra: id -> further per-clip scores."""

    found: dict[str, StoreHit]
    lists: dict[str, list[str]]
    weights: dict[str, float]
    queries: dict[str, np.ndarray]
    cosines: dict[str, dict[str, float]] = field(default_factory=dict)
    score: dict[str, float] = field(default_factory=dict)
    order: dict[str, float] = field(default_factory=dict)
    extra: dict[str, dict[str, float]] = field(default_factory=dict)
    order_is_cosine: bool = True

    @classmethod
    def empty(cls) -> Candidates:
        return cls(found={}, lists={}, weights={}, queries={})

    def list_scores(self, name: str) -> list[float] | None:
        """The scores that rank list `name`, in its order: each clip's cosine to the list's query
        vector, or its full-text score in the words list (None when one is not known)."""
        table = self.extra if name == WORDS else self.cosines
        got = [table.get(cid, {}).get(name) for cid in self.lists[name]]
        return None if any(s is None for s in got) else [float(s) for s in got]

    def compute_cosines(self) -> None:
        """Exact cosines of every candidate's target vector to every query vector (from the vectors
        the store returned); `score` and `order` start as the best of them. Clips without a target
        vector are dropped."""
        self.found = {cid: h for cid, h in self.found.items() if h.vector is not None}
        names = list(self.queries)
        if not self.found or not names:
            return
        ids = list(self.found)
        sims = np.stack([self.found[c].vector for c in ids]) @ np.stack([self.queries[n] for n in names]).T
        for cid, row in zip(ids, sims, strict=True):
            self.cosines[cid] = {n: float(s) for n, s in zip(names, row, strict=True)}
            self.score[cid] = self.order[cid] = float(row.max())
        self.lists = {n: [c for c in ids_ if c in self.found] for n, ids_ in self.lists.items()}


class Reranker(ABC):
    """One step of merging / reranking; returns the plan line describing what it did."""

    @abstractmethod
    def apply(self, c: Candidates) -> str: ...
