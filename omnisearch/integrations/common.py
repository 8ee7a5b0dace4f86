"""What both RAG retrievers share: one open Index per db and options (so models load once however many
retrievers are built), the split of their keyword options, and a hit's metadata. No heavy imports.

Example:
    >>> split_options({"store": "lancedb", "target": "text"})
    ({'store': 'lancedb'}, {'target': 'text'})
"""

from __future__ import annotations

import os
import threading
from dataclasses import fields
from typing import Any

from omnisearch.api import Index, OpenOptions, search_options
from omnisearch.hits import SearchHit

_OPEN_NAMES = frozenset(f.name for f in fields(OpenOptions))
_shared: dict[tuple, Index] = {}
_shared_lock = threading.Lock()


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keyword options -> (OpenOptions fields, search options)."""
    opened = {k: v for k, v in options.items() if k in _OPEN_NAMES}
    return opened, {k: v for k, v in options.items() if k not in _OPEN_NAMES}


def check_search_options(k: int, search: dict[str, Any]) -> None:
    """Raise QueryError now (when the retriever is built) for options a search would refuse."""
    search_options(k=k, **search)


def shared_index(db: str | os.PathLike[str], open_options: dict[str, Any]) -> Index:
    """The Index of `db` opened with these options, opened once per process and then shared."""
    opts = OpenOptions(**{"read_only": True, **open_options})
    key = (os.path.abspath(os.path.expanduser(os.fspath(db))), opts)
    with _shared_lock:
        idx = _shared.get(key)
        if idx is None:
            idx = _shared[key] = Index(db, opts)
        return idx


def hit_metadata(h: SearchHit) -> dict[str, Any]:
    """A hit's metadata for a retrieved document: file, start, end, span, score, clip_id, media_type,
    citation (plain JSON values)."""
    return {
        "file": h.file,
        "start": round(h.start, 3),
        "end": round(h.end, 3),
        "span": [round(h.span_start, 3), round(h.span_end, 3)],
        "score": round(float(h.score), 6),
        "clip_id": h.clip_id,
        "media_type": h.media_type,
        "citation": h.citation,
    }
