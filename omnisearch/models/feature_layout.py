"""How an encoder's frozen feature dicts become the inputs of trainable heads (numpy only, no torch).

Every encoder that can be trained with heads (`omnisearch.models.heads`) gives per item a feature dict
with keys for the modalities present:

    text_sem        (T,)     the text's feature (what the text head reads)
    video_frames    (N, dv)  one row per frame       (+ encoder-specific video_* keys)
    audio_windows   (W, da)  one row per audio window (+ encoder-specific audio_* keys)

A layout turns one modality of such a dict into a fixed-size head input `[base | extra]`: `base`
(`base_dim` wide, the same for every modality) is the modality's vector in the encoder's own shared
space, which residual heads start from; `extra` is whatever else the head may learn from. `rows`
replaces the per-frame / per-window rows by an augmented crop of them (pooled with `pool_rows`).

- omni-lite: base = the MiniLM vector of the modality's words (384: caption, OCR/colour words,
  transcript); extra = pooled frame descriptors (video, 256) or the aisfx clip vector (audio, 512).
- clip-clap: base = the clip-clap block vector [CLIP part | CLAP part] (clip_dim + clap_dim); no extra.
  Text: [CLIP text, CLAP text] each scaled by sqrt(1/2); video: [pooled CLIP frames, 0];
  audio: [0, pooled CLAP windows].

`layout_from_dict(layout.to_dict())` rebuilds a layout (model folders store it in omnisearch.json).

Example:
    >>> lay = ClipClapLayout(clip_dim=2, clap_dim=2)
    >>> lay.modality_input("video", {"video_frames": np.array([[3.0, 4.0]])}).tolist()
    [0.6000000238418579, 0.800000011920929, 0.0, 0.0]
    >>> lay.input_dims, OmniLiteLayout().input_dims["audio"]
    ({'text': 4, 'video': 4, 'audio': 4}, 896)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

MODALITIES: tuple[str, str, str] = ("text", "video", "audio")
ROW_KEYS: dict[str, str] = {"video": "video_frames", "audio": "audio_windows"}


def unit(x: np.ndarray) -> np.ndarray:
    """x / |x| as float32 (zeros stay zeros)."""
    x = np.asarray(x)
    n = float(np.linalg.norm(x))
    return (x / n).astype(np.float32) if n > 0 else np.zeros_like(x, dtype=np.float32)


def pool_rows(rows: np.ndarray) -> np.ndarray:
    """L2-normalised mean of per-frame / per-window feature rows (N, d) -> (d,); zeros when N = 0."""
    rows = np.asarray(rows, dtype=np.float32)
    return unit(rows.mean(0)) if len(rows) else np.zeros(rows.shape[-1], np.float32)


def present(feat: Mapping[str, Any]) -> tuple[str, ...]:
    """Modalities present in a feature dict, in MODALITIES order."""
    keys = {"text": "text_sem", **ROW_KEYS}
    return tuple(m for m in MODALITIES if keys[m] in feat)


@dataclass(frozen=True)
class OmniLiteLayout:
    """omni-lite's features: base = MiniLM words (384), extra = frame descriptors / aisfx (module doc)."""

    sem_dim: int = 384
    vis_dim: int = 256  # seen.LOOK_DIM
    aud_dim: int = 512
    name: str = "omni-lite"

    @property
    def base_dim(self) -> int:
        return self.sem_dim

    @property
    def text_dim(self) -> int:
        return self.sem_dim

    @property
    def input_dims(self) -> dict[str, int]:
        s = self.sem_dim
        return {"text": s, "video": s + self.vis_dim, "audio": s + self.aud_dim}

    def modality_input(
        self, modality: str, feat: Mapping[str, Any], rows: np.ndarray | None = None
    ) -> np.ndarray:
        """text: text_sem; video: [unit(video_sem), pooled video_frames]; audio: [unit(audio_sem),
        audio_aud] (the pooled windows when `rows` is given; they equal audio_aud when uncropped)."""
        if modality == "text":
            return np.asarray(feat["text_sem"], np.float32)
        if rows is not None:
            signal = pool_rows(rows)
        elif modality == "video":
            signal = pool_rows(feat["video_frames"])
        else:
            signal = np.asarray(feat["audio_aud"], np.float32)
        return np.concatenate([unit(feat[f"{modality}_sem"]), signal])

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sem_dim": self.sem_dim, "vis_dim": self.vis_dim, "aud_dim": self.aud_dim}


@dataclass(frozen=True)
class ClipClapLayout:
    """clip-clap's features: base = the block vector [CLIP | CLAP], no extra (module doc)."""

    clip_dim: int = 512
    clap_dim: int = 512
    name: str = "clip-clap"

    @property
    def base_dim(self) -> int:
        return self.clip_dim + self.clap_dim

    @property
    def text_dim(self) -> int:
        return self.base_dim

    @property
    def input_dims(self) -> dict[str, int]:
        return {m: self.base_dim for m in MODALITIES}

    def modality_input(
        self, modality: str, feat: Mapping[str, Any], rows: np.ndarray | None = None
    ) -> np.ndarray:
        """text: text_sem (already the block vector); video / audio: pooled rows in their block."""
        if modality == "text":
            return np.asarray(feat["text_sem"], np.float32)
        pooled = pool_rows(feat[ROW_KEYS[modality]] if rows is None else rows)
        out = np.zeros(self.base_dim, np.float32)
        if modality == "video":
            out[: self.clip_dim] = pooled
        else:
            out[self.clip_dim :] = pooled
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "clip_dim": self.clip_dim, "clap_dim": self.clap_dim}


FeatureLayout = OmniLiteLayout | ClipClapLayout
LAYOUTS: dict[str, type] = {"omni-lite": OmniLiteLayout, "clip-clap": ClipClapLayout}


def layout_from_dict(d: Mapping[str, Any] | None) -> FeatureLayout:
    """The layout `to_dict()` wrote; None (model folders from before layouts existed) is omni-lite's."""
    if not d:
        return OmniLiteLayout()
    d = dict(d)
    name = d.pop("name")
    if name not in LAYOUTS:
        raise ValueError(f"unknown feature layout {name!r}; known: {', '.join(LAYOUTS)}")
    return LAYOUTS[name](**d)


def head_inputs(
    features: list[Mapping[str, Any]] | tuple[Mapping[str, Any], ...], layout: FeatureLayout
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Batch feature dicts into head inputs {modality: (B, in_dim)} and masks {modality: (B,)}.

    Missing modalities are zero rows with mask False.
    """
    dims = layout.input_dims
    inputs = {m: np.zeros((len(features), dims[m]), np.float32) for m in MODALITIES}
    masks = {m: np.zeros(len(features), bool) for m in MODALITIES}
    for i, feat in enumerate(features):
        for m in present(feat):
            inputs[m][i] = layout.modality_input(m, feat)
            masks[m][i] = True
    return inputs, masks
