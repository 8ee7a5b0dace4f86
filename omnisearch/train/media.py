"""Decoded media rows for the trainers over media (omniretriever-7b LoRA, clip-clap --lora), their
batches, and scoring them through the evaluation core.

Rows (`media_rows`): manifest items decoded ONCE (`media.item_decode.decode_item`: frames uint8
(N, H, W, 3), 16 kHz audio) into an npz per item under cache_dir/omniretriever-media-v1/, keyed like
`FeatureCache.media_key` (content hashes, start/end, decode settings), read back lazily each step. A
batch (`make_media_batch`): clean view (one caption drawn at random, frames, audio cut to
`max_audio_s`), augmented view for L_T (`augment_video`, `augment_audio`, `augment_caption`), hard
negatives of `hard_negative_kind(step)` by `batches.hard_negatives` run on row indices (so partial
tuples follow exactly its fallback rules). `score_media` scores rows with an encoder through
`eval.core` over a `MediaSource`, as `evaluate` scores a manifest but without decoding.

Example:
    >>> row = MediaRow.from_arrays("x", ["a beep"], audio=np.zeros(1600, np.float32))
    >>> row.present
    ('text', 'audio')
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from omnisearch.config import DecodeConfig
from omnisearch.eval.core import EvalRun, Units, Vectors, evaluate_source, side_vector
from omnisearch.eval.directions import UnitKey
from omnisearch.eval.manifest import ManifestItem, item_modalities
from omnisearch.media.item_decode import ItemDecoder, decode_item
from omnisearch.models.base import Encoder
from omnisearch.models.feature_layout import MODALITIES
from omnisearch.train.augment import AugmentConfig, augment_audio, augment_caption, augment_video
from omnisearch.train.batches import hard_negatives
from omnisearch.train.features import FeatureCache
from omnisearch.types import EncoderInput, Modality

MEDIA_KEY = "omniretriever-media-v1"
LETTERS = {"video": "v", "audio": "a"}
FIELDS = {"text": "text", "video": "frames", "audio": "audio"}
Arr = np.ndarray | None


@dataclass
class MediaRow:
    """One manifest item: its captions, the media decoded (npz at `path`, or `data` in memory) and the
    manifest's modalities (what validation scores; media that failed to decode count as misses)."""

    item: ManifestItem
    modalities: frozenset[Modality]
    have: tuple[str, ...] = ()  # decoded media letters ("a", "v")
    path: Path | None = None
    data: dict[str, np.ndarray] | None = None
    failed: str = ""

    @classmethod
    def from_arrays(cls, id: str, texts: Sequence[str], frames: Arr = None, audio: Arr = None) -> MediaRow:
        """An in-memory row (tests, synthetic benchmarks)."""
        data = {k: v for k, v in (("v", frames), ("a", audio)) if v is not None}
        mods = {Modality.TEXT} if texts else set()
        mods |= {m for k, m in (("v", Modality.VIDEO), ("a", Modality.AUDIO)) if k in data}
        return cls(ManifestItem(id, texts=list(texts)), frozenset(mods), tuple(sorted(data)), data=data)

    @property
    def captions(self) -> list[str]:
        return self.item.texts

    @property
    def present(self) -> tuple[str, ...]:
        """The modalities available for training, in `MODALITIES` order."""
        ok = {"text": bool(self.captions), **{m: k in self.have for m, k in LETTERS.items()}}
        return tuple(m for m in MODALITIES if ok[m])

    def media(self) -> dict[str, np.ndarray]:
        """{"v": frames, "a": audio} (read from the npz each call: rows stay small in memory)."""
        if self.data is not None or self.path is None:
            return self.data or {}
        with np.load(self.path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}


def media_rows(
    items: Sequence[ManifestItem],
    cache_dir: str | os.PathLike[str],
    decode_cfg: DecodeConfig | None = None,
    progress: Callable[[int], None] | None = None,
    decoder: ItemDecoder = decode_item,
) -> list[MediaRow]:
    """A `MediaRow` per item; media decoded once (by `decoder`) and cached as npz, so a second call
    decodes nothing. Items whose decode had problems are kept in memory, not cached."""
    cfg = decode_cfg or DecodeConfig()
    cache = FeatureCache(cache_dir, MEDIA_KEY)
    rows: list[MediaRow] = []
    for item, mods in zip(items, item_modalities(items), strict=True):
        need = {k for m, k in (("video", "v"), ("audio", "a")) if Modality(m) in mods}
        key = cache.media_key(item, need, cfg) if need else None
        path = cache.root / key[:2] / f"{key}.npz" if key else None
        if path is not None and path.is_file():
            with np.load(path, allow_pickle=False) as z:
                rows.append(MediaRow(item, mods, tuple(sorted(z.files)), path=path))
        else:
            media, problems = decoder(item, need, cfg) if need else ({}, [])
            if path is not None and not problems:  # written whole, then renamed: never half a file
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path.with_suffix(".tmp"), "wb") as f:
                    np.savez(f, **media)
                os.replace(path.with_suffix(".tmp"), path)
            keep = {"path": path} if path is not None and not problems else {"data": media}
            rows.append(MediaRow(item, mods, tuple(sorted(media)), failed="; ".join(problems), **keep))
        if progress:
            progress(1)
    return rows


