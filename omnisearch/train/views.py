"""Which inputs each term of the objective sees: the method-fidelity options of the heads trainer.

`ObjectiveConfig` picks, per term, the views and anchors (docs/method-fidelity.md gives the audit that
motivates each option; the defaults are the public training code's choices where it makes one):

- `align_pairs` (L_A): "all" = mean over the three single pairs every step; "rotate" = only the pair
  L_D distils into at that step, (T,A), (T,V), (A,V) (the public code's `loss_obj3`), rotating over the
  pairs the batch holds (`losses.step_pair`: 2+ rows with both), so a tri-modal batch follows step % 3
  and (text, audio) data gets its one pair every step instead of one step in three.
- `hardneg_grad` (L_T): False = the hard negatives are constants, as the public code encodes them under
  `torch.no_grad()`; True = gradient also pushes the hard negatives' embeddings.
- `tuple_views` (L_T): "full" = the clip's tuple only; "full+pairs" = also the pair views TV, TA, AV of
  complete tuples (anchor, augmented view and hard negative all fused from the same two modalities, the
  hard negative present when the step's corrupted modality is one of the two), so the fusion learns
  every subset the dual directions query. L_T is the mean over the views computed.
- `distill_anchor` (L_D): "tuple" = the detached fused tuple teaches both singles of the step's pair;
  "complement" = single m is taught by the detached fusion of the OTHER modalities of a complete tuple
  (the target of dual direction m -> rest), partial tuples keeping the tuple anchor.
- `distill_grad` (L_D): False = the anchor is detached (the method's stop-gradient); True = gradient also
  flows into the anchor, so the fusion is pulled toward the singles as well (a deviation from the
  method, aimed at the late-fusion gap: docs/method-fidelity.md).
- `tuple_target` (L_T): "fused" = the positive is the fusion of the augmented view (the method);
  "mean" = the unit mean of the augmented view's single embeddings, so the fused anchor is pulled into
  the singles' space while it still has to beat the hard negatives (the fused anchor and the singles come
  out of one model in the paper; here nothing else ties them).

`view_outputs` computes the extra fused embeddings the options need from the heads' single embeddings;
`losses.OmniLoss` turns them into terms.

Example:
    >>> restrict({"text": np.array([True]), "video": np.array([True]), "audio": np.array([False])},
    ...          ("text", "audio"))["video"].tolist()
    [False]
    >>> ObjectiveConfig().tuple_views, PAIR_VIEWS[2]
    ('full', ('video', 'audio'))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from omnisearch.models.heads import MODALITIES

PAIR_VIEWS: tuple[tuple[str, str], ...] = (("text", "video"), ("text", "audio"), ("video", "audio"))
ALIGN_PAIRS = ("all", "rotate")
TUPLE_VIEWS = ("full", "full+pairs")
DISTILL_ANCHORS = ("tuple", "complement")
TUPLE_TARGETS = ("fused", "mean")


@dataclass
class ObjectiveConfig:
    """Views and anchors of each term (module docstring). Defaults: the trainer before the audit (what
    `OmniLoss` uses when given none, as the LoRA trainers do); the heads trainer defaults to `tied()`."""

    align_pairs: str = "all"
    hardneg_grad: bool = True
    tuple_views: str = "full"
    distill_anchor: str = "tuple"
    distill_grad: bool = False
    tuple_target: str = "fused"

    def __post_init__(self) -> None:
        for name, allowed in (
            ("align_pairs", ALIGN_PAIRS),
            ("tuple_views", TUPLE_VIEWS),
            ("distill_anchor", DISTILL_ANCHORS),
            ("tuple_target", TUPLE_TARGETS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    @classmethod
    def faithful(cls) -> ObjectiveConfig:
        """The public training code's choices: rotating L_A pair, constant hard negatives, tuple views."""
        return cls(align_pairs="rotate", hardneg_grad=False, tuple_target="fused")

    @classmethod
    def tied(cls) -> ObjectiveConfig:
        """`faithful()` with L_T's positive in the singles' space (`tuple_target="mean"`): the heads
        trainer's default (`TrainConfig.objective`; docs/method-fidelity.md, section 6)."""
        return replace(cls.faithful(), tuple_target="mean")


