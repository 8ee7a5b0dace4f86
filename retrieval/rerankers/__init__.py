"""Rank fusion and reranking: small objects on one interface (`Reranker.apply(Candidates)`), one per
file: RRF, weighted mean of cosines, fused-query rerank, lexical boost."""

from omnisearch.retrieval.rerankers.base import WORDS, Candidates, Reranker
from omnisearch.retrieval.rerankers.fused import FusedRerank
from omnisearch.retrieval.rerankers.lexical import LexicalBoost
from omnisearch.retrieval.rerankers.rrf import RRF_K, RRFFusion, rrf
from omnisearch.retrieval.rerankers.weighted import WeightedFusion

__all__ = [
    "Candidates",
    "FusedRerank",
    "LexicalBoost",
    "RRFFusion",
    "RRF_K",
    "Reranker",
    "WORDS",
    "WeightedFusion",
    "rrf",
]
