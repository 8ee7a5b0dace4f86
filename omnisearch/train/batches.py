"""Training batches from cached frozen features: clean view, augmented view, hard negatives.

A row is one manifest item (any non-empty subset of text / video / audio). For a batch of rows, with the
encoder's `FeatureLayout` (omni-lite's by default):
- clean view: one caption drawn at random, the item's video / audio head inputs (`layout.modality_input`);
- augmented view (L_T): `augment_feature_tuple` on {caption features (K, T), per-frame rows (N, dv),
  per-window rows (W, da)}, then pooled into head inputs the same way; with `drop_modality` p > 0, a row
  with 2+ modalities loses one of them (uniformly) in this view with probability p (`aug_masks`);
- hard negatives (L_T): the clean inputs with one modality deranged across the batch, the modality
  `hard_negative_kind(step)` (swap text, shuffle audio, shuffle video), done by `make_hard_negative` over
  the rows that HAVE that modality (a row without it cannot lose it). Rows without it, or left alone in
  their group, fall back to the next kind of the rotation they do have; a row with no possible hard
  negative gets hardneg_mask False. With complete tuples this is exactly one `make_hard_negative` over
  the whole batch.

All randomness comes from the numpy Generator passed in, so a seed fixes every batch.

Example:
    >>> rows = [toy_row(i, ("text", "audio")) for i in range(4)]
    >>> b = make_batch(rows, np.random.default_rng(0), step=0)
    >>> b.inputs["audio"].shape, b.masks["video"].tolist(), b.hardneg_mask.tolist()
    ((4, 896), [False, False, False, False], [True, True, True, True])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from omnisearch.models.feature_layout import MODALITIES, ROW_KEYS, FeatureLayout, OmniLiteLayout
from omnisearch.models.seen import LOOK_DIM
from omnisearch.train.augment import AugmentConfig, augment_feature_tuple
from omnisearch.train.negatives import make_hard_negative
from omnisearch.train.rotation import HARD_NEGATIVE_ROTATION, hard_negative_kind


@dataclass
class Row:
    """One training tuple: `feat` is the encoder's media feature dict (video_* / audio_* keys) and
    `captions` the (K, T) caption features (K = 0: no text)."""

    id: str
    feat: Mapping[str, Any]
    captions: np.ndarray

    @property
    def modalities(self) -> tuple[str, ...]:
        has = {"text": len(self.captions) > 0, **{m: key in self.feat for m, key in ROW_KEYS.items()}}
        return tuple(m for m in MODALITIES if has[m])


def rows_from_features(feats: Sequence[Any]) -> list[Row]:
    """Rows of `ItemFeatures` having at least one modality available."""
    rows = [Row(f.item.id, f.media, np.asarray(f.caption_sem, np.float32)) for f in feats]
    return [r for r in rows if r.modalities]


def toy_row(seed: int, modalities: Sequence[str] = MODALITIES, frames: int = 4, windows: int = 3) -> Row:
    """A random row with the given modalities (for tests and examples)."""
    g = np.random.default_rng(seed)
    feat: dict[str, Any] = {}
    if "video" in modalities:
        feat.update(video_sem=g.normal(size=384), video_frames=g.random((frames, LOOK_DIM)))
    if "audio" in modalities:
        w = g.normal(size=(windows, 512))
        feat.update(
            audio_sem=g.normal(size=384), audio_windows=w, audio_aud=w.mean(0) / np.linalg.norm(w.mean(0))
        )
    caps = g.normal(size=(2, 384)) if "text" in modalities else np.zeros((0, 384))
    return Row(f"toy{seed}", {k: np.asarray(v, np.float32) for k, v in feat.items()}, caps.astype(np.float32))


@dataclass
class Batch:
    """Numpy head inputs {modality: (B, in_dim)} of the three views, masks {modality: (B,)} (of the clean
    and hard-negative views; the augmented view's are `aug_masks`, the same unless a modality was
    dropped) and which rows have a hard negative."""

    inputs: dict[str, np.ndarray]
    aug_inputs: dict[str, np.ndarray]
    hardneg_inputs: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    hardneg_mask: np.ndarray
    hardneg_kinds: list[str]
    aug_masks: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.hardneg_mask)


def _empty(n: int, layout: FeatureLayout) -> dict[str, np.ndarray]:
    return {m: np.zeros((n, d), np.float32) for m, d in layout.input_dims.items()}


def hard_negatives(
    inputs: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray], step: int, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
    """(hard-negative inputs, which rows have one, kind per row ("" for none)); see the module docstring."""
    n = len(next(iter(masks.values())))
    out = {m: np.array(v, copy=True) for m, v in inputs.items()}
    kinds = [""] * n
    first = HARD_NEGATIVE_ROTATION.index(hard_negative_kind(step))
    order = HARD_NEGATIVE_ROTATION[first:] + HARD_NEGATIVE_ROTATION[:first]
    for kind in order:
        rows = np.array([i for i in range(n) if not kinds[i] and masks[kind][i]], dtype=np.int64)
        if len(rows) < 2:
            continue
        swapped = make_hard_negative({kind: inputs[kind][rows]}, kind, rng)
        out[kind][rows] = swapped[kind]
        for i in rows:
            kinds[i] = kind
    return out, np.array([bool(k) for k in kinds]), kinds


def make_batch(
    rows: Sequence[Row],
    rng: np.random.Generator,
    step: int,
    augment: AugmentConfig | None = None,
    layout: FeatureLayout | None = None,
) -> Batch:
    """The clean, augmented and hard-negative views of a batch of rows (see the module docstring)."""
    cfg = augment or AugmentConfig()
    layout = layout or OmniLiteLayout()
    n = len(rows)
    clean, aug = _empty(n, layout), _empty(n, layout)
    masks = {m: np.zeros(n, bool) for m in MODALITIES}
    for i, row in enumerate(rows):
        mods = row.modalities
        for m in mods:
            masks[m][i] = True
        if "text" in mods:
            clean["text"][i] = row.captions[int(rng.integers(len(row.captions)))]
        for m in ("video", "audio"):
            if m in mods:
                clean[m][i] = layout.modality_input(m, row.feat)
        source: dict[str, Any] = {m: row.feat[key] for m, key in ROW_KEYS.items() if m in mods}
        if "text" in mods:
            source["text"] = row.captions
        view = augment_feature_tuple(source, rng, cfg)
        if "text" in mods:
            aug["text"][i] = view["text"]
        for m in ("video", "audio"):
            if m in mods:
                aug[m][i] = layout.modality_input(m, row.feat, rows=view[m])
    aug_masks = drop_modalities(aug, masks, cfg.drop_modality, rng) if cfg.drop_modality > 0 else None
    hn, hn_mask, kinds = hard_negatives(clean, masks, step, rng)
    return Batch(clean, aug, hn, masks, hn_mask, kinds, aug_masks)


def drop_modalities(
    aug: dict[str, np.ndarray], masks: dict[str, np.ndarray], p: float, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Masks of the augmented view: each row with 2+ modalities loses one (uniformly) with probability
    p; its input row is zeroed in `aug` (in place)."""
    out = {m: v.copy() for m, v in masks.items()}
    for i in range(len(next(iter(masks.values())))):
        have = [m for m in MODALITIES if masks[m][i]]
        if len(have) >= 2 and rng.random() < p:
            gone = have[int(rng.integers(len(have)))]
            out[gone][i] = False
            aug[gone][i] = 0.0
    return out
