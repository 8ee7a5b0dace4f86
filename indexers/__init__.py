"""Vector stores: LanceDB (embedded default) and Qdrant (server URL or embedded local mode).

Example:
    >>> from omnisearch.indexers import open_store
    >>> store = open_store("lancedb", "/tmp/omni-db")   # doctest: +SKIP
"""

from __future__ import annotations

import os

from omnisearch.indexers.base import (
    EncoderMismatchError,
    EncoderRecord,
    Filter,
    StoreHit,
    VectorStore,
    check_encoder,
)
from omnisearch.indexers.lock import LOCK_NAME, IndexBusyError, WriterLock

STORES = ("lancedb", "qdrant")


def lock_path_for(db: str | None, url: str | None = None) -> str | None:
    """The writer-lock file of an index, known before the store is opened (None: a Qdrant server or
    an in-memory store, which serialise writes themselves)."""
    if url or not db or db == ":memory:":
        return None
    return os.path.join(os.path.expanduser(db), LOCK_NAME)


def open_store(
    kind: str, db: str | None, *, url: str | None = None, api_key: str | None = None, read_only: bool = False
) -> VectorStore:
    """Open (creating if needed) a store. Heavy clients are imported only here. `read_only` (a
    search): a small LanceDB index with a current exact-search snapshot opens as that snapshot,
    without importing lancedb."""
    if kind == "lancedb":
        if not db:
            raise ValueError("--db DIR is required for the lancedb store")
        if read_only:
            from omnisearch.indexers.snapshot import open_snapshot

            snap = open_snapshot(db)
            if snap is not None:
                from omnisearch.indexers.snapshot_store import SnapshotStore

                return SnapshotStore(snap)
        from omnisearch.indexers.lancedb_store import LanceStore

        return LanceStore(db)
    if kind == "qdrant":
        from omnisearch.indexers.qdrant_store import QdrantStore

        return QdrantStore(path=db, url=url, api_key=api_key)
    raise ValueError(f"unknown store {kind!r}; choose one of {', '.join(STORES)}")


__all__ = [
    "EncoderMismatchError",
    "EncoderRecord",
    "IndexBusyError",
    "WriterLock",
    "lock_path_for",
    "Filter",
    "StoreHit",
    "VectorStore",
    "check_encoder",
    "open_store",
    "STORES",
]
