"""The LangChain and LlamaIndex retrievers with the real packages, on the generated library, and the
offline chain of examples/rag_chain.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from omnisearch.retrieval.query import QueryError

ROOT = Path(__file__).resolve().parents[1]
META = {"file", "start", "end", "span", "score", "clip_id", "media_type", "citation"}


@pytest.fixture(scope="module")
def db(api_library):
    return str(api_library[1])


def test_langchain_retriever_returns_cited_documents(db) -> None:
    lc = pytest.importorskip("langchain_core")
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    from omnisearch.integrations.langchain import OmnisearchRetriever

    r = OmnisearchRetriever(db=db, k=3)
    assert isinstance(r, BaseRetriever) and lc.__version__
    docs = r.invoke("budget for the warehouse")
    assert 1 <= len(docs) <= 3 and all(isinstance(d, Document) for d in docs)
    top = docs[0]
    assert "warehouse" in top.page_content.lower() and set(top.metadata) == META
    assert top.metadata["file"].endswith("talk.mp4") and top.metadata["citation"].startswith("talk.mp4 @ ")
    s0, s1 = top.metadata["span"]
    assert s0 <= top.metadata["start"] < top.metadata["end"] <= s1 and top.id == top.metadata["clip_id"]
    assert [d.metadata["score"] for d in docs] == sorted((d.metadata["score"] for d in docs), reverse=True)


def test_langchain_search_options_and_batch(db) -> None:
    pytest.importorskip("langchain_core")
    from omnisearch.integrations.langchain import OmnisearchRetriever

    r = OmnisearchRetriever(db=db, k=5, filters={"media_type": "audio"}, read_only=True)
    assert r.search_options == {"filters": {"media_type": "audio"}} and r.open_options == {"read_only": True}
    docs = r.invoke("anything at all")
    assert docs and {d.metadata["media_type"] for d in docs} == {"audio"} and docs[0].page_content == ""
    a, b = OmnisearchRetriever(db=db, k=1, target="text").batch(["gardening tips", "roses"])
    assert a[0].metadata["file"].endswith("garden.mp4") and b[0].metadata["file"].endswith("garden.mp4")
    # a pydantic model: the QueryError (a ValueError) comes wrapped in its ValidationError
    with pytest.raises(ValueError, match="unknown target"):
        OmnisearchRetriever(db=db, target="smell")
    with pytest.raises(ValueError, match="unknown search option"):
        OmnisearchRetriever(db=db, colour="red")


def test_llama_index_retriever_returns_scored_nodes(db) -> None:
    pytest.importorskip("llama_index.core")
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

    from omnisearch.integrations.llama_index import OmnisearchRetriever

    r = OmnisearchRetriever(db=db, k=3)
    assert isinstance(r, BaseRetriever)
    nodes = r.retrieve("budget for the warehouse")
    assert 1 <= len(nodes) <= 3 and all(isinstance(n, NodeWithScore) for n in nodes)
    top = nodes[0]
    assert set(top.node.metadata) == META and top.node.metadata["file"].endswith("talk.mp4")
    assert (
        top.score == pytest.approx(top.node.metadata["score"], abs=1e-6)
        and "warehouse" in top.node.text.lower()
    )
    llm_view = top.node.get_content(metadata_mode=MetadataMode.LLM)
    assert top.node.metadata["citation"] in llm_view and top.node.metadata["clip_id"] not in llm_view
    again = r.retrieve(QueryBundle("budget for the warehouse"))
    assert [n.node.node_id for n in again] == [n.node.node_id for n in nodes]
    with pytest.raises(QueryError, match="unknown filter"):
        OmnisearchRetriever(db=db, filters={"colour": "red"})


def test_retrievers_of_one_db_share_one_index(db) -> None:
    from omnisearch.integrations.common import shared_index

    assert shared_index(db, {}) is shared_index(db, {"read_only": True})
    assert shared_index(db, {}) is not shared_index(db, {"device": "cpu", "batch_size": 4})


@pytest.mark.parametrize("framework", ["langchain", "llama-index"])
def test_example_chain_fills_the_prompt_with_cited_context(db, framework) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "rag_chain.py"), "--db", db, "--framework", framework,
         "-k", "2", "what is the budget for the warehouse?"],
        capture_output=True, text=True, check=True, timeout=600,
    ).stdout  # fmt: skip
    assert "[1] talk.mp4 @ " in out and "warehouse" in out.lower()
    assert out.rstrip().endswith("Question: what is the budget for the warehouse?\nAnswer:")
