"""LlamaIndex retriever over an omnisearch index (extra `llama-index`: llama-index-core).

Each clip found is a NodeWithScore (score = its cosine) holding a TextNode: text = the clip's words
(transcript, subtitles and description, on-screen text), metadata = file, start, end, span, score,
clip_id, media_type, citation.

Example:
    >>> from omnisearch.integrations.llama_index import OmnisearchRetriever   # doctest: +SKIP
    >>> nodes = OmnisearchRetriever(db="~/db", k=3).retrieve("warehouse budget")  # doctest: +SKIP
    >>> nodes[0].node.metadata["citation"], nodes[0].score                    # doctest: +SKIP
    ('talk.mp4 @ 00:10-00:20', 0.41)
"""

from __future__ import annotations

import os
from typing import Any

from omnisearch.extras import MissingExtra

try:
    from llama_index.core.callbacks import CallbackManager
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
except ImportError as e:
    raise MissingExtra("llama-index", "the LlamaIndex retriever", "llama_index.core") from e

from omnisearch.integrations.common import check_search_options, hit_metadata, shared_index, split_options

_NOT_FOR_THE_LLM = ["clip_id", "score", "start", "end", "span"]  # the citation says it for the model


class OmnisearchRetriever(BaseRetriever):
    """`OmnisearchRetriever(db=..., k=..., **options)`: options are omnisearch.open's (store, device,
    qdrant_url, ...) and Index.search's (target, filters, rerank, prefetch, ...)."""

    def __init__(
        self,
        db: str | os.PathLike[str],
        k: int = 4,
        *,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
        **options: Any,
    ) -> None:
        self.db = os.fspath(db)
        self.k = k
        self.open_options, self.search_options = split_options(options)
        check_search_options(k, self.search_options)
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        idx = shared_index(self.db, self.open_options)
        hits = idx.search(query_bundle.query_str, k=self.k, **self.search_options)
        return [
            NodeWithScore(
                node=TextNode(
                    id_=h.clip_id,
                    text=h.words,
                    metadata=hit_metadata(h),
                    excluded_llm_metadata_keys=list(_NOT_FOR_THE_LLM),
                    excluded_embed_metadata_keys=list(_NOT_FOR_THE_LLM),
                ),
                score=float(h.score),
            )
            for h in hits
        ]
