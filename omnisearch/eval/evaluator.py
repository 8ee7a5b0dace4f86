"""Evaluate an encoder on a manifest: decode each item once, embed every side unit, score 12 directions.

`evaluate` reads the manifest, plans what to embed (`directions.plan`), decodes each item's media once
(video: `DecodeConfig.frames` evenly spaced frames over [start, end] or the whole file; image: one
frame; audio: the `audio` file or the video's own track, cut to [start, end] at native length), builds
one `EncoderInput` per side unit from that one decode, embeds in batches of `encoder.options.batch_size`
and scores with `metrics.score_all`. Only a batch's worth of decoded media is held in memory.

Unit vectors are cached on disk, one SQLite file per model under `cache_dir` (default
$OMNISEARCH_CACHE, else ~/.cache/omnisearch/eval). A unit's key hashes the encoder's name, version,
dim (and `weights_from`, `path`, `feature_key`: a fine-tuned copy never reuses its base's vectors), the decode
settings, the side, the caption and, for media, each file's real path, size and mtime plus start/end.
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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from omnisearch.config import DecodeConfig
from omnisearch.eval.directions import SIDES, Unit, plan, vector_modality
from omnisearch.eval.manifest import ManifestItem, item_modalities, read_manifest
from omnisearch.eval.metrics import EvalResult, score_all
from omnisearch.models.base import Encoder
from omnisearch.models.capabilities import Enriching
from omnisearch.types import EncoderInput, Span

CACHE_ENV = "OMNISEARCH_CACHE"
Progress = Callable[[int, int], None]  # (units done, units in all)


def default_cache_dir() -> Path:
    """$OMNISEARCH_CACHE, else ~/.cache/omnisearch/eval."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "omnisearch" / "eval"


def model_identity(encoder: Encoder) -> list[str]:
    """What makes two encoders' vectors interchangeable: record name/version/dim, weights, model folder
    and (where the encoder has one) its `feature_key`."""
    rec = encoder.record
    path = getattr(encoder, "path", None)
    features = getattr(encoder, "feature_key", None)
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


@dataclass
class EvalStats:
    """How the run went: units served from the cache / embedded, and seconds spent where."""

    items: int = 0
    units: int = 0
    cached: int = 0
    embedded: int = 0
    decode_s: float = 0.0
    encode_s: float = 0.0
    total_s: float = 0.0


@dataclass
class EvalRun(EvalResult):
    """An `EvalResult` plus the items whose media failed (id -> reason) and run statistics."""

    failed: dict[str, str] = field(default_factory=dict)
    stats: EvalStats = field(default_factory=EvalStats)


def _fingerprint(path: str, memo: dict[str, str | None]) -> str | None:
    if path not in memo:
        try:
            st = os.stat(path)
            memo[path] = f"{os.path.realpath(path)}|{st.st_size}|{st.st_mtime_ns}"
        except OSError:
            memo[path] = None
    return memo[path]


def _sources(item: ManifestItem, side: str) -> dict[str, str]:
    """Which file feeds each media modality of a side: frames from video/image, sound from audio/video."""
    src: dict[str, str] = {}
    if "v" in side:
        src["v"] = item.video or item.image or ""
    if "a" in side:
        src["a"] = item.audio or item.video or ""
    return src


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
    for mod, path in _sources(item, side).items():
        fp = _fingerprint(path, memo) if path else None
        if fp is None:
            return None
        media[mod] = fp
    parts: list[object] = [*identity, side, unit.text or ""]
    if media:
        parts += [media, item.start, item.end, cfg.frames, cfg.frame_size, cfg.sample_rate]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _decode_frames(item: ManifestItem, cfg: DecodeConfig) -> np.ndarray:
    from omnisearch.media.decode import decode_span
    from omnisearch.types import MediaType

    if item.image:
        clip = decode_span(item.image, MediaType.IMAGE, None, cfg, audio=False)
    else:
        assert item.video is not None
        clip = decode_span(item.video, MediaType.VIDEO, _span(item), cfg, audio=False)
    if clip.frames is None:
        raise ValueError("no video stream")
    return clip.frames


