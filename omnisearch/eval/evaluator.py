"""Evaluate an encoder on a manifest: decode each item once, embed every side unit, score 12 directions.

`evaluate` reads the manifest and scores it with `core.evaluate_source` over an `EncoderSource`: that
source decodes each item's media once (`media.item_decode.decode_item`), builds one `EncoderInput` per
side unit from that one decode and embeds in batches of `encoder.options.batch_size`. Only a batch's
worth of decoded media is held in memory. The run returns the unit vectors with the figures.

Unit vectors are cached on disk, one SQLite file per model under `cache_dir` (default
$OMNISEARCH_CACHE, else ~/.cache/omnisearch/eval). A unit's key hashes the encoder's name, version,
dim (and `weights_from`, `path`, `feature_key`: a fine-tuned copy never reuses its base's vectors),
the decode settings, the side, the caption and, for media, each file's real path, size and mtime plus
start/end.
A second run of the same model reads every vector from the cache without decoding anything.

Items whose media cannot be decoded (missing, corrupt, no samples in the span) are listed in
`EvalRun.failed` (id -> reason) and count as misses in every direction they take part in.

Example:
    >>> from omnisearch.models import load_encoder                      # doctest: +SKIP
    >>> run = evaluate("bench/test.jsonl", load_encoder("omni-lite"))   # doctest: +SKIP
    >>> run.directions["t2a"].r1, run.failed, run.stats.cached          # doctest: +SKIP
    (66.7, {}, 0)
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from omnisearch.config import DecodeConfig
from omnisearch.eval.core import EvalRun, EvalStats, Units, Vectors, evaluate_source, side_vector
from omnisearch.eval.directions import Unit, UnitKey
from omnisearch.eval.manifest import ManifestItem, item_modalities, read_manifest
from omnisearch.media.item_decode import decode_item, media_sources
from omnisearch.models.base import Encoder
from omnisearch.models.capabilities import Enriching, FeatureEncoder, FolderLoaded
from omnisearch.types import EncoderInput

CACHE_ENV = "OMNISEARCH_CACHE"
Progress = Callable[[int, int], None]  # (units done, units in all)


def default_cache_dir() -> Path:
    """$OMNISEARCH_CACHE, else ~/.cache/omnisearch/eval."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "omnisearch" / "eval"


def model_identity(encoder: Encoder) -> list[str]:
    """What makes two encoders' vectors interchangeable: record name/version/dim, weights, the model
    folder (`capabilities.FolderLoaded`) and the frozen features' key (`capabilities.FeatureEncoder`)."""
    rec = encoder.record
    path = encoder.path if isinstance(encoder, FolderLoaded) else None
    features = encoder.feature_key if isinstance(encoder, FeatureEncoder) else None
    return [
        rec.name,
        str(rec.version),
        str(rec.dim),
        encoder.weights_from,
        str(path or ""),
        str(features or ""),
    ]


