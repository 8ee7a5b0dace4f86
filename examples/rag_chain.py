"""A small offline RAG chain: an omnisearch retriever fills a prompt template with cited context.

    python examples/rag_chain.py --db ~/.omnisearch/db "what is the budget for the warehouse?"
    python examples/rag_chain.py --db ~/.omnisearch/db --framework llama-index "who is hiring?"

No LLM is called: the script prints the prompt a chat model would get (each moment of the library as
a numbered source with its citation, "talk.mp4 @ 00:05-00:15", and its words). To answer for real,
pipe the LangChain chain into any chat model: `build_chain(db) | ChatModel() | StrOutputParser()`.
"""

from __future__ import annotations

import argparse

from omnisearch.config import set_thread_env

set_thread_env()

TEMPLATE = (
    "Answer the question from the moments of the media library below. Cite each fact by its source "
    "number and citation, e.g. [1] talk.mp4 @ 00:05-00:15. Say so if the sources do not answer it.\n\n"
    "{context}\n\nQuestion: {question}\nAnswer:"
)


def format_sources(items: list[tuple[str, str]]) -> str:
    """(citation, words) pairs as numbered sources, e.g. "[1] talk.mp4 @ 00:05-00:15\\nthe budget..."."""
    blocks = [f"[{i}] {cite}\n{words.strip() or '(no words: a sound or a picture)'}" for i, (cite, words) in
              enumerate(items, 1)]  # fmt: skip
    return "\n\n".join(blocks) or "(nothing found)"


def build_chain(db: str, k: int = 4, **options):
    """LangChain: question -> {context: retriever | sources, question} -> the filled prompt."""
    from langchain_core.prompts import PromptTemplate
    from langchain_core.runnables import RunnableLambda, RunnablePassthrough

    from omnisearch.integrations.langchain import OmnisearchRetriever

    retriever = OmnisearchRetriever(db=db, k=k, **options)
    sources = RunnableLambda(
        lambda docs: format_sources([(d.metadata["citation"], d.page_content) for d in docs])
    )
    return {"context": retriever | sources, "question": RunnablePassthrough()} | PromptTemplate.from_template(
        TEMPLATE
    )


def llama_index_prompt(db: str, question: str, k: int = 4, **options) -> str:
    """LlamaIndex: retrieve the nodes, fill a llama-index PromptTemplate with them."""
    from llama_index.core.prompts import PromptTemplate

    from omnisearch.integrations.llama_index import OmnisearchRetriever

    nodes = OmnisearchRetriever(db=db, k=k, **options).retrieve(question)
    context = format_sources([(n.node.metadata["citation"], n.node.get_content()) for n in nodes])
    return PromptTemplate(TEMPLATE).format(context=context, question=question)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("question")
    ap.add_argument("--db", required=True)
    ap.add_argument("-k", type=int, default=4)
    ap.add_argument("--framework", choices=("langchain", "llama-index"), default="langchain")
    args = ap.parse_args()
    if args.framework == "langchain":
        print(build_chain(args.db, args.k).invoke(args.question).to_string())
    else:
        print(llama_index_prompt(args.db, args.question, args.k))


if __name__ == "__main__":
    main()
