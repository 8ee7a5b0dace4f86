"""Integrations of omnisearch with RAG frameworks (optional extras): LangChain, LlamaIndex."""
