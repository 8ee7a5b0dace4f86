"""LanceDB (embedded) vector store: one table `clips`, one row per clip.

Columns: every META_FIELDS entry, the vectors `vec_text`, `vec_video`, `vec_audio`, `vec_fused`
(fixed-size float32 lists of the encoder dim) and `has_<modality>` booleans. A clip missing a modality
stores a zero vector with `has_<modality> = false`, and every search on that column prefilters
`has_<modality> = true`. The encoder record is kept in the table's Arrow schema metadata under
`omnisearch.encoder` (JSON), so it lives and dies with the table itself.

Scores: searches use LanceDB's "cosine" distance (1 - cos) and report `score = 1 - distance`, the
cosine similarity; for the unit vectors the encoder writes this is their dot product. Search, full-text
search and index upkeep live in `LanceSearch` (lance_search.py) and the index policy in ann.py: exact
search from a cached matrix below the ANN threshold, an ANN index that `index` builds above it.

Example:
    >>> store = LanceStore("/tmp/omni-db")                               # doctest: +SKIP
    >>> store.ensure_encoder(EncoderRecord("omni-lite", "1", 512))       # doctest: +SKIP
    >>> store.search(Modality.TEXT, query_vec, k=10, flt=Filter(media_type="video"))  # doctest: +SKIP
"""

from __future__ import annotations

import fnmatch
import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from omnisearch.indexers.ann import AnnPolicy, build_vector_indexes
from omnisearch.indexers.base import Filter, StoreHit, VectorStore
from omnisearch.indexers.lance_import import lancedb
from omnisearch.indexers.lance_search import LanceSearch
from omnisearch.indexers.lock import LOCK_NAME
from omnisearch.indexers.rows import META_FIELDS, files_of, record_meta, tie_order
from omnisearch.indexers.spec_file import read_spec, write_spec
from omnisearch.spec import EncoderRecord, IndexSpec, check_encoder
from omnisearch.types import ClipRecord, Modality

TABLE = "clips"
ENCODER_KEY = b"omnisearch.encoder"
TABLE_ID_KEY = b"omnisearch.table_id"  # random, written at creation: tells a remade table from the old
_FLOAT_FIELDS = ("start", "end", "keyframe", "added_at")
_CHUNK = 500  # values per SQL IN (...) list


def path_in(paths: list[str]) -> str:
    """The filter `path` IN (...) for these paths (quoted by `sql_str`)."""
    return f"`path` IN ({', '.join(sql_str(p) for p in paths)})"


def sql_str(value: str) -> str:
    """A SQL string literal: single quotes doubled, e.g. sql_str("it's") == "'it''s'"."""
    return "'" + value.replace("'", "''") + "'"


def glob_to_like(pattern: str) -> str | None:
    """fnmatch pattern -> LIKE pattern (escape char backslash), or None if it uses [...] classes."""
    if "[" in pattern:
        return None
    out = []
    for ch in pattern:
        if ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        elif ch in "\\%_":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _num(value: float) -> str:
    return repr(float(value)) if np.isfinite(value) else ("1e308" if value > 0 else "-1e308")


