"""Export an index to JSON lines and import it into any store, without re-embedding.

One line per clip, sorted by (file, start, id):
`{"id", "file", "media_type", "start", "end", "hash", "text", "transcript", "ocr_text", "tags",
"keyframe", "added_at", "spec": {"name", "version", "dim"}, "index_spec": {...}}` plus, with vectors,
`"vectors": {modality: base64 of little-endian float32}` holding only the modalities the clip has.
Every line carries the spec (the encoder record) and, where the index recorded one, its `IndexSpec`
(model, segment and decode settings, roots), so any slice of the file can be imported on its own and
the imported index opens without `--model`. Vectors are stored bit-exact (base64 of the raw floats),
so LanceDB -> file -> LanceDB gives back the same bytes.

Example:
    >>> for line in export_lines(store, vectors=True):            # doctest: +SKIP
    ...     out.write(line + "\\n")
    >>> import_lines(open("clips.jsonl"), other_store)           # doctest: +SKIP
    1520
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator

import numpy as np

from omnisearch.indexers.base import EncoderRecord, VectorStore
from omnisearch.spec import IndexSpec, check_spec
from omnisearch.types import ClipRecord, Modality

_RENAME = {"clip_id": "id", "path": "file", "file_hash": "hash"}
_BATCH = 512


class TransferError(ValueError):
    """A line of an export file is not a clip this store can take (bad JSON, no vectors, mixed specs)."""


def encode_vector(v: np.ndarray) -> str:
    return base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode("ascii")


def decode_vector(s: str, dim: int) -> np.ndarray:
    v = np.frombuffer(base64.b64decode(s), dtype="<f4").astype(np.float32)
    if v.shape[0] != dim:
        raise TransferError(f"vector of {v.shape[0]} floats, the spec says {dim}")
    return v


def export_rows(store: VectorStore, vectors: bool = False) -> list[dict]:
    """The export rows of every clip in `store`, sorted by (file, start, id)."""
    rec, index_spec = store.encoder(), store.spec()
    spec = rec.to_dict() if rec else None
    full = index_spec.to_dict() if index_spec else None
    out = []
    for row in store.scan(with_vectors=vectors):
        vecs = row.pop("vectors", None)
        d = {_RENAME.get(k, k): v for k, v in row.items()}
        d["spec"] = spec
        if full is not None:
            d["index_spec"] = full
        if vectors:
            d["vectors"] = {Modality(m).value: encode_vector(v) for m, v in sorted(vecs.items())}
        out.append(d)
    out.sort(key=lambda d: (d["file"], d["start"], d["id"]))
    return out


def export_lines(store: VectorStore, vectors: bool = False) -> Iterator[str]:
    for d in export_rows(store, vectors):
        yield json.dumps(d, ensure_ascii=False)


def _record(d: dict, dim: int) -> ClipRecord:
    if "vectors" not in d:
        raise TransferError("this export has no vectors: export with --vectors to import it")
    back = {v: k for k, v in _RENAME.items()}
    meta = {back.get(k, k): v for k, v in d.items() if k not in ("spec", "index_spec", "vectors")}
    vecs = {Modality(m): decode_vector(s, dim) for m, s in d["vectors"].items()}
    return ClipRecord(vectors=vecs, **meta)


def _adopt(store: VectorStore, spec: IndexSpec) -> None:
    """Record an imported index's spec (its roots added to the store's own when it has one)."""
    mine = store.spec()
    check_spec(mine, spec)
    store.save_spec(spec if mine is None else mine.with_roots(spec.roots))


def import_lines(lines: Iterable[str], store: VectorStore) -> int:
    """Write the clips of an export into `store` (upsert by id); returns how many. Every line must
    carry the same spec, which the store records (or checks against its own)."""
    spec: dict | None = None
    batch: list[ClipRecord] = []
    n = 0
    for no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if spec is None:
                spec = d["spec"]
                record = EncoderRecord.from_dict(spec)
                store.ensure_encoder(record)
                if "index_spec" in d:
                    _adopt(store, IndexSpec.from_dict(d["index_spec"]))
            elif d["spec"] != spec:
                raise TransferError(f"spec {d['spec']} differs from the first line's {spec}")
            batch.append(_record(d, record.dim))
        except (ValueError, KeyError, TypeError) as e:
            raise TransferError(f"line {no}: {e}") from e
        if len(batch) >= _BATCH:
            store.upsert(batch)
            n, batch = n + len(batch), []
    store.upsert(batch)
    return n + len(batch)
