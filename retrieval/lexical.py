"""Lexical evidence for reranking (pure): how many of the query's words occur in a clip's words
(subtitles, description, transcript, text read on screen).

Sentence embeddings place "PARIS" close to "BERLIN"; a user typing a word that is on screen or
spoken wants the clip that has it. The planner adds `weight * lexical_overlap(...)` to the first
stage score of each candidate (it only reorders candidates the vector search found).

Example:
    >>> lexical_overlap("the PARIS poster", "Welcome to Paris! Poster shop")
    1.0
    >>> lexical_overlap("red apples", "green apples")
    0.5
"""

from __future__ import annotations

from omnisearch.indexers.rows import STOPWORDS, WORD


def words(text: str) -> list[str]:
    """Lower-cased word tokens without stopwords (the tokens the stores' full-text match uses)."""
    return [w for w in WORD.findall(text.lower()) if w not in STOPWORDS]


def lexical_overlap(query: str, text: str) -> float:
    """Fraction of the query's distinct content words found in `text` (0 when the query has none)."""
    q = set(words(query))
    if not q:
        return 0.0
    return len(q & set(words(text))) / len(q)
