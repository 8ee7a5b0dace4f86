"""The lexical boost (an option beside the full-text list): reorder candidates by how many of the
query's words their own words hold (subtitles, transcript, on-screen text). A cosine order gets
`weight * overlap` added; an RRF order gets the overlap ranking fused in as one more list.

Example:
    >>> LexicalBoost("warehouse", 0.25).apply(Candidates.empty())
    'lexical: query words found in 0 candidates (boosted)'
"""

from __future__ import annotations

from dataclasses import dataclass

from omnisearch.indexers.rows import WORD_FIELDS
from omnisearch.retrieval.lexical import lexical_overlap
from omnisearch.retrieval.rerankers.base import Candidates, Reranker
from omnisearch.retrieval.rerankers.rrf import rrf


@dataclass
class LexicalBoost(Reranker):
    text: str
    weight: float = 0.25

    def apply(self, c: Candidates) -> str:
        overlap = {}
        for cid, sh in c.found.items():
            words = " ".join(str(sh.row.get(f) or "") for f in WORD_FIELDS)
            overlap[cid] = lexical_overlap(self.text, words)
        matched = [cid for cid in sorted(overlap, key=lambda x: (-overlap[x], x)) if overlap[cid] > 0]
        if c.order_is_cosine:
            for cid in matched:
                c.order[cid] += self.weight * overlap[cid]
        else:
            extra = rrf([matched], weights=[self.weight * 4], scores=[[overlap[cid] for cid in matched]])
            for cid in matched:
                c.order[cid] += extra[cid]
        for cid in matched:
            c.extra.setdefault(cid, {})["lexical"] = overlap[cid]
        c.order_is_cosine = False
        return f"lexical: query words found in {len(matched)} candidates (boosted)"