def _decode_audio(item: ManifestItem, cfg: DecodeConfig) -> np.ndarray:
    from omnisearch.media.decode import decode_span
    from omnisearch.types import MediaType

    path = item.audio or item.video
    assert path is not None
    clip = decode_span(path, MediaType.AUDIO, _span(item), cfg, frames=False)
    return clip.audio if clip.audio is not None else np.zeros(0, np.float32)


def _span(item: ManifestItem) -> Span | None:
    """The item's span; None (the whole file) when it gives no end."""
    if item.end is None:
        return None if not item.start else Span(item.start, float("inf"))
    return Span(item.start or 0.0, max(item.start or 0.0, item.end))


def _reason(exc: BaseException) -> str:
    from omnisearch.media.errors import MediaError, describe_av_error

    return exc.reason if isinstance(exc, MediaError) else describe_av_error(exc)


def decode_item(
    item: ManifestItem, need: set[str], cfg: DecodeConfig
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Decode the media of one item that `need` asks for ("v", "a"): ({"v": frames, "a": audio},
    problems). A modality that fails is left out and its problem listed, e.g. 'audio: file not found'."""
    got: dict[str, np.ndarray] = {}
    problems: list[str] = []
    for mod, name, fn in (("v", "video", _decode_frames), ("a", "audio", _decode_audio)):
        if mod not in need:
            continue
        path = _sources(item, mod)[mod]
        if not os.path.exists(path):
            problems.append(f"{name}: file not found ({path})")
            continue
        try:
            data = fn(item, cfg)
        except Exception as exc:  # any decoder failure makes this item a miss, not a crash
            problems.append(f"{name}: {_reason(exc)}")
            continue
        if len(data) == 0:
            problems.append(f"{name}: nothing decoded in the clip's span")
            continue
        got[mod] = data
    return got, problems


class _Batcher:
    """Collects (side, unit key, cache key, input) and embeds them batch_size at a time."""

    def __init__(
        self, encoder: Encoder, cache: EmbeddingCache | None, stats: EvalStats, tick: Callable[[int], None]
    ) -> None:
        self.encoder, self.cache, self.stats, self.tick = encoder, cache, stats, tick
        self.size = max(1, encoder.options.batch_size)
        self.pending: list[tuple[str, tuple[str, str], str | None, EncoderInput]] = []
        self.vectors: dict[str, dict[tuple[str, str], np.ndarray]] = {}

    def add(self, side: str, key: tuple[str, str], cache_key: str | None, inp: EncoderInput) -> None:
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
            vec = emb.vectors.get(vector_modality(SIDES[side]))
            if vec is None:
                continue
            vec = np.asarray(vec, dtype=np.float32)
            self.vectors.setdefault(side, {})[key] = vec
            if cache_key is not None:
                fresh[cache_key] = vec
        if self.cache is not None and fresh:
            self.cache.put(fresh)
        self.stats.embedded += len(batch)
        self.tick(len(batch))


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
    """Score `encoder` on the manifest over `directions` (all 12 by default).

    cache_dir: where unit vectors are cached (None: `default_cache_dir()`); use_cache=False neither
    reads nor writes it. progress(done, total) is called as units are found cached or embedded.
    model_name: the name shown in results (default encoder.name). Raises ManifestError for a bad
    manifest and ValueError for an unknown direction; media failures end up in `failed`.
    """
    t_start = time.perf_counter()
    directions = None if directions is None else list(directions)
    cfg = decode or DecodeConfig()
    items = read_manifest(manifest_path, on_missing="ignore")
    mods = item_modalities(items)
    units = plan(items, mods, directions)
    stats = EvalStats(items=len(items), units=sum(len(u) for u in units.values()))
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, stats.units)

    identity = model_identity(encoder)
    cache = EmbeddingCache(cache_dir or default_cache_dir(), identity) if use_cache else None
    memo: dict[str, str | None] = {}
    keys = {
        (side, u.key): unit_key(identity, cfg, items[u.item_index], side, u, memo)
        for side, us in units.items()
        for u in us
    }
    hits = cache.get(k for k in keys.values() if k) if cache is not None else {}
    batcher = _Batcher(encoder, cache, stats, tick)
    todo: dict[int, list[tuple[str, Unit]]] = {}
    for side, us in units.items():
        for u in us:
            ck = keys[(side, u.key)]
            if ck is not None and ck in hits:
                batcher.vectors.setdefault(side, {})[u.key] = hits[ck]
            elif side == "t":
                todo.setdefault(-1, []).append((side, u))
            else:
                todo.setdefault(u.item_index, []).append((side, u))
    stats.cached = sum(1 for k in keys.values() if k is not None and k in hits)
    tick(stats.cached)
    failed: dict[str, str] = {}
    try:
        for side, u in todo.pop(-1, []):
            batcher.add(side, u.key, keys[(side, u.key)], EncoderInput(text=u.text))
        for i in sorted(todo):
            _embed_item(items[i], todo[i], encoder, cfg, keys, batcher, stats, failed, tick)
        batcher.flush()
    finally:
        if cache is not None:
            cache.close()
    vectors = _fill_missing(units, batcher.vectors, encoder.dim)
    result = score_all(
        items, vectors, mods, model=model_name or encoder.name, directions=directions, on_missing="miss"
    )
    stats.total_s = time.perf_counter() - t_start
    return EvalRun(result.model, result.directions, result.skipped, failed=failed, stats=stats)


def _embed_item(
    item: ManifestItem,
    work: list[tuple[str, Unit]],
    encoder: Encoder,
    cfg: DecodeConfig,
    keys: dict[tuple[str, tuple[str, str]], str | None],
    batcher: _Batcher,
    stats: EvalStats,
    failed: dict[str, str],
    tick: Callable[[int], None],
) -> None:
    """Decode one item once and queue an input for each of its units still to embed."""
    need = {m for side, _ in work for m in side if m in "va"}
    t0 = time.perf_counter()
    media, problems = decode_item(item, need, cfg)
    t1 = time.perf_counter()
    stats.decode_s += t1 - t0
    transcript = None
    transcribe = encoder.transcriber().transcribe if isinstance(encoder, Enriching) else None
    if "a" in media and transcribe is not None:  # speech once per item, not once per unit
        transcript = " ".join(s.text for s in transcribe(media["a"]))
        stats.encode_s += time.perf_counter() - t1
    if problems:
        failed[item.id] = "; ".join(problems)
    for side, u in work:
        if any(m in "va" and m not in media for m in side):
            tick(1)  # cannot be embedded: scored as a miss
            continue
        inp = EncoderInput(
            text=u.text if "t" in side else None,
            frames=media.get("v") if "v" in side else None,
            audio=media.get("a") if "a" in side else None,
            transcript=transcript if "a" in side else None,
        )
        batcher.add(side, u.key, keys[(side, u.key)], inp)


def _fill_missing(
    units: dict[str, list[Unit]], vectors: dict[str, dict[tuple[str, str], np.ndarray]], dim: int
) -> dict[str, dict[tuple[str, str], np.ndarray]]:
    """Give every unit without a vector a NaN vector (never a hit), so a side whose units all failed
    still scores (as misses) instead of raising."""
    dims = [len(v) for table in vectors.values() for v in table.values()]
    nan = np.full(dims[0] if dims else max(1, dim), np.nan, dtype=np.float32)
    return {side: {u.key: vectors.get(side, {}).get(u.key, nan) for u in us} for side, us in units.items()}
