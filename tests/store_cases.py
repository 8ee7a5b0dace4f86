"""What the store tests share: both real stores (skipped without lancedb / qdrant-client), the
encoder record they are opened with, and a clip row built from its path and span."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from omnisearch.indexers import EncoderRecord
from omnisearch.models.base import l2_normalize
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


def clips(n: int, seed: int = 0, dim: int = DIM, words: dict[int, str] | None = None) -> list[ClipRecord]:
    """n clips of 10 s from n // 4 files, random unit vectors in every column; `words` puts a
    transcript on some of them."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        path, start = f"/lib/f{i // 4}.mp4", 10.0 * (i % 4)
        vecs = {m: l2_normalize(rng.standard_normal(dim)).astype(np.float32) for m in Modality}
        said = (words or {}).get(i, "people talk about the weather")
        out.append(clip_row(path, start, 10.0, vecs, text=f"clip {i}", transcript=said, added_at=float(i)))
    return out
