"""Train heads + fusion on an encoder's cached frozen features (omni-lite, clip-clap) with `loop.run_loop`.

Each step: a batch of tuples -> heads -> single embeddings + fused; the augmented view -> fused_aug; the
hard negatives of `hard_negative_kind(step)` -> fused_hardneg (`batches.make_batch`, head inputs built by
the encoder's `FeatureLayout`); loss w_A * L_A + w_D * L_D + w_T * L_T (`losses.OmniLoss` over the rows that
have the modalities a term needs). Each epoch the validation split is scored from its cached features (R@1
per direction and the averages, heads-only space unless `val_alpha` > 0) by the encoder `base()` builds with
the heads attached. Logging, checkpoints and resume are the loop's (see omnisearch.train.loop); at the end
OUT holds a model folder (omnisearch.json + heads.safetensors) that `load_encoder(OUT)` loads.

Example:
    >>> from omnisearch.train.batches import toy_row
    >>> rows = [toy_row(i) for i in range(8)]
    >>> cfg = TrainConfig(epochs=1, batch_size=4, heads=HeadsConfig(dim=16, hidden=32, residual=False))
    >>> result = train(rows, "/tmp/omni-doctest-run", cfg)   # doctest: +SKIP
    >>> result.steps                                          # doctest: +SKIP
    2
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from omnisearch.models.feature_layout import FeatureLayout, OmniLiteLayout
from omnisearch.models.heads import MODALITIES, HeadsBlend, HeadsConfig, OmniHeads, save_heads
from omnisearch.train.augment import AugmentConfig
from omnisearch.train.batches import Batch, Row, make_batch
from omnisearch.train.loop import LoopConfig, evaluating, run_loop
from omnisearch.train.losses import OmniLoss
from omnisearch.train.views import ObjectiveConfig, unit_mean, view_outputs


@dataclass
class TrainConfig(LoopConfig):
    """Everything a run needs (the loop's fields + these); written into the model folder's omnisearch.json.
    `heads` must match the encoder's feature layout (`HeadsConfig.for_layout`; omni-lite's by default)."""

    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)  # w_A, w_D, w_T
    temperature: float = 0.05
    learnable_temperature: bool = False
    alpha: float = 0.0  # blend written into the model folder (0: heads only)
    val_alpha: float = 0.0  # space scored by the per-epoch validation
    heads: HeadsConfig = field(default_factory=HeadsConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # views / anchors (views.py): the public code's choices + L_T's positive in the singles' space
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig.tied)


@dataclass
class TrainResult:
    out: Path
    steps: int
    epochs: int
    samples_per_s: float
    history: list[dict[str, Any]]
    heads: OmniHeads


class TrainModule(nn.Module):
    """Heads + loss (its temperature may be learnable): what the optimizer updates and checkpoints hold."""

    def __init__(self, heads: OmniHeads, loss: OmniLoss) -> None:
        super().__init__()
        self.heads, self.loss = heads, loss

    def forward(self, batch: Batch, step: int) -> tuple[Tensor, dict[str, Tensor]]:
        p = next(self.heads.parameters())

        def t(x: Mapping[str, np.ndarray]) -> dict[str, Tensor]:
            return {m: torch.as_tensor(x[m], dtype=p.dtype, device=p.device) for m in MODALITIES}

        masks = {m: torch.as_tensor(batch.masks[m], device=p.device) for m in MODALITIES}
        out: dict[str, Tensor] = self.heads(t(batch.inputs), masks)
        aug_masks = masks
        if batch.aug_masks is not None:
            aug_masks = {m: torch.as_tensor(batch.aug_masks[m], device=p.device) for m in MODALITIES}
        aug = self.heads(t(batch.aug_inputs), aug_masks)
        objective: ObjectiveConfig = self.loss.objective
        out["fused_aug"] = unit_mean(aug, aug_masks) if objective.tuple_target == "mean" else aug["fused"]
        # views of a term switched off are not computed (their fusion's dropout would shift the RNG)
        objective = replace(
            objective,
            tuple_views=objective.tuple_views if self.loss.w_tuple else "full",
            distill_anchor=objective.distill_anchor if self.loss.w_distill else "tuple",
        )
        with torch.enable_grad() if objective.hardneg_grad else torch.no_grad():
            hardneg = self.heads.singles(t(batch.hardneg_inputs), masks)
            out["fused_hardneg"] = self.heads.fuse(hardneg, masks)
        hn_mask = torch.as_tensor(batch.hardneg_mask, device=p.device)
        singles = {m: out[m] for m in MODALITIES}
        aug_singles = {m: aug[m] for m in MODALITIES}
        views = view_outputs(
            self.heads,
            singles,
            aug_singles,
            hardneg,
            masks,
            aug_masks,
            batch.hardneg_kinds,
            hn_mask,
            step,
            objective,
            self.loss.distributed,
        )
        return self.loss(out, step, masks, hn_mask, views)


def omni_lite_base() -> Any:
    """A fresh omni-lite encoder (projection only: no tower is loaded to score cached features)."""
    from omnisearch.models.omni_lite import OmniLite

    return OmniLite()


def validate(
    heads: OmniHeads, val: Sequence[Any], alpha: float = 0.0, base: Callable[[], Any] = omni_lite_base
) -> dict[str, Any]:
    """R@1 per direction and the averages of `val` (`ItemFeatures`) in the heads (or blended) space of
    the encoder `base()` (which must match the features: its `feature_layout` builds the head inputs)."""
    from omnisearch.train.features import score_features

    with evaluating(heads):  # HeadsBlend puts the heads in eval mode; training resumes after
        enc = base()
        enc.attach_heads(HeadsBlend(heads, alpha, layout=enc.feature_layout))
        return score_features(val, enc).r1_summary()


class HeadsTask:
    """The `loop.TrainTask` of heads training: batches from rows, clamp the temperature, validate, save."""

    def __init__(
        self,
        cfg: TrainConfig,
        world: int,
        layout: FeatureLayout,
        val: Sequence[Any] | None,
        base: Callable[[], Any],
        folder_meta: dict[str, Any],
    ) -> None:
        w_a, w_d, w_t = cfg.weights
        temp, learnable = cfg.temperature, cfg.learnable_temperature
        loss = OmniLoss(w_a, w_d, w_t, temp, learnable, distributed=world > 1, objective=cfg.objective)
        self.module = TrainModule(OmniHeads(cfg.heads), loss)
        self.cfg, self.layout, self.val, self.base, self.folder_meta = cfg, layout, val, base, folder_meta

    def make_batch(self, rows: Sequence[Row], rng: np.random.Generator, step: int) -> Batch:
        return make_batch(rows, rng, step, self.cfg.augment, self.layout)

    def after_step(self, module: nn.Module) -> None:
        module.loss.clamp_temperature_()

    def validate(self, module: nn.Module) -> dict[str, Any] | None:
        if self.val is None:
            return None
        return validate(module.heads, self.val, self.cfg.val_alpha, self.base)

    def save(self, out: Path, module: nn.Module, meta: dict[str, Any]) -> None:
        meta = {"name": f"{self.layout.name}+heads", **self.folder_meta, **meta}
        encoder = meta.pop("encoder", self.layout.name)
        save_heads(out, module.heads, self.cfg.alpha, encoder=encoder, layout=self.layout, **meta)


def train(
    rows: Sequence[Row],
    out: str | Path,
    cfg: TrainConfig | None = None,
    val: Sequence[Any] | None = None,
    resume: bool = False,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    layout: FeatureLayout | None = None,
    base: Callable[[], Any] = omni_lite_base,
    folder_meta: dict[str, Any] | None = None,
) -> TrainResult:
    """Train heads on `rows` (see `batches.rows_from_features`), checkpoint into `out`, write the model
    folder there and return the result. `val`: `ItemFeatures` scored each epoch. `on_log(record)` sees
    every log record (also appended to out/log.jsonl). `layout` / `base`: the encoder the features come
    from (omni-lite's by default); `folder_meta` goes into omnisearch.json (e.g. clip-clap's "clip" and
    "clap" folders, so `load_encoder(out)` finds its towers)."""
    cfg = cfg or TrainConfig()
    layout = layout or OmniLiteLayout()
    if dict(cfg.heads.input_dims) != dict(layout.input_dims):
        raise ValueError(f"heads input sizes {cfg.heads.input_dims} do not match {layout.name} features")
    meta = folder_meta or {}
    r = run_loop(lambda world: HeadsTask(cfg, world, layout, val, base, meta), rows, out, cfg, resume, on_log)
    return TrainResult(r.out, r.steps, r.epochs, r.samples_per_s, r.history, r.module.heads)