@dataclass
class MediaBatch:
    """The three views as `EncoderInput`s (hardneg None where a row has none) and the masks."""

    clean: list[EncoderInput]
    aug: list[EncoderInput]
    hardneg: list[EncoderInput | None]
    masks: dict[str, np.ndarray]
    hardneg_mask: np.ndarray
    hardneg_kinds: list[str]

    def __len__(self) -> int:
        return len(self.clean)


def make_media_batch(
    rows: Sequence[MediaRow],
    rng: np.random.Generator,
    step: int,
    augment: AugmentConfig | None = None,
    max_audio_s: float | None = None,
) -> MediaBatch:
    """Clean, augmented and hard-negative views of `rows`; all randomness from `rng` (see module doc)."""
    cfg = augment or AugmentConfig()
    n = len(rows)
    masks = {m: np.zeros(n, bool) for m in MODALITIES}
    clean, aug = [], []
    for i, row in enumerate(rows):
        present, media = row.present, row.media()
        for m in present:
            masks[m][i] = True
        text = row.captions[int(rng.integers(len(row.captions)))] if "text" in present else None
        frames = media["v"] if "video" in present else None
        audio = media["a"] if "audio" in present else None
        if audio is not None and max_audio_s and len(audio) > (cap := int(max_audio_s * 16000)):
            start = int(rng.integers(0, len(audio) - cap + 1))
            audio = audio[start : start + cap]
        clean.append(EncoderInput(text=text, frames=frames, audio=audio))
        a_text = augment_caption(row.captions, rng, cfg.word_dropout) if text is not None else None
        a_frames = augment_video(frames, rng, cfg) if frames is not None else None
        a_audio = augment_audio(audio, rng, cfg) if audio is not None else None
        aug.append(EncoderInput(a_text, a_frames, a_audio))
    index = {m: np.arange(n) for m in MODALITIES}  # hard negatives on row indices: the same fallback rules
    src, hn_mask, kinds = hard_negatives(index, masks, step, rng)
    hardneg: list[EncoderInput | None] = [None] * n
    for i in np.flatnonzero(hn_mask):  # row i with the modalities of rows src[m][i]
        hardneg[i] = EncoderInput(**{FIELDS[m]: getattr(clean[src[m][i]], FIELDS[m]) for m in MODALITIES})
    return MediaBatch(clean, aug, hardneg, masks, hn_mask, kinds)


class MediaSource:
    """The `eval.core.VectorSource` of decoded media rows: each row's units encoded by `encoder.encode`
    (a batch flushed once an item brings it to `options.batch_size`); media that failed score as misses."""

    def __init__(self, rows: Sequence[MediaRow], encoder: Encoder) -> None:
        self.rows, self.encoder, self.name, self.dim = rows, encoder, encoder.name, encoder.dim
        self.items = [r.item for r in rows]
        self.modalities = [r.modalities for r in rows]

    def unit_vectors(self, units: Units) -> Vectors:
        by_item: dict[int, list[tuple[str, UnitKey, str | None]]] = {}
        for side, us in units.items():
            for u in us:
                by_item.setdefault(u.item_index, []).append((side, u.key, u.text))
        vectors: Vectors = {side: {} for side in units}
        pending: list[tuple[str, UnitKey, EncoderInput]] = []

        def flush() -> None:
            embs = self.encoder.encode([p[2] for p in pending])
            for (side, key, _), emb in zip(pending, embs, strict=True):
                if (vec := side_vector(side, emb)) is not None:
                    vectors[side][key] = vec
            pending.clear()

        for i in sorted(by_item):
            work = by_item[i]
            media = self.rows[i].media() if any(set(s) & {"v", "a"} for s, _, _ in work) else {}
            for side, key, text in work:
                if all(k in media for k in side if k in "va"):
                    frames_audio = [media.get(k) if k in side else None for k in "va"]
                    pending.append((side, key, EncoderInput(text if "t" in side else None, *frames_audio)))
            if len(pending) >= self.encoder.options.batch_size:
                flush()
        flush()
        return vectors


def validate_rows(
    val: Sequence[MediaRow] | None, module: Any, encoder: Callable[[], Encoder]
) -> dict[str, Any] | None:
    """A trainer's per-epoch validation: `score_media(val, encoder()).r1_summary()`, with `module` in
    eval mode while the encoder is built and scores (None without validation rows)."""
    from omnisearch.train.loop import evaluating

    if not val:
        return None
    with evaluating(module):
        return score_media(val, encoder()).r1_summary()


def score_media(
    rows: Sequence[MediaRow], encoder: Encoder, directions: Sequence[str] | None = None
) -> EvalRun:
    """R@1/5/10 of the directions (all 12 by default) over rows of decoded media (`eval.core`)."""
    return evaluate_source(MediaSource(rows, encoder), directions)
