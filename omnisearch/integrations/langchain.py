"""LangChain retriever over an omnisearch index (extra `langchain`: langchain-core).

Each clip found is a Document: page content = the clip's words (transcript, subtitles and
description, on-screen text), metadata = file, start, end, span, score, clip_id, media_type, citation.

Example:
    >>> from omnisearch.integrations.langchain import OmnisearchRetriever     # doctest: +SKIP
    >>> docs = OmnisearchRetriever(db="~/db", k=3).invoke("the warehouse budget")  # doctest: +SKIP
    >>> docs[0].metadata["citation"]                                           # doctest: +SKIP
    'talk.mp4 @ 00:10-00:20'
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from omnisearch.extras import MissingExtra

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
except ImportError as e:
    raise MissingExtra("langchain", "the LangChain retriever", "langchain_core") from e

from omnisearch.integrations.common import check_search_options, hit_metadata, shared_index, split_options


class OmnisearchRetriever(BaseRetriever):
    """`OmnisearchRetriever(db=..., k=..., **options)`: options are omnisearch.open's (store, device,
    qdrant_url, ...) and Index.search's (target, filters, rerank, prefetch, ...)."""

    db: str
    k: int = 4
    open_options: dict[str, Any] = Field(default_factory=dict)
    search_options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather(cls, data: Any) -> Any:
        """Keyword options that are not fields go to open_options / search_options."""
        if not isinstance(data, dict):
            return data
        extra = {k: v for k, v in data.items() if k not in cls.model_fields}
        opened, search = split_options(extra)
        own = {k: v for k, v in data.items() if k in cls.model_fields}
        own["open_options"] = {**own.get("open_options", {}), **opened}
        own["search_options"] = {**own.get("search_options", {}), **search}
        return own

    @model_validator(mode="after")
    def _check(self) -> OmnisearchRetriever:
        check_search_options(self.k, self.search_options)
        return self

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        idx = shared_index(self.db, self.open_options)
        hits = idx.search(query, k=self.k, **self.search_options)
        return [Document(page_content=h.words, metadata=hit_metadata(h), id=h.clip_id) for h in hits]
