"""Frozen features of a manifest, extracted once per item and cached on disk; scoring straight from them.

Training only touches trainable heads, so the frozen towers (MiniLM, Whisper, OCR, aisfx) run once per
item: `extract_features(items, encoder, cache_dir)` decodes each item's media the way the evaluator does
(`omnisearch.media.item_decode.decode_item`), runs `encoder.features(...)` and stores the result under
`cache_dir/<encoder.feature_key>/`:
- media/<key>.npz: the item's video / audio features (+ derived text), key = SHA-256 of the files'
  content hashes, start/end and the decode settings;
- text/<key>.npy: the MiniLM vector of one caption, key = SHA-256 of the caption.
A second call reads everything back without loading a tower.

`score_features(feats, encoder)` scores the 12 directions through the evaluation core (`eval.core`)
over a `FeatureSource`: every side unit embedded from the cached features with `encoder.project`
(block vectors, or heads / blend when heads are attached), the same numbers as
`evaluate(manifest, encoder)` without decoding anything.

Example:
    >>> from omnisearch.eval.manifest import read_manifest                      # doctest: +SKIP
    >>> from omnisearch.models.omni_lite import OmniLite                        # doctest: +SKIP
    >>> feats = extract_features(read_manifest("dev/test.jsonl"), OmniLite(), "cache")  # doctest: +SKIP
    >>> score_features(feats, OmniLite()).averages.avg_all                      # doctest: +SKIP
    41.2
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from omnisearch.config import DecodeConfig
from omnisearch.eval.core import EvalRun, Units, Vectors, evaluate_source
from omnisearch.eval.directions import SIDES, UnitKey, vector_modality
from omnisearch.eval.manifest import ManifestItem, item_modalities
from omnisearch.media.item_decode import ItemDecoder, decode_item
from omnisearch.models.capabilities import Enriching, FeatureEncoder
from omnisearch.types import EncoderInput, Modality

SEM_DIM = 384
MEDIA_PREFIXES = ("video_", "audio_")


@dataclass
class ItemFeatures:
    """Cached frozen features of one manifest item.

    media: the omni-lite feature dict of its media (video_* / audio_* keys and "derived"), no text;
    caption_sem: (K, 384) MiniLM vectors of `item.texts`; modalities: what the manifest says it has
    (a modality whose media failed to decode stays listed and its units score as misses, as in
    `evaluate`); failed: the decode problems, if any.
    """

    item: ManifestItem
    modalities: frozenset[Modality]
    media: dict[str, Any] = field(default_factory=dict)
    caption_sem: np.ndarray = field(default_factory=lambda: np.zeros((0, SEM_DIM), np.float32))
    failed: str = ""

    def has(self, modality: str) -> bool:
        """True when the features of that modality ("text", "video", "audio") are available."""
        if modality == "text":
            return len(self.caption_sem) > 0
        return f"{modality}_sem" in self.media

    def unit(self, side: str, caption: str | None = None) -> dict[str, Any] | None:
        """The feature dict of a side ("t", "av", "at", ...) of this item, None if media is missing."""
        out: dict[str, Any] = {}
        for letter, mod in (("v", "video"), ("a", "audio")):
            if letter in side:
                if not self.has(mod):
                    return None
                out.update({k: v for k, v in self.media.items() if k.startswith(f"{mod}_")})
        if "t" in side:
            if caption is None:
                caption = self.item.texts[0]
            out["text_sem"] = self.caption_sem[self.item.texts.index(caption)]
        return out


def _digest(parts: Sequence[Any]) -> str:
    return hashlib.sha256(json.dumps(list(parts), sort_keys=True).encode()).hexdigest()


class FeatureCache:
    """Frozen features on disk under `root/<feature_key>/` (npz per item's media, npy per caption).

    Example:
        >>> import tempfile
        >>> c = FeatureCache(tempfile.mkdtemp(), "toy")
        >>> c.put_text("a dog", np.ones(3, np.float32)); c.get_text("a dog").tolist()
        [1.0, 1.0, 1.0]
    """

    def __init__(self, root: str | os.PathLike[str], feature_key: str) -> None:
        self.root = Path(root) / feature_key
        self.feature_key = feature_key
        self._hashes: dict[tuple[str, int, int], str] = {}

    def _content(self, path: str) -> str:
        from omnisearch.media.walk import file_hash

        st = os.stat(path)
        memo = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
        if memo not in self._hashes:
            self._hashes[memo] = file_hash(path)
        return self._hashes[memo]

    def media_key(self, item: ManifestItem, need: Iterable[str], cfg: DecodeConfig) -> str | None:
        """Key of an item's media features; None when a file is missing (then nothing is cached)."""
        files = {}
        for letter in sorted(need):
            path = (item.video or item.image) if letter == "v" else (item.audio or item.video)
            if not path or not os.path.exists(path):
                return None
            files[letter] = self._content(path)
        parts = [self.feature_key, files, item.start, item.end, cfg.frames, cfg.frame_size, cfg.sample_rate]
        return _digest(parts)

    def _media_path(self, key: str) -> Path:
        return self.root / "media" / key[:2] / f"{key}.npz"

    def get_media(self, key: str) -> dict[str, Any] | None:
        path = self._media_path(key)
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as z:
            out: dict[str, Any] = {k: z[k] for k in z.files if k != "derived"}
            out["derived"] = json.loads(str(z["derived"]))
        return out

    def put_media(self, key: str, feats: dict[str, Any]) -> None:
        path = self._media_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {k: np.asarray(v, np.float32) for k, v in feats.items() if k.startswith(MEDIA_PREFIXES)}
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, derived=np.array(json.dumps(feats.get("derived", {}))), **arrays)
        os.replace(tmp, path)

    def _text_path(self, caption: str) -> Path:
        key = _digest([self.feature_key, caption])
        return self.root / "text" / key[:2] / f"{key}.npy"

    def get_text(self, caption: str) -> np.ndarray | None:
        path = self._text_path(caption)
        return np.load(path) if path.is_file() else None

    def put_text(self, caption: str, vec: np.ndarray) -> None:
        path = self._text_path(caption)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, np.asarray(vec, np.float32))
        os.replace(tmp, path)