class LanceStore(LanceSearch, VectorStore):
    """The embedded default store. `policy` sets when and which ANN index, and its search settings."""

    def __init__(self, db_dir: str | Path, *, policy: AnnPolicy | None = None):
        if Path(db_dir).exists() and not Path(db_dir).is_dir():
            raise NotADirectoryError(f"--db {db_dir} is a file, not an index folder")
        Path(db_dir).mkdir(parents=True, exist_ok=True)
        self.db_dir = str(db_dir)
        # every read checks for a newer version (~0.2 ms): a long-lived handle sees other writers' commits
        self._db = lancedb.connect(self.db_dir, read_consistency_interval=timedelta(0))
        self._init_search(policy)
        self._table = None
        self._schema_of: tuple[object, pa.Schema] | None = None
        self._closed = False

    @property
    def _tbl(self):
        """The `clips` table, opened on first use once another writer has created it."""
        if self._table is None and not self._closed:
            try:
                self._table = self._db.open_table(TABLE)
            except ValueError:  # no such table (yet)
                return None
        return self._table

    @_tbl.setter
    def _tbl(self, table) -> None:
        self._table = table

    def refresh(self) -> None:
        """Forget the open table (after a repair replaced its files); the next use reopens it."""
        self._table = None

    def lock_path(self) -> str:
        return str(Path(self.db_dir) / LOCK_NAME)

    # -- encoder record -------------------------------------------------------------------------
    def _schema(self) -> pa.Schema:
        """The table's schema, read once per opened table (its columns and encoder record are fixed at
        creation; each read of `schema` costs a version check)."""
        tbl = self._tbl
        if self._schema_of is None or self._schema_of[0] is not tbl:
            self._schema_of = (tbl, tbl.schema)
        return self._schema_of[1]

    def encoder(self) -> EncoderRecord | None:
        if self._tbl is None:
            return None
        raw = (self._schema().metadata or {}).get(ENCODER_KEY)
        return EncoderRecord.from_dict(json.loads(raw)) if raw else None

    def table_id(self) -> str:
        """The random id written into the table's schema at creation ("" for tables made before it)."""
        if self._tbl is None:
            return ""
        return (self._schema().metadata or {}).get(TABLE_ID_KEY, b"").decode()

    def spec(self) -> IndexSpec | None:
        return read_spec(self.db_dir)

    def save_spec(self, spec: IndexSpec) -> None:
        write_spec(self.db_dir, spec)

    def ensure_encoder(self, record: EncoderRecord) -> None:
        if self._tbl is not None:
            check_encoder(self.encoder(), record)
            check_encoder(EncoderRecord(record.name, record.version, self._dim()), record)
            return
        schema = pa.schema(
            [pa.field(f, pa.float64() if f in _FLOAT_FIELDS else pa.string()) for f in META_FIELDS]
            + [pa.field(f"vec_{m.value}", pa.list_(pa.float32(), record.dim)) for m in Modality]
            + [pa.field(f"has_{m.value}", pa.bool_()) for m in Modality],
            metadata={
                ENCODER_KEY: json.dumps(record.to_dict()).encode(),
                TABLE_ID_KEY: uuid.uuid4().hex.encode(),
            },
        )
        # exist_ok: a writer that does not hold the lock may have created it meanwhile
        self._tbl = self._db.create_table(TABLE, schema=schema, exist_ok=True)
        check_encoder(self.encoder(), record)

    def _dim(self) -> int:
        return self._schema().field("vec_text").type.list_size

    # -- writes -----------------------------------------------------------------------------------
    def upsert(self, records: list[ClipRecord]) -> None:
        if records:
            self._merge(records)

    def replace_file(self, path: str, records: list[ClipRecord]) -> None:
        """One commit: upsert `records` and delete the other rows of `path` (merge_insert with
        when_not_matched_by_source_delete on that path), so readers see the old rows or the new ones."""
        self.replace_files({path: records})

    def replace_files(self, files: dict[str, list[ClipRecord]]) -> None:
        """`replace_file` of every file in one commit (up to `_CHUNK` files a commit)."""
        paths = sorted(files)
        for i in range(0, len(paths), _CHUNK):
            part = paths[i : i + _CHUNK]
            records = [r for p in part for r in files[p]]
            if not records:
                self.delete_paths(part)
                continue
            self._merge(records, delete_where=path_in(part))

    def _merge(self, records: list[ClipRecord], delete_where: str | None = None) -> None:
        """merge_insert by clip_id; with `delete_where`, unmatched target rows matching it go in the same
        commit."""
        data = self._arrow(records)
        self._stale()
        merge = self._tbl.merge_insert("clip_id").when_matched_update_all().when_not_matched_insert_all()
        if delete_where is not None:
            merge = merge.when_not_matched_by_source_delete(delete_where)
        merge.execute(data)

    def _arrow(self, records: list[ClipRecord]) -> pa.Table:
        if self._tbl is None:
            raise RuntimeError("call ensure_encoder() before upsert() on a new LanceDB store")
        dim = self._dim()
        latest = {r.clip_id: r for r in records}  # merge_insert needs unique keys: last one wins
        cols: dict[str, list] = {f: [] for f in self._tbl.schema.names}
        for rec in latest.values():
            for f, v in record_meta(rec).items():
                cols[f].append(float(v) if f in _FLOAT_FIELDS else str(v))
            for m in Modality:
                vec = rec.vectors.get(m)
                if vec is not None:
                    vec = np.asarray(vec, dtype=np.float32).reshape(-1)
                    if vec.shape[0] != dim:
                        raise ValueError(f"{m.value} vector of {rec.clip_id} has dim {vec.shape[0]} != {dim}")
                    norm = float(np.linalg.norm(vec))
                    if abs(norm - 1.0) > 1e-6:  # already unit (e.g. an import): stored bit-exact
                        vec = vec / norm if norm > 0 else None
                cols[f"vec_{m.value}"].append(vec if vec is not None else np.zeros(dim, np.float32))
                cols[f"has_{m.value}"].append(vec is not None)
        for m in Modality:
            flat = np.concatenate(cols[f"vec_{m.value}"]).astype(np.float32)
            cols[f"vec_{m.value}"] = pa.FixedSizeListArray.from_arrays(pa.array(flat), dim)
        return pa.table(cols, schema=self._tbl.schema)

    def delete_paths(self, paths: list[str]) -> int:
        if self._tbl is None or not paths:
            return 0
        gone = 0
        self._stale()
        uniq = sorted(set(paths))
        for i in range(0, len(uniq), _CHUNK):
            where = path_in(uniq[i : i + _CHUNK])
            gone += self._tbl.count_rows(where)
            self._tbl.delete(where)
        return gone

    # -- reads ------------------------------------------------------------------------------------
    def where(self, flt: Filter | None) -> str | None:
        """The SQL WHERE clause of `flt` (None = everything); '1 = 0' when nothing can match."""
        if flt is None or flt.is_empty():
            return None
        parts = []
        if flt.path_glob:
            like = glob_to_like(flt.path_glob)
            if like is not None:
                parts.append(f"`path` LIKE {sql_str(like)} ESCAPE '\\'")
            else:  # [...] classes: resolve the glob against the distinct indexed paths
                hits = fnmatch.filter(sorted(self.files()), flt.path_glob)
                if not hits:
                    return "1 = 0"
                parts.append(
                    "("
                    + " OR ".join(path_in(hits[i : i + _CHUNK]) for i in range(0, len(hits), _CHUNK))
                    + ")"
                )
        if flt.media_type:
            parts.append(f"`media_type` = {sql_str(flt.media_type)}")
        if flt.start_after is not None:
            parts.append(f"`start` >= {_num(flt.start_after)}")
        if flt.end_before is not None:
            parts.append(f"`end` <= {_num(flt.end_before)}")
        if flt.added_after is not None:
            parts.append(f"`added_at` >= {_num(flt.added_after)}")
        return " AND ".join(parts) if parts else None

    def files(self) -> dict[str, str]:
        if self._tbl is None:
            return {}
        t = self._tbl.search().select(["path", "file_hash"]).limit(None).to_arrow()
        return files_of(t["path"].to_pylist(), t["file_hash"].to_pylist())

    def count(self, flt: Filter | None = None) -> int:
        return 0 if self._tbl is None else self._tbl.count_rows(self.where(flt))

    def rows(self, flt: Filter | None = None) -> list[dict]:
        if self._tbl is None:
            return []
        q = self._tbl.search().select(list(META_FIELDS)).limit(None)
        where = self.where(flt)
        if where:
            q = q.where(where)
        out = q.to_arrow().to_pylist()
        out.sort(key=lambda r: (r["path"], r["start"], r["clip_id"]))
        return out

    def clip_rows(self, clip_ids: list[str]) -> dict[str, dict]:
        if self._tbl is None or not clip_ids:
            return {}
        uniq = sorted(set(clip_ids))
        out: dict[str, dict] = {}
        for i in range(0, len(uniq), _CHUNK):
            ids = ", ".join(sql_str(c) for c in uniq[i : i + _CHUNK])
            q = self._tbl.search().where(f"`clip_id` IN ({ids})").select(list(META_FIELDS)).limit(None)
            out.update((r["clip_id"], r) for r in q.to_arrow().to_pylist())
        return out

    def search(
        self, modality: Modality, vector: np.ndarray, k: int, flt: Filter | None = None
    ) -> list[StoreHit]:
        return sorted(self._vector_search(modality, vector, k, flt), key=tie_order)

    def vectors(self, clip_ids: list[str], modality: Modality) -> dict[str, np.ndarray]:
        if self._tbl is None or not clip_ids:
            return {}
        m = Modality(modality).value
        uniq = sorted(set(clip_ids))
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(uniq), _CHUNK):
            ids = ", ".join(sql_str(c) for c in uniq[i : i + _CHUNK])
            t = (
                self._tbl.search()
                .where(f"`clip_id` IN ({ids}) AND `has_{m}` = true")
                .select(["clip_id", f"vec_{m}"])
                .limit(None)
                .to_arrow()
            )
            vecs = t[f"vec_{m}"].combine_chunks().flatten().to_numpy().reshape(len(t), self._dim())
            out.update(zip(t["clip_id"].to_pylist(), vecs.astype(np.float32), strict=True))
        return out

    # -- indexes ----------------------------------------------------------------------------------
    def create_index(self, min_rows: int | None = None, *, num_partitions: int | None = None) -> bool:
        """Build the policy's ANN index on vector columns with >= `min_rows` rows (default: the
        policy's threshold), plus scalar indexes (BITMAP on media_type, BTREE on path and clip_id).
        Returns whether any vector index was built."""
        if self._tbl is None:
            return False
        policy = replace(
            self.policy,
            threshold=self.policy.threshold if min_rows is None else min_rows,
            num_partitions=num_partitions or self.policy.num_partitions,
        )
        self._stale()
        built = bool(build_vector_indexes(self._tbl, policy, self._dim(), rebuild=True))
        if built:
            self._tbl.create_index("media_type", config=lancedb.index.Bitmap(), replace=True)
            self._tbl.create_index("path", config=lancedb.index.BTree(), replace=True)
            self._tbl.create_index("clip_id", config=lancedb.index.BTree(), replace=True)
        return built

    def scan(self, with_vectors: bool = False) -> Iterator[dict]:
        if self._tbl is None:
            return
        cols = list(META_FIELDS) + (
            [f"{p}_{m.value}" for m in Modality for p in ("vec", "has")] if with_vectors else []
        )
        for batch in self._tbl.search().select(cols).limit(None).to_batches(1024):
            vecs = {
                m: batch.column(f"vec_{m.value}").flatten().to_numpy().reshape(batch.num_rows, -1)
                for m in Modality
                if with_vectors
            }
            has = {m: batch.column(f"has_{m.value}").to_pylist() for m in Modality if with_vectors}
            for i, row in enumerate(batch.select(list(META_FIELDS)).to_pylist()):
                if with_vectors:
                    row["vectors"] = {m: vecs[m][i].astype(np.float32) for m in Modality if has[m][i]}
                yield row

    def storage_problems(self) -> list[str]:
        from omnisearch.indexers.lance_health import storage_problems

        return storage_problems(self)

    def repair_storage(self) -> list[str]:
        from omnisearch.indexers.lance_health import repair_storage

        return repair_storage(self)

    def close(self) -> None:
        self._tbl = None
        self._closed = True
