"""The vector-store interface: a named vector per modality plus the fused one, clip metadata,
filters, upsert / delete by file, counts, and the record of the encoder that built the index.

Stores know vectors and metadata, never models. Every vector is L2-normalised by the encoder and
scored by dot product (= cosine). A clip missing a modality stores no vector for it (LanceDB keeps a
zero vector plus a `has_<modality>` flag and filters on it; Qdrant simply omits the named vector).

Example:
    >>> from omnisearch.indexers import open_store
    >>> store = open_store("lancedb", "/tmp/db")          # doctest: +SKIP
    >>> store.ensure_encoder(EncoderRecord("omni-lite", "1", 512))  # doctest: +SKIP
"""

from __future__ import annotations

import fnmatch
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import timedelta

import numpy as np

from omnisearch.spec import EncoderMismatchError, EncoderRecord, IndexSpec, check_encoder  # noqa: F401 (re-exported)
from omnisearch.types import ClipRecord, Modality


@dataclass
class Filter:
    """Metadata filter applied before vector scoring.

    path_glob: fnmatch pattern on the source path; media_type: video|audio|image;
    start_after / end_before: the clip must lie within [start_after, end_before] seconds;
    added_after: unix time.
    """

    path_glob: str | None = None
    media_type: str | None = None
    start_after: float | None = None
    end_before: float | None = None
    added_after: float | None = None

    def is_empty(self) -> bool:
        return all(v is None for v in asdict(self).values())

    def matches(self, row: dict) -> bool:
        """Reference semantics, used by stores that cannot express a clause natively."""
        if self.path_glob and not fnmatch.fnmatch(row["path"], self.path_glob):
            return False
        if self.media_type and row["media_type"] != self.media_type:
            return False
        if self.start_after is not None and row["start"] < self.start_after:
            return False
        if self.end_before is not None and row["end"] > self.end_before:
            return False
        if self.added_after is not None and row["added_at"] < self.added_after:
            return False
        return True


@dataclass
class StoreHit:
    """A row found by a store search: metadata, its score (cosine; for a full-text hit the text
    score) and the searched column's stored vector (so merging and reranking need no second fetch)."""

    row: dict
    score: float
    vector: np.ndarray | None = None


class VectorStore(ABC):
    """What the ingest pipeline and the query planner need from a store."""

    @abstractmethod
    def encoder(self) -> EncoderRecord | None:
        """The encoder that built this index, or None for an empty new index."""

    @abstractmethod
    def ensure_encoder(self, record: EncoderRecord) -> None:
        """Record `record` on a new index; raise EncoderMismatchError on an index built by another."""

    @abstractmethod
    def spec(self) -> IndexSpec | None:
        """How this index was built (`omnisearch.spec.IndexSpec`), or None (new, or built by a release
        that did not record it)."""

    @abstractmethod
    def save_spec(self, spec: IndexSpec) -> None:
        """Record how this index is built (ingest calls it, under the writer lock, on every run)."""

    @abstractmethod
    def upsert(self, records: list[ClipRecord]) -> None:
        """Insert or replace clips (by clip_id)."""

    @abstractmethod
    def replace_file(self, path: str, records: list[ClipRecord]) -> None:
        """Make `records` the only clips of `path` (a re-indexed file), atomically where the store can."""

    def replace_files(self, files: dict[str, list[ClipRecord]]) -> None:
        """`replace_file` for several files; a store that can commits them together (each file whole or
        not at all either way). The ingest writer hands it every file that is ready."""
        for path, records in files.items():
            self.replace_file(path, records)

    @abstractmethod
    def delete_paths(self, paths: list[str]) -> int:
        """Delete every clip of these source paths; return how many rows went."""

    @abstractmethod
    def files(self) -> dict[str, str]:
        """path -> content hash of every indexed file."""

    @abstractmethod
    def count(self, flt: Filter | None = None) -> int:
        """Number of clips (matching `flt`)."""

    @abstractmethod
    def search(
        self, modality: Modality, vector: np.ndarray, k: int, flt: Filter | None = None
    ) -> list[StoreHit]:
        """Top-k clips by cosine between `vector` and their `modality` vectors (clips lacking it skipped)."""

    @abstractmethod
    def text_search(self, text: str, column: Modality, k: int, flt: Filter | None = None) -> list[StoreHit]:
        """Top-k clips whose own words (text, transcript, ocr_text, tags) hold the query's words, with
        their `column` vectors (zero vectors where they lack it); empty when no word matches."""

    @abstractmethod
    def vectors(self, clip_ids: list[str], modality: Modality) -> dict[str, np.ndarray]:
        """The stored `modality` vectors of these clips (clips lacking it are left out)."""

    @abstractmethod
    def rows(self, flt: Filter | None = None) -> list[dict]:
        """Metadata of every clip (matching `flt`), without vectors."""

    @abstractmethod
    def maintain(self) -> list[str]:
        """After an index run: build or refresh indexes as the store's policy says; say what it did."""

    @abstractmethod
    def optimize(self, keep: timedelta = timedelta(0), rebuild: bool = False) -> list[str]:
        """On demand: compact, prune versions older than `keep`, build / refresh indexes; say what it did."""

    @abstractmethod
    def stats(self) -> dict:
        """Rows, fragments / segments, versions, indexes with their settings."""

    @abstractmethod
    def scan(self, with_vectors: bool = False) -> Iterator[dict]:
        """Every row, unsorted, as metadata (indexers.rows.META_FIELDS) plus, with `with_vectors`, "vectors":
        {Modality: float32 array} of the modalities the clip has. Duplicated rows are all yielded."""

    def clip_rows(self, clip_ids: list[str]) -> dict[str, dict]:
        """clip_id -> metadata (indexers.rows.META_FIELDS) of these clips; unknown ids are left out. (This
        default reads every row; stores with a lookup by id override it.)"""
        wanted = set(clip_ids)
        return {r["clip_id"]: r for r in self.rows() if r["clip_id"] in wanted} if wanted else {}

    def stale(self) -> bool:
        """True when this handle no longer sees the index's latest writes (a read-only snapshot after a
        write): a long-lived reader then opens the store again."""
        return False

    def lock_path(self) -> str | None:
        """The writer-lock file of this index, or None when the store serialises writers itself."""
        return None

    def storage_problems(self) -> list[str]:
        """Damage below the rows (unreadable versions, stale ANN indexes), one line each."""
        return []

    def repair_storage(self) -> list[str]:
        """Repair what `storage_problems` found; returns what was done, one line each."""
        return []

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""