def _media_need(mods: frozenset[Modality]) -> set[str]:
    return {letter for letter, m in (("v", Modality.VIDEO), ("a", Modality.AUDIO)) if m in mods}


def extract_features(
    items: Sequence[ManifestItem],
    encoder: FeatureEncoder,
    cache_dir: str | os.PathLike[str],
    decode: DecodeConfig | None = None,
    progress: Callable[[int], None] | None = None,
    decoder: ItemDecoder = decode_item,
) -> list[ItemFeatures]:
    """Frozen features of every item (from the cache when present, else decoded by `decoder` and
    encoded once). An `Enriching` encoder (omni-lite) also transcribes the audio.
    `progress(n)` is called as n items are done.
    """
    cfg = decode or DecodeConfig()
    cache = FeatureCache(cache_dir, encoder.feature_key)
    mods = item_modalities(items)
    out = [ItemFeatures(item, m) for item, m in zip(items, mods, strict=True)]
    captions = list(dict.fromkeys(c for item in items for c in item.texts))
    sem = {c: cache.get_text(c) for c in captions}
    todo = [c for c, v in sem.items() if v is None]
    for lo in range(0, len(todo), 64):
        chunk = todo[lo : lo + 64]
        for c, f in zip(chunk, encoder.features([EncoderInput(text=c) for c in chunk]), strict=True):
            sem[c] = np.asarray(f["text_sem"], np.float32)
            cache.put_text(c, sem[c])
    for feat in out:
        texts = feat.item.texts
        feat.caption_sem = np.stack([sem[c] for c in texts]) if texts else feat.caption_sem
        need = _media_need(feat.modalities)
        key = cache.media_key(feat.item, need, cfg) if need else None
        cached = cache.get_media(key) if key else None
        if cached is not None:
            feat.media = cached
        elif need:
            media, problems = decoder(feat.item, need, cfg)
            feat.failed = "; ".join(problems)
            if media:
                audio = media.get("a")
                transcribe = encoder.transcriber().transcribe if isinstance(encoder, Enriching) else None
                transcript = None
                if audio is not None and transcribe is not None:
                    transcript = " ".join(s.text for s in transcribe(audio))
                full = encoder.features(
                    [EncoderInput(frames=media.get("v"), audio=audio, transcript=transcript)]
                )
                feat.media = {k: v for k, v in full[0].items() if k.startswith(MEDIA_PREFIXES)}
                feat.media["derived"] = full[0].get("derived", {})
                if key and not problems:
                    cache.put_media(key, feat.media)
        if progress:
            progress(1)
    return out


class FeatureSource:
    """The `eval.core.VectorSource` of cached frozen features: every side unit embedded by
    `encoder.project` (block vectors, or heads / blend when heads are attached); no decoding."""

    def __init__(self, feats: Sequence[ItemFeatures], encoder: FeatureEncoder, name: str = "model") -> None:
        self.feats, self.encoder, self.name, self.dim = feats, encoder, name, 1
        self.items = [f.item for f in feats]
        self.modalities = [f.modalities for f in feats]

    def unit_vectors(self, units: Units) -> Vectors:
        keys: list[tuple[str, UnitKey]] = []
        inputs: list[dict[str, Any]] = []
        for side, us in units.items():
            for u in us:
                d = self.feats[u.item_index].unit(side, u.text)
                if d is not None:
                    keys.append((side, u.key))
                    inputs.append(d)
        vectors: Vectors = {side: {} for side in units}
        for (side, key), emb in zip(keys, self.encoder.project(inputs), strict=True):
            vectors[side][key] = emb.vectors[vector_modality(SIDES[side])]
        return vectors


def score_features(
    feats: Sequence[ItemFeatures],
    encoder: FeatureEncoder,
    directions: Iterable[str] | None = None,
    model: str | None = None,
) -> EvalRun:
    """Score the directions from cached features with `encoder.project` (no decoding, no towers).

    Units whose media is missing score as misses, as in `evaluate`.
    """
    return evaluate_source(FeatureSource(feats, encoder, model or encoder.name), directions)