class EmbeddingCache:
    """Unit vectors of one model on disk (SQLite: key -> float32 bytes).

    Example:
        >>> import tempfile
        >>> c = EmbeddingCache(tempfile.mkdtemp(), ["toy", "1", "2", "", ""])
        >>> c.put({"k": np.ones(2, np.float32)}); c.get(["k", "x"])["k"].tolist()
        [1.0, 1.0]
    """

    def __init__(self, directory: str | os.PathLike[str], identity: Sequence[str]) -> None:
        tag = hashlib.sha256(json.dumps(list(identity)).encode()).hexdigest()[:12]
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in identity[0])[:60]
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.path = Path(directory) / f"{safe}-v{identity[1]}-d{identity[2]}-{tag}.sqlite"
        self.db = sqlite3.connect(self.path, timeout=60)
        self.db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")
        self.db.commit()

    def get(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """Cached vectors of those keys that are present."""
        keys = list(dict.fromkeys(keys))
        out: dict[str, np.ndarray] = {}
        for lo in range(0, len(keys), 500):
            part = keys[lo : lo + 500]
            marks = ",".join("?" * len(part))
            for key, blob in self.db.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", part):
                out[key] = np.frombuffer(blob, dtype=np.float32)
        return out

    def put(self, rows: dict[str, np.ndarray]) -> None:
        data = [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in rows.items()]
        self.db.executemany("INSERT OR REPLACE INTO vectors (key, vec) VALUES (?, ?)", data)
        self.db.commit()

    def close(self) -> None:
        self.db.close()


def _fingerprint(path: str, memo: dict[str, str | None]) -> str | None:
    if path not in memo:
        try:
            st = os.stat(path)
            memo[path] = f"{os.path.realpath(path)}|{st.st_size}|{st.st_mtime_ns}"
        except OSError:
            memo[path] = None
    return memo[path]


def unit_key(
    identity: Sequence[str],
    cfg: DecodeConfig,
    item: ManifestItem,
    side: str,
    unit: Unit,
    memo: dict[str, str | None],
) -> str | None:
    """The cache key of a unit, or None when a media file cannot be fingerprinted (then not cached)."""
    media: dict[str, str] = {}
    for mod, path in media_sources(item, side).items():
        fp = _fingerprint(path, memo) if path else None
        if fp is None:
            return None
        media[mod] = fp
    parts: list[object] = [*identity, side, unit.text or ""]
    if media:
        parts += [media, item.start, item.end, cfg.frames, cfg.frame_size, cfg.sample_rate]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class _Batcher:
    """Collects (side, unit key, cache key, input) and embeds them batch_size at a time."""

    def __init__(
        self, encoder: Encoder, cache: EmbeddingCache | None, stats: EvalStats, tick: Callable[[int], None]
    ) -> None:
        self.encoder, self.cache, self.stats, self.tick = encoder, cache, stats, tick
        self.size = max(1, encoder.options.batch_size)
        self.pending: list[tuple[str, UnitKey, str | None, EncoderInput]] = []
        self.vectors: Vectors = {}

    def add(self, side: str, key: UnitKey, cache_key: str | None, inp: EncoderInput) -> None:
        self.pending.append((side, key, cache_key, inp))
        if len(self.pending) >= self.size:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        t0 = time.perf_counter()
        embs = self.encoder.encode([inp for *_, inp in batch])
        self.stats.encode_s += time.perf_counter() - t0
        fresh: dict[str, np.ndarray] = {}
        for (side, key, cache_key, _), emb in zip(batch, embs, strict=True):
            vec = side_vector(side, emb)
            if vec is None:
                continue
            self.vectors.setdefault(side, {})[key] = vec
            if cache_key is not None:
                fresh[cache_key] = vec
        if self.cache is not None and fresh:
            self.cache.put(fresh)
        self.stats.embedded += len(batch)
        self.tick(len(batch))


class EncoderSource:
    """The `core.VectorSource` of `evaluate`: each item decoded once and encoded by `encoder`, unit
    vectors read from / written to the on-disk cache (`cache_dir` None: no cache). `failed` and
    `stats` say how it went once `unit_vectors` has run."""

    def __init__(
        self,
        items: Sequence[ManifestItem],
        encoder: Encoder,
        cache_dir: str | os.PathLike[str] | None,
        decode: DecodeConfig | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.items, self.modalities = list(items), item_modalities(items)
        self.encoder, self.name, self.dim = encoder, encoder.name, encoder.dim
        self.cache_dir, self.cfg, self.progress = cache_dir, decode or DecodeConfig(), progress
        self.failed: dict[str, str] = {}
        self.stats = EvalStats(items=len(self.items))
        self._done = 0

    def _tick(self, n: int) -> None:
        self._done += n
        if self.progress is not None:
            self.progress(self._done, self.stats.units)

    def unit_vectors(self, units: Units) -> Vectors:
        """Cached vectors where present; text units embedded first, then each item's media units."""
        stats, cfg, items = self.stats, self.cfg, self.items
        stats.units = sum(len(u) for u in units.values())
        identity = model_identity(self.encoder)
        cache = EmbeddingCache(self.cache_dir, identity) if self.cache_dir is not None else None
        memo: dict[str, str | None] = {}
        keys = {
            (side, u.key): unit_key(identity, cfg, items[u.item_index], side, u, memo)
            for side, us in units.items()
            for u in us
        }
        hits = cache.get(k for k in keys.values() if k) if cache is not None else {}
        batcher = _Batcher(self.encoder, cache, stats, self._tick)
        todo: dict[int, list[tuple[str, Unit]]] = {}
        for side, us in units.items():
            for u in us:
                ck = keys[(side, u.key)]
                if ck is not None and ck in hits:
                    batcher.vectors.setdefault(side, {})[u.key] = hits[ck]
                else:
                    todo.setdefault(-1 if side == "t" else u.item_index, []).append((side, u))
        stats.cached = sum(1 for k in keys.values() if k is not None and k in hits)
        self._tick(stats.cached)
        try:
            for side, u in todo.pop(-1, []):
                batcher.add(side, u.key, keys[(side, u.key)], EncoderInput(text=u.text))
            for i in sorted(todo):
                self._embed_item(items[i], todo[i], keys, batcher)
            batcher.flush()
        finally:
            if cache is not None:
                cache.close()
        return batcher.vectors

    def _embed_item(
        self,
        item: ManifestItem,
        work: list[tuple[str, Unit]],
        keys: dict[tuple[str, UnitKey], str | None],
        batcher: _Batcher,
    ) -> None:
        """Decode one item once and queue an input for each of its units still to embed."""
        need = {m for side, _ in work for m in side if m in "va"}
        t0 = time.perf_counter()
        media, problems = decode_item(item, need, self.cfg)
        t1 = time.perf_counter()
        self.stats.decode_s += t1 - t0
        transcript = None
        enc = self.encoder
        transcribe = enc.transcriber().transcribe if isinstance(enc, Enriching) else None
        if "a" in media and transcribe is not None:  # speech once per item, not once per unit
            transcript = " ".join(s.text for s in transcribe(media["a"]))
            self.stats.encode_s += time.perf_counter() - t1
        if problems:
            self.failed[item.id] = "; ".join(problems)
        for side, u in work:
            if any(m in "va" and m not in media for m in side):
                self._tick(1)  # cannot be embedded: scored as a miss
                continue
            inp = EncoderInput(
                text=u.text if "t" in side else None,
                frames=media.get("v") if "v" in side else None,
                audio=media.get("a") if "a" in side else None,
                transcript=transcript if "a" in side else None,
            )
            batcher.add(side, u.key, keys[(side, u.key)], inp)


def evaluate(
    manifest_path: str | os.PathLike[str],
    encoder: Encoder,
    directions: Iterable[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    *,
    use_cache: bool = True,
    model_name: str | None = None,
    decode: DecodeConfig | None = None,
) -> EvalRun:
    """Score `encoder` on the manifest over `directions` (all 12 by default); the run holds the unit
    vectors it scored (`run.vectors`).

    cache_dir: where unit vectors are cached (None: `default_cache_dir()`); use_cache=False neither
    reads nor writes it. progress(done, total) is called as units are found cached or embedded.
    model_name: the name shown in results (default encoder.name). Raises ManifestError for a bad
    manifest and ValueError for an unknown direction; media failures end up in `failed`.
    """
    t_start = time.perf_counter()
    items = read_manifest(manifest_path, on_missing="ignore")
    cache = (cache_dir or default_cache_dir()) if use_cache else None
    source = EncoderSource(items, encoder, cache, decode, progress)
    run = evaluate_source(source, directions, model_name)
    run.failed, run.stats = source.failed, source.stats
    run.stats.total_s = time.perf_counter() - t_start
    return run
