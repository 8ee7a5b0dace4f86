"""A stored clip row as every store keeps it: its metadata fields, its own words (tokens, the reference
full-text match, postings) and the helpers the LanceDB, Qdrant and snapshot stores share.

Example:
    >>> sorted(word_tokens("The budget, LISBON!"))
    ['budget', 'lisbon']
"""

from __future__ import annotations

import re

import numpy as np

from omnisearch.indexers.base import StoreHit
from omnisearch.types import ClipRecord


def tie_order(hit: StoreHit) -> tuple:
    """Sort key of a store's hits: score (to 6 decimals, so that two stores' float rounding agrees),
    then path and start, so equal scores (identical clips) come in the same order from every store."""
    return (-round(hit.score, 6), hit.row["path"], hit.row["start"])


META_FIELDS = (
    "clip_id",
    "path",
    "media_type",
    "start",
    "end",
    "file_hash",
    "text",
    "transcript",
    "ocr_text",
    "tags",
    "keyframe",
    "added_at",
)


def record_meta(rec: ClipRecord) -> dict:
    """The metadata of a record as a plain dict (the payload both stores keep)."""
    return {f: getattr(rec, f) for f in META_FIELDS}


WORD_FIELDS = ("text", "transcript", "ocr_text", "tags")  # the clip's own words, full-text indexed
WORD = re.compile(r"[^\W_]+", re.UNICODE)
STOPWORDS = frozenset(
    "a an and are as at be by for from has he in is it its of on or that the this to was were will with "
    "i you we they she his her their our my your what when where who how which".split()
)


def word_tokens(text: str) -> set[str]:
    """Lower-cased word tokens without stopwords, e.g. word_tokens("The budget, LISBON!") ==
    {"budget", "lisbon"} (LanceDB's full-text index drops stopwords too)."""
    return {w for w in WORD.findall(text.lower()) if w not in STOPWORDS}


def words_matched(query: str, row: dict) -> int:
    """How many distinct query tokens a row's word fields hold (the reference full-text score)."""
    return len(word_tokens(query) & word_tokens(row_words(row)))


def row_words(row: dict) -> str:
    """The clip's own words: its word fields joined."""
    return " ".join(str(row.get(f) or "") for f in WORD_FIELDS)


def postings(texts: list[str]) -> dict[str, list[int]]:
    """token -> indices of the texts holding it (an inverted index for `match_counts`)."""
    out: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        for tok in word_tokens(text):
            out.setdefault(tok, []).append(i)
    return out


def match_counts(query: str, index: dict[str, list[int]]) -> dict[int, int]:
    """text index -> how many distinct query tokens it holds (only texts holding one or more)."""
    counts: dict[int, int] = {}
    for tok in word_tokens(query):
        for i in index.get(tok, ()):
            counts[i] = counts.get(i, 0) + 1
    return counts


def files_of(paths: list[str], hashes: list[str]) -> dict[str, str]:
    """path -> content hash; a path whose rows carry two hashes (a re-index cut short between a
    store's two writes) maps to "" so that it never looks unchanged.

    Example:
        >>> files_of(["a", "a", "b"], ["h1", "h2", "h3"])
        {'a': '', 'b': 'h3'}
    """
    out: dict[str, str] = {}
    for p, h in zip(paths, hashes, strict=True):
        out[p] = h if out.get(p, h) == h else ""
    return out


def vector_matrix(column, dim: int) -> np.ndarray:
    """A pyarrow column of fixed-size float lists -> a contiguous float32 (n, dim) matrix."""
    flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(np.asarray(flat, dtype=np.float32).reshape(-1, dim))
