"""Qdrant vector store: a server by URL, or the client's embedded local mode (a folder or ":memory:").

One collection (default `clips`) with the named vectors text / video / audio / fused, all cosine. A clip
missing a modality simply has no vector of that name, and Qdrant skips it when searching that name.
Point ids are `uuid5(NAMESPACE_URL, clip_id)`; the payload is the clip metadata (META_FIELDS).

The encoder record lives in the collection's own metadata (`metadata={"omnisearch.encoder": {...}}`),
which local mode persists in its folder and servers from Qdrant 1.16 keep in the collection config;
the collection's vector size is checked against it too.

Scores: Qdrant's cosine score is the cosine similarity (vectors normalised on upload), the same
convention as LanceStore. Filters map to Qdrant conditions in `qdrant_filter` (a path glob is resolved
to the matching paths, or applied in python in local mode) — exact, unlike over-fetching.

Example:
    >>> store = QdrantStore(path=":memory:")                              # doctest: +SKIP
    >>> store.ensure_encoder(EncoderRecord("omni-lite", "1", 512))        # doctest: +SKIP
    >>> store.search(Modality.AUDIO, query_vec, k=5, flt=Filter(path_glob="*.mp4"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np

from omnisearch.extras import MissingExtra

try:
    from qdrant_client import QdrantClient, models
except ImportError as e:
    raise MissingExtra("qdrant", "the Qdrant store (--store qdrant)", "qdrant_client") from e

from omnisearch.indexers.base import Filter, StoreHit, VectorStore
from omnisearch.indexers.lock import LOCK_NAME
from omnisearch.indexers.qdrant_filter import EMPTY, FilterPlan, plan_filter
from omnisearch.indexers.qdrant_local import open_local_client
from omnisearch.indexers.rows import META_FIELDS, WORD_FIELDS, files_of, record_meta, tie_order, words_matched
from omnisearch.spec import EncoderRecord, IndexSpec, check_encoder
from omnisearch.types import ClipRecord, Modality

ENCODER_KEY = "omnisearch.encoder"
SPEC_KEY = "omnisearch.spec"
_FLOAT_FIELDS = ("start", "end", "keyframe", "added_at")
_BATCH = 256


@dataclass
class QdrantConfig:
    """Collection and search settings. Payload indexes matter on servers only (local mode is brute force)."""

    hnsw_m: int = 16
    hnsw_ef_construct: int = 128
    search_ef: int = 128
    exact: bool = False
    shard_number: int | None = None
    replication_factor: int | None = None
    on_disk: bool = False
    keyword_indexes: tuple[str, ...] = ("path", "media_type", "file_hash", "clip_id")
    float_indexes: tuple[str, ...] = ("start", "end", "added_at")
    timeout: int | None = None


def point_id(clip_id: str) -> str:
    """The Qdrant point id of a clip: a uuid5 of its clip_id, stable across runs."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, clip_id))