def restrict(masks: Mapping[str, Any], keep: Sequence[str]) -> dict[str, Any]:
    """Masks with every modality outside `keep` switched off (numpy or torch booleans)."""
    return {m: v if m in keep else v & False for m, v in masks.items()}


def complete(masks: Mapping[str, Tensor]) -> Tensor:
    """Rows that have every modality."""
    out = masks[MODALITIES[0]]
    for m in MODALITIES[1:]:
        out = out & masks[m]
    return out


def unit_mean(singles: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
    """Per row, the L2-normalised mean of the single embeddings present (`tuple_target="mean"`).

    >>> e = {"text": torch.tensor([[1.0, 0.0]]), "video": torch.tensor([[0.0, 1.0]]),
    ...      "audio": torch.tensor([[5.0, 5.0]])}
    >>> m = {"text": torch.tensor([True]), "video": torch.tensor([True]), "audio": torch.tensor([False])}
    >>> [round(x, 3) for x in unit_mean(e, m)[0].tolist()]
    [0.707, 0.707]
    """
    total = sum(singles[m] * masks[m].unsqueeze(-1).to(singles[m].dtype) for m in MODALITIES)
    return torch.nn.functional.normalize(total, dim=-1)


def _fuse_rows(heads: Any, singles: Mapping[str, Tensor], view: dict[str, Tensor], fallback: dict) -> Tensor:
    """heads.fuse over `view` masks; rows with nothing in the view use `fallback` (their values are
    never scored: the loss leaves those rows out)."""
    empty = ~torch.stack([view[m] for m in MODALITIES]).any(0)
    safe = {m: torch.where(empty, fallback[m], view[m]) for m in MODALITIES}
    return heads.fuse(singles, safe)


def view_outputs(
    heads: Any,
    clean: Mapping[str, Tensor],
    aug: Mapping[str, Tensor],
    hardneg: Mapping[str, Tensor],
    masks: Mapping[str, Tensor],
    aug_masks: Mapping[str, Tensor],
    kinds: Sequence[str],
    hardneg_mask: Tensor,
    step: int,
    cfg: ObjectiveConfig,
    distributed: bool = False,
) -> dict[str, Any]:
    """The extra embeddings `cfg` needs, from the single embeddings of the clean, augmented and
    hard-negative views: {"pairs": {pair: {"fused", "fused_aug", "fused_hardneg", "rows",
    "hard_rows"}}} for pair views, {"complement": {m: (B, d)}} for complement anchors (m in the step's
    L_D pair, `losses.step_pair`; `distributed` as the loss's, so both pick the same pair)."""
    from omnisearch.train.rotation import step_pair

    out: dict[str, Any] = {}
    full = complete(masks)
    if cfg.tuple_views == "full+pairs":
        kind = np.array(kinds)
        pairs = {}
        for pair in PAIR_VIEWS:
            view, aug_view = restrict(masks, pair), restrict(aug_masks, pair)
            in_pair = torch.as_tensor(np.isin(kind, pair), device=full.device)
            hn_ctx = torch.enable_grad() if cfg.hardneg_grad else torch.no_grad()
            with hn_ctx:
                fused_hn = _fuse_rows(heads, hardneg, view, masks)
            fused_aug = (
                unit_mean(aug, aug_view)
                if cfg.tuple_target == "mean"
                else _fuse_rows(heads, aug, aug_view, aug_masks)
            )
            pairs[pair] = {
                "fused": _fuse_rows(heads, clean, view, masks),
                "fused_aug": fused_aug,
                "fused_hardneg": fused_hn,
                "rows": full,
                "hard_rows": full & hardneg_mask & in_pair,
            }
        out["pairs"] = pairs
    if cfg.distill_anchor == "complement":
        comp = {}
        for m in step_pair(step, clean, masks, distributed):
            rest = tuple(x for x in MODALITIES if x != m)
            with torch.enable_grad() if cfg.distill_grad else torch.no_grad():
                comp[m] = _fuse_rows(heads, clean, restrict(masks, rest), masks)
        out["complement"] = comp
    return out
