"""Train heads + fusion on an encoder's cached frozen features (omni-lite, clip-clap) with `loop.run_loop`.

Each step: a batch of tuples -> heads -> single embeddings + fused; the augmented view -> fused_aug; the
hard negatives of `hard_negative_kind(step)` -> fused_hardneg (`batches.make_batch`, head inputs built
by the encoder's `FeatureLayout`); loss w_A * L_A + w_D * L_D + w_T * L_T (`MaskedOmniLoss`: `OmniLoss`
over the rows that have the modalities a term needs, identical to `OmniLoss` on complete tuples). Each
epoch the validation split is scored from its cached features (R@1 per direction and the averages,
heads-only space unless `val_alpha` > 0) by the encoder `base()` builds with the heads attached.
Logging, checkpoints and resume are the loop's (see omnisearch.train.loop); at the end OUT holds a model
folder (omnisearch.json + heads.safetensors) that `load_encoder(OUT)` loads.

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
import torch.nn.functional as F
from torch import Tensor, nn

from omnisearch.models.feature_layout import FeatureLayout, OmniLiteLayout
from omnisearch.models.heads import MODALITIES, HeadsBlend, HeadsConfig, OmniHeads, save_heads
from omnisearch.train.augment import AugmentConfig
from omnisearch.train.batches import Batch, Row, make_batch
from omnisearch.train.loop import LoopConfig, evaluating, run_loop
from omnisearch.train.losses import DEFAULT_PAIRS, OmniLoss, fusion_teacher_pair, gather_with_grad
from omnisearch.train.views import ObjectiveConfig, complete, view_outputs


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
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)  # views / anchors (views.py)


@dataclass
class TrainResult:
    out: Path
    steps: int
    epochs: int
    samples_per_s: float
    history: list[dict[str, Any]]
    heads: OmniHeads


# ---- the loss over rows that have the modalities ------------------------------------------------


def masked_info_nce(
    a: Tensor,
    b: Tensor,
    mask: Tensor,
    scale: Tensor | float,
    symmetric: bool = True,
    distributed: bool = False,
    hard: Tensor | None = None,
    hard_mask: Tensor | None = None,
) -> Tensor | None:
    """`losses.info_nce` restricted to the rows where `mask` holds (queries and candidates alike); the hard
    negatives where `hard_mask` holds are extra columns. None when fewer than 2 rows hold (globally)."""

    def gather(x: Tensor) -> Tensor:
        return gather_with_grad(x) if distributed else x

    rank = torch.distributed.get_rank() if distributed and torch.distributed.is_initialized() else 0
    m_all = gather(mask.float()) > 0.5
    n_valid = int(m_all.sum())
    if n_valid < 2:
        return None
    world = len(m_all) // len(mask)
    extra_mask = gather(hard_mask.float()) > 0.5 if hard is not None and hard_mask is not None else None
    extra = gather(hard) if hard is not None else None
    labels = torch.arange(len(mask), device=a.device) + rank * len(mask)

    def one_side(rows: Tensor, cols: Tensor) -> Tensor:
        col_ok = m_all
        if extra is not None:
            cols = torch.cat([cols, extra])
            col_ok = torch.cat([m_all, extra_mask if extra_mask is not None else torch.ones_like(m_all)])
        logits = (scale * rows @ cols.T).masked_fill(~col_ok, float("-inf"))
        ce = (
            F.cross_entropy(logits[mask], labels[mask], reduction="sum")
            if bool(mask.any())
            else rows.sum() * 0
        )
        return ce * world / n_valid  # DDP averages over processes: the mean over all valid rows

    loss = one_side(a, gather(b))
    return 0.5 * (loss + one_side(b, gather(a))) if symmetric else loss


class MaskedOmniLoss(OmniLoss):
    """`OmniLoss` for batches of partial tuples: forward(outputs, step, masks, hardneg_mask).

    L_A averages the pairs of `DEFAULT_PAIRS` (or the step's L_D pair, `objective.align_pairs="rotate"`)
    over the rows having both; L_D uses the rows having the step's pair; L_T uses every row, with the
    hard negatives where `hardneg_mask` holds. A term with fewer than 2 rows is left out this step. With
    `masks=None` this is `OmniLoss.forward`. `views` holds what `views.view_outputs` adds for the
    objective's pair views ("pairs": L_T is the mean over the full view and each pair view) and
    complement anchors ("complement": complete tuples' anchor for single m, detached).

    Example:
        >>> n = lambda: F.normalize(torch.randn(4, 8), dim=-1)
        >>> out = {k: n() for k in ("text", "video", "audio", "fused", "fused_aug", "fused_hardneg")}
        >>> ones = {m: torch.ones(4, dtype=torch.bool) for m in MODALITIES}
        >>> a, _ = MaskedOmniLoss()(out, 0, ones, torch.ones(4, dtype=torch.bool))
        >>> bool(torch.isclose(a, OmniLoss()(out, 0)[0]))
        True
    """

    def __init__(self, *args: Any, objective: ObjectiveConfig | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.objective = objective or ObjectiveConfig()

    def forward(  # type: ignore[override]
        self,
        outputs: Mapping[str, Any],
        step: int,
        masks: Mapping[str, Tensor] | None = None,
        hardneg_mask: Tensor | None = None,
        views: Mapping[str, Any] | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        if masks is None:
            return super().forward(outputs, step)
        views = views or {}
        kw = self._kw()
        scale = kw["logit_scale"] if kw["logit_scale"] is not None else 1.0 / self.temperature
        nce = dict(scale=scale, symmetric=self.symmetric, distributed=self.distributed)
        parts: dict[str, Tensor] = {}
        terms: list[Tensor] = []
        if self.w_align:
            pairs = DEFAULT_PAIRS if self.objective.align_pairs == "all" else (fusion_teacher_pair(step),)
            pair_losses = [
                masked_info_nce(outputs[x], outputs[y], masks[x] & masks[y], **nce) for x, y in pairs
            ]
            done = [v for v in pair_losses if v is not None]
            if done:
                parts["loss_align"] = torch.stack(done).mean()
                terms.append(self.w_align * parts["loss_align"])
        if self.w_distill:
            x, y = fusion_teacher_pair(step)
            anchor = outputs["fused"].detach()
            both = masks[x] & masks[y]
            comp = views.get("complement")
            full = complete(masks).unsqueeze(-1)
            anchors = {m: torch.where(full, comp[m], anchor) if comp else anchor for m in (x, y)}
            lx, ly = (masked_info_nce(anchors[m], outputs[m], both, **nce) for m in (x, y))
            if lx is not None and ly is not None:
                parts["loss_distill"] = 0.5 * (lx + ly)
                terms.append(self.w_distill * parts["loss_distill"])
        if self.w_tuple:
            every = torch.ones_like(masks[MODALITIES[0]])
            fused, aug = outputs["fused"], outputs["fused_aug"]
            lt = masked_info_nce(
                fused, aug, every, hard=outputs["fused_hardneg"], hard_mask=hardneg_mask, **nce
            )
            per_view = [lt]
            for v in views.get("pairs", {}).values():
                hard = v["fused_hardneg"]
                per_view.append(
                    masked_info_nce(
                        v["fused"], v["fused_aug"], v["rows"], hard=hard, hard_mask=v["hard_rows"], **nce
                    )
                )
            done_t = [v for v in per_view if v is not None]
            if done_t:
                parts["loss_tuple"] = torch.stack(done_t).mean()
                terms.append(self.w_tuple * parts["loss_tuple"])
        total = torch.stack(terms).sum() if terms else outputs["fused"].sum() * 0.0
        out = {k: v.detach() for k, v in parts.items()}
        out["temperature"] = torch.as_tensor(1.0 / float(scale))
        return total, out


class TrainModule(nn.Module):
    """Heads + loss (its temperature may be learnable): what the optimizer updates and checkpoints hold."""

    def __init__(self, heads: OmniHeads, loss: MaskedOmniLoss) -> None:
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
        out["fused_aug"] = aug["fused"]
        objective: ObjectiveConfig = self.loss.objective
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
        loss = MaskedOmniLoss(w_a, w_d, w_t, temp, learnable, distributed=world > 1, objective=cfg.objective)
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
