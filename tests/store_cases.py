"""What the store tests share: both real stores (skipped without lancedb / qdrant-client), the
encoder record they are opened with, and a clip row built from its path and span."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from omnisearch.indexers import EncoderRecord
from omnisearch.types import ClipRecord, Modality, clip_id

pytest.importorskip("lancedb")
pytest.importorskip("qdrant_client")

from omnisearch.indexers.lancedb_store import LanceStore  # noqa: E402, F401
from omnisearch.indexers.qdrant_store import QdrantStore  # noqa: E402, F401

DIM = 16
ENC = EncoderRecord("test-enc", "1", DIM)


def clip_row(
    path: str, start: float, length: float, vectors: dict[Modality, np.ndarray], media: str = "video", **kw
) -> ClipRecord:
    """The clip of `path` from `start` for `length` s (file hash from the path); text, transcript and
    the optional fields as given."""
    fh = hashlib.sha256(path.encode()).hexdigest()
    end = start + length
    ident = dict(clip_id=clip_id(fh, start, end), path=path, media_type=media, start=start, end=end)
    return ClipRecord(**ident, file_hash=fh, vectors=vectors, **kw)