class QdrantStore(VectorStore):
    """Qdrant-backed store; `url` wins over `path`; `path=":memory:"` keeps everything in RAM."""

    def __init__(
        self,
        path: str | Path | None = None,
        url: str | None = None,
        api_key: str | None = None,
        collection: str = "clips",
        config: QdrantConfig | None = None,
    ):
        self.config = config or QdrantConfig()
        self.collection = collection
        self.local = not url  # local mode is brute force: HNSW search params do not apply
        self.folder = str(path) if not url and path and str(path) != ":memory:" else None
        if url:
            self.client = QdrantClient(url=url, api_key=api_key, timeout=self.config.timeout)
        elif path is not None and str(path) == ":memory:":
            self.client = QdrantClient(":memory:")
        elif path:
            self.client = open_local_client(str(path))  # IndexBusyError when another process has it
        else:
            raise ValueError("QdrantStore needs a url (server) or a path (folder or ':memory:')")

    def lock_path(self) -> str | None:
        return os.path.join(self.folder, LOCK_NAME) if self.folder else None

    def _exists(self) -> bool:
        return self.client.collection_exists(self.collection)

    # -- encoder record -------------------------------------------------------------------------
    def encoder(self) -> EncoderRecord | None:
        if not self._exists():
            return None
        raw = (self.client.get_collection(self.collection).config.metadata or {}).get(ENCODER_KEY)
        return EncoderRecord.from_dict(raw) if raw else None

    def spec(self) -> IndexSpec | None:
        if not self._exists():
            return None
        raw = (self.client.get_collection(self.collection).config.metadata or {}).get(SPEC_KEY)
        return IndexSpec.from_dict(raw) if raw else None

    def save_spec(self, spec: IndexSpec) -> None:
        meta = dict(self.client.get_collection(self.collection).config.metadata or {})
        meta[SPEC_KEY] = spec.to_dict()
        self.client.update_collection(self.collection, metadata=meta)

    def ensure_encoder(self, record: EncoderRecord) -> None:
        if self._exists():
            check_encoder(self.encoder(), record)
            check_encoder(EncoderRecord(record.name, record.version, self._dim()), record)
            if self.encoder() is None:
                self.client.update_collection(self.collection, metadata={ENCODER_KEY: record.to_dict()})
            return
        cfg = self.config
        vec = models.VectorParams(size=record.dim, distance=models.Distance.COSINE, on_disk=cfg.on_disk)
        self.client.create_collection(
            self.collection,
            vectors_config={m.value: vec for m in Modality},
            hnsw_config=models.HnswConfigDiff(m=cfg.hnsw_m, ef_construct=cfg.hnsw_ef_construct),
            shard_number=cfg.shard_number,
            replication_factor=cfg.replication_factor,
            on_disk_payload=cfg.on_disk,
            metadata={ENCODER_KEY: record.to_dict()},
        )
        with warnings.catch_warnings():  # local mode warns that payload indexes have no effect
            warnings.simplefilter("ignore")
            for field, kind in [(f, models.PayloadSchemaType.KEYWORD) for f in cfg.keyword_indexes] + [
                (f, models.PayloadSchemaType.FLOAT) for f in cfg.float_indexes
            ]:
                self.client.create_payload_index(self.collection, field, field_schema=kind)
            text_index = models.TextIndexParams(
                type=models.TextIndexType.TEXT, tokenizer=models.TokenizerType.WORD, lowercase=True
            )
            for field in WORD_FIELDS:  # full-text payload indexes: the lexical first stage on servers
                self.client.create_payload_index(self.collection, field, field_schema=text_index)

    def _dim(self) -> int:
        params = self.client.get_collection(self.collection).config.params.vectors
        return params[Modality.TEXT.value].size if isinstance(params, dict) else params.size

    # -- writes -----------------------------------------------------------------------------------
    def upsert(self, records: list[ClipRecord]) -> None:
        if not records:
            return
        if not self._exists():
            raise RuntimeError("call ensure_encoder() before upsert() on a new Qdrant collection")
        dim = self._dim()
        latest = {r.clip_id: r for r in records}
        points = []
        for rec in latest.values():
            payload = {f: float(v) if f in _FLOAT_FIELDS else str(v) for f, v in record_meta(rec).items()}
            vectors = {}
            for m, vec in rec.vectors.items():
                if vec is None:
                    continue
                arr = np.asarray(vec, dtype=np.float32).reshape(-1)
                if arr.shape[0] != dim:
                    raise ValueError(
                        f"{Modality(m).value} vector of {rec.clip_id} has dim {arr.shape[0]} != {dim}"
                    )
                if float(np.linalg.norm(arr)) > 0:  # a zero vector means "no such modality" here too
                    vectors[Modality(m).value] = arr.tolist()
            points.append(models.PointStruct(id=point_id(rec.clip_id), vector=vectors, payload=payload))
        for i in range(0, len(points), _BATCH):
            self.client.upsert(self.collection, points=points[i : i + _BATCH], wait=True)

    def replace_file(self, path: str, records: list[ClipRecord]) -> None:
        """New points first, then the file's others (no multi-point transactions): a kill in between
        leaves both, which `files()` reports as changed (""). Local mode scans (its filters are slow)."""
        self.upsert(records)
        keep = {point_id(r.clip_id) for r in records}
        same = models.FieldCondition(key="path", match=models.MatchValue(value=path))
        flt = None if self.local else models.Filter(must=[same])
        stale = [p.id for p in self._scroll(flt, ["path"]) if p.payload["path"] == path and p.id not in keep]
        for i in range(0, len(stale), _BATCH):
            self.client.delete(self.collection, models.PointIdsList(points=stale[i : i + _BATCH]), wait=True)

    def delete_paths(self, paths: list[str]) -> int:
        if not paths or not self._exists():
            return 0
        wanted = sorted(set(paths))
        paths_set = set(wanted)
        if self.local:  # local MatchAny is O(points x values): find the ids with one scan instead
            ids = [p.id for p in self._scroll(None, ["path"]) if p.payload["path"] in paths_set]
            for i in range(0, len(ids), _BATCH):
                self.client.delete(
                    self.collection, models.PointIdsList(points=ids[i : i + _BATCH]), wait=True
                )
            return len(ids)
        gone = 0
        for i in range(0, len(wanted), 1000):
            cond = models.FieldCondition(key="path", match=models.MatchAny(any=wanted[i : i + 1000]))
            sel = models.Filter(must=[cond])
            n = self.client.count(self.collection, count_filter=sel, exact=True).count
            if n:
                self.client.delete(self.collection, models.FilterSelector(filter=sel), wait=True)
            gone += n
        return gone

    # -- reads ------------------------------------------------------------------------------------
    def _scroll(
        self, flt: models.Filter | None, fields: list[str] | bool, vectors: bool | list[str] = False
    ) -> Iterator[models.Record]:
        offset = None
        while True:
            batch, offset = self.client.scroll(
                self.collection,
                scroll_filter=flt,
                limit=1024,
                offset=offset,
                with_payload=fields,
                with_vectors=vectors,
            )
            yield from batch
            if offset is None:
                return

    def _plan(self, flt: Filter | None, read: bool = True) -> FilterPlan:
        """How `flt` runs here (see qdrant_filter); EMPTY when `read` is false or there is no collection."""
        if not read or not self._exists():
            return EMPTY
        return plan_filter(flt, self.local, lambda: self.files())

    def files(self) -> dict[str, str]:
        if not self._exists():
            return {}
        pts = [p.payload for p in self._scroll(None, ["path", "file_hash"])]
        return files_of([p["path"] for p in pts], [p["file_hash"] for p in pts])

    def scan(self, with_vectors: bool = False) -> Iterator[dict]:
        if not self._exists():
            return
        for p in self._scroll(None, list(META_FIELDS), vectors=with_vectors):
            row = _meta(p.payload)
            if with_vectors:  # named vectors: a dict holding the modalities the clip has
                row["vectors"] = {Modality(k): np.asarray(v, np.float32) for k, v in (p.vector or {}).items()}
            yield row

    def count(self, flt: Filter | None = None) -> int:
        plan = self._plan(flt)
        if plan.empty:
            return 0
        if plan.glob:
            return sum(plan.keeps(p.payload["path"]) for p in self._scroll(plan.qfilter, ["path"]))
        return self.client.count(self.collection, count_filter=plan.qfilter, exact=True).count

    def rows(self, flt: Filter | None = None) -> list[dict]:
        plan = self._plan(flt)
        out = [] if plan.empty else [_meta(p.payload) for p in self._scroll(plan.qfilter, list(META_FIELDS))]
        out = [r for r in out if plan.keeps(r["path"])]
        out.sort(key=lambda r: (r["path"], r["start"], r["clip_id"]))
        return out

    def search(
        self, modality: Modality, vector: np.ndarray, k: int, flt: Filter | None = None
    ) -> list[StoreHit]:
        plan = self._plan(flt, read=k > 0)
        if plan.empty:
            return []
        params = None
        if not self.local:
            params = models.SearchParams(hnsw_ef=max(self.config.search_ef, k), exact=self.config.exact)
        limit = k if plan.glob is None else max(4 * k, 256)
        while True:  # post-filtered glob: over-fetch until k hits pass or the candidates run out
            points = self.client.query_points(
                self.collection,
                query=np.asarray(vector, dtype=np.float32).reshape(-1).tolist(),
                using=Modality(modality).value,
                query_filter=plan.qfilter,
                search_params=params,
                limit=limit,
                with_payload=list(META_FIELDS),
                with_vectors=[Modality(modality).value],
            ).points
            kept = [p for p in points if plan.keeps(p.payload["path"])]
            if len(kept) >= k or len(points) < limit:
                hits = [_store_hit(p, float(p.score), Modality(modality)) for p in kept]
                return sorted(hits, key=tie_order)[:k]
            limit *= 8

    def text_search(self, text: str, column: Modality, k: int, flt: Filter | None = None) -> list[StoreHit]:
        """Clips whose word fields hold any query word (full-text payload index on servers, token
        match in local mode), ranked by how many distinct query words they hold."""
        plan = self._plan(flt, read=k > 0 and bool(text.strip()))
        if plan.empty:
            return []
        anyword = [
            models.FieldCondition(key=f, match=models.MatchTextAny(text_any=text)) for f in WORD_FIELDS
        ]
        both = models.Filter(
            must=[*(plan.qfilter.must if plan.qfilter else []), models.Filter(should=anyword)]
        )
        name = Modality(column).value
        scored = []
        for p in self._scroll(both, list(META_FIELDS), vectors=[name]):
            n = words_matched(text, p.payload)  # 0 where only stopwords matched
            if n > 0 and plan.keeps(p.payload["path"]):
                scored.append((n, p))
        scored.sort(key=lambda sp: (-sp[0], sp[1].payload["clip_id"]))
        return [_store_hit(p, float(n), Modality(column)) for n, p in scored[:k]]

    def vectors(self, clip_ids: list[str], modality: Modality) -> dict[str, np.ndarray]:
        if not clip_ids or not self._exists():
            return {}
        name = Modality(modality).value
        out: dict[str, np.ndarray] = {}
        uniq = sorted(set(clip_ids))
        for i in range(0, len(uniq), _BATCH):
            ids = [point_id(c) for c in uniq[i : i + _BATCH]]
            for p in self.client.retrieve(
                self.collection, ids=ids, with_payload=["clip_id"], with_vectors=[name]
            ):
                if isinstance(p.vector, dict) and name in p.vector:
                    out[p.payload["clip_id"]] = np.asarray(p.vector[name], dtype=np.float32)
        return out

    def maintain(self) -> list[str]:
        """Nothing to do: Qdrant builds HNSW segments past its indexing threshold by itself."""
        return []

    def optimize(self, keep: timedelta = timedelta(0), rebuild: bool = False) -> list[str]:
        """Qdrant's optimizer merges segments and builds HNSW in the background (servers); local mode
        is a brute-force scan with nothing to compact."""
        if self.local:
            return ["qdrant local mode: brute-force scan, nothing to compact or index"]
        return ["qdrant server: segments and HNSW are optimised by the server in the background"]

    def stats(self) -> dict:
        if not self._exists():
            return {"rows": 0}
        info = self.client.get_collection(self.collection)
        hnsw = info.config.hnsw_config
        return {
            "rows": int(info.points_count or 0),
            "segments": int(info.segments_count or 0),
            "indexed_vectors": int(info.indexed_vectors_count or 0),
            "status": str(info.status),
            "indexes": [{"type": "HNSW", "m": hnsw.m, "ef_construct": hnsw.ef_construct}]
            + [{"field": k, "type": str(v.data_type)} for k, v in (info.payload_schema or {}).items()],
            "search": {"hnsw_ef": self.config.search_ef, "exact": self.config.exact, "local": self.local},
        }

    def close(self) -> None:
        self.client.close()


def _store_hit(p, score: float, column: Modality) -> StoreHit:
    vec = p.vector.get(column.value) if isinstance(p.vector, dict) else None
    return StoreHit(
        row=_meta(p.payload), score=score, vector=None if vec is None else np.asarray(vec, np.float32)
    )


def _meta(payload: dict | None) -> dict:
    payload = payload or {}
    return {f: payload.get(f) for f in META_FIELDS}
