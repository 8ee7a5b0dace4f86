"""The OmniRetriever objective: L = w_A * L_A + w_D * L_D + w_T * L_T (paper weights 1 / 1 / 1, t = 0.01).

- L_A (`pairwise_loss`): symmetric InfoNCE between single-modal embeddings of the same clip.
- L_D (`fusion_teacher_loss`): fusion-as-teacher; the fused embedding, detached, is the anchor for two
  single-modal embeddings, the step's pair (`rotation.step_pair`): the rotation (T,A), (T,V), (A,V) runs
  over the pairs the batch holds (2+ rows having both), so tri-modal batches take
  `rotation.FUSION_TEACHER_ROTATION[step % 3]` and (text, audio) data gets (T,A), hence L_D, every step.
  L_A with `align_pairs="rotate"` uses the same pair.
- L_T (`tuple_infonce_loss`): the fused anchor (with gradient) against the fused embedding of an augmented
  view of the same tuple, plus one hard negative per row: the fused embedding of the tuple with one
  modality deranged across the batch, the modality cycling with the step (`rotation.hard_negative_kind`).

Every embedding is (B, d) and L2-normalised by the encoder; nothing here renormalises. Embedding dicts are
keyed by modality name ("text", "video", "audio"; `omnisearch.types.Modality` members work too).
One InfoNCE (`masked_info_nce`: rows that have the modalities, global negatives under DDP, hard-negative
columns) composes every term; `OmniLoss` is what every trainer optimises, so the reference tests test
what trains. Hard negatives are made in `omnisearch.train.negatives`.
This module imports torch at the top; only the trainer imports it, lazily.

Example:
    >>> import torch
    >>> a = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    >>> float(info_nce(a, a, temperature=0.01)) < 1e-3   # perfect alignment: loss close to 0
    True
    >>> step_pair(1, {"text": a, "audio": a}), hard_negative_kind(4)   # only (T,A) held: every step
    (('text', 'audio'), 'audio')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnisearch.train.gather import gather_with_grad, rank_world
from omnisearch.train.rotation import hard_negative_kind, key, norm_keys, rows_having, step_pair

SINGLE_MODALITIES: tuple[str, str, str] = ("text", "video", "audio")
# L_A pairs, used when `pairwise_loss` is given no explicit pairs (those whose modalities are present).
DEFAULT_PAIRS: tuple[tuple[str, str], ...] = (("text", "video"), ("text", "audio"), ("video", "audio"))


def masked_info_nce(
    a: Tensor,
    b: Tensor,
    mask: Tensor | None = None,
    scale: Tensor | float = 100.0,
    symmetric: bool = True,
    distributed: bool = False,
    hard: Tensor | None = None,
    hard_mask: Tensor | None = None,
) -> Tensor | None:
    """The one InfoNCE: a[i] matches b[i] among the rows where `mask` holds (queries and candidates
    alike; None: every row); logits `scale * rows @ cols.T`. `hard` (B, d): extra columns in both
    directions (the hard negative of row i at column B + i), those where `hard_mask` holds. With
    `distributed`, columns are gathered over ranks (global negatives; local row i's target is
    rank * B + i) and the mean runs over every valid row of every rank. Symmetric: the mean of a -> b and
    b -> a. None when fewer than 2 rows hold (globally): the term is left out.

    Example:
        >>> a = torch.nn.functional.normalize(torch.randn(3, 5), dim=-1)
        >>> m = torch.tensor([True, True, False])
        >>> masked_info_nce(a, a, m).shape, masked_info_nce(a, a, torch.tensor([True, False, False]))
        (torch.Size([]), None)
    """

    def gather(x: Tensor) -> Tensor:
        return gather_with_grad(x) if distributed else x

    if mask is None:
        mask = torch.ones(a.shape[0], dtype=torch.bool, device=a.device)
    rank = rank_world()[0] if distributed else 0
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


def info_nce(
    a: Tensor,
    b: Tensor,
    temperature: float | Tensor = 0.01,
    symmetric: bool = True,
    *,
    logit_scale: Tensor | None = None,
    distributed: bool = False,
    hard_negatives: Tensor | None = None,
) -> Tensor:
    """`masked_info_nce` over every row: a[i] matches b[i]; other rows of the batch are negatives.

    Logits are a @ b.T / temperature; `logit_scale` (= 1 / temperature, e.g. from `LearnableTemperature`)
    overrides `temperature` when given. `hard_negatives` (B, d): extra columns in both directions.

    Example:
        >>> a = torch.nn.functional.normalize(torch.randn(3, 5), dim=-1)
        >>> info_nce(a, a.flip(0)).shape
        torch.Size([])
    """
    scale = logit_scale if logit_scale is not None else 1.0 / temperature
    loss = masked_info_nce(a, b, None, scale, symmetric, distributed, hard_negatives)
    if loss is None:
        raise ValueError(f"info_nce needs at least 2 rows, got {a.shape[0]}")
    return loss


class LearnableTemperature(nn.Module):
    """CLIP-style learnable temperature: a parameter log(1 / t); forward returns the logit scale 1 / t.

    The log scale is clamped to [log(1 / max_temperature), log(1 / min_temperature)] in forward (no gradient
    beyond the bounds); `clamp_()` clamps the parameter itself, to call after an optimiser step as CLIP does.
    The default lower bound 0.001 leaves room around the paper's 0.01 (CLIP's 0.01 bound would start the
    parameter on its bound).

    Example:
        >>> round(LearnableTemperature(0.01)().item(), 3)
        100.0
    """

    def __init__(
        self, init_temperature: float = 0.01, min_temperature: float = 1e-3, max_temperature: float = 1.0
    ) -> None:
        super().__init__()
        if not 0 < min_temperature <= init_temperature <= max_temperature:
            raise ValueError(
                f"need 0 < min <= init <= max temperature, got {min_temperature}, "
                f"{init_temperature}, {max_temperature}"
            )
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        self.lo = math.log(1.0 / max_temperature)
        self.hi = math.log(1.0 / min_temperature)

    def forward(self) -> Tensor:
        return self.log_scale.clamp(self.lo, self.hi).exp()

    @property
    def temperature(self) -> float:
        return float(1.0 / self.forward().detach())

    @torch.no_grad()
    def clamp_(self) -> None:
        self.log_scale.clamp_(self.lo, self.hi)


def _scale_kw(
    temperature: float | Tensor = 0.01,
    logit_scale: Tensor | None = None,
    symmetric: bool = True,
    distributed: bool = False,
) -> dict[str, Any]:
    """`masked_info_nce`'s keywords from the `info_nce`-style ones the terms take."""
    scale = logit_scale if logit_scale is not None else 1.0 / temperature
    return dict(scale=scale, symmetric=symmetric, distributed=distributed)


def pairwise_loss(
    emb: Mapping[Any, Tensor],
    pairs: Sequence[tuple[Any, Any]] | None = None,
    masks: Mapping[str, Tensor] | None = None,
    **kw: Any,
) -> Tensor | None:
    """L_A: mean of InfoNCE over the single-modal pairs, each over the rows having both (`masks`; None:
    every row). `pairs` defaults to `DEFAULT_PAIRS` filtered to the modalities present (two needed);
    explicit pairs must all be present. `kw`: temperature, logit_scale, symmetric, distributed. None when
    no pair has 2 rows."""
    e = norm_keys(emb)
    if pairs is None:
        todo = [p for p in DEFAULT_PAIRS if p[0] in e and p[1] in e]
    else:
        todo = [(key(x), key(y)) for x, y in pairs]
        missing = sorted({m for p in todo for m in p} - set(e))
        if missing:
            raise KeyError(f"pairwise_loss: embeddings missing for {missing}; have {sorted(e)}")
    if not todo:
        raise ValueError(f"pairwise_loss needs two single modalities, got {sorted(e)}")
    nce = _scale_kw(**kw)
    done = [
        v for x, y in todo if (v := masked_info_nce(e[x], e[y], rows_having(masks, x, y), **nce)) is not None
    ]
    return torch.stack(done).mean() if done else None


def fusion_teacher_loss(
    fused: Tensor,
    emb: Mapping[Any, Tensor],
    step: int,
    masks: Mapping[str, Tensor] | None = None,
    anchors: Mapping[str, Tensor] | None = None,
    detach: bool = True,
    pair: tuple[str, str] | None = None,
    **kw: Any,
) -> Tensor | None:
    """L_D: anchor = fused.detach(); mean of InfoNCE(anchor, emb[x]) and InfoNCE(anchor, emb[y]) over the
    rows having x and y, (x, y) = `pair`, by default `step_pair(step, emb, masks)` (the rotation over the
    pairs held; OmniLoss passes the pair it already chose).
    `anchors` (per modality) replace the fused anchor where given (the objective's complement anchors).
    No gradient reaches `fused` unless `detach` is False (the objective's `distill_grad`; `anchors` are
    then used as given)."""
    e = norm_keys(emb)
    x, y = pair or step_pair(step, e, masks, bool(kw.get("distributed", False)))
    missing = [m for m in (x, y) if m not in e]
    if missing:
        raise KeyError(f"fusion_teacher_loss at step {step} needs {(x, y)}; missing {missing}")
    anchor = fused.detach() if detach else fused
    both, nce = rows_having(masks, x, y), _scale_kw(**kw)
    lx, ly = (masked_info_nce((anchors or {}).get(m, anchor), e[m], both, **nce) for m in (x, y))
    return None if lx is None or ly is None else 0.5 * (lx + ly)


def tuple_infonce_loss(
    fused: Tensor,
    fused_aug: Tensor,
    fused_hardneg: Tensor | Mapping[Any, Tensor],
    step: int | None = None,
    rows: Tensor | None = None,
    hard_mask: Tensor | None = None,
    **kw: Any,
) -> Tensor | None:
    """L_T: InfoNCE(fused, fused_aug) over `rows` (None: every row) with the hard negatives as extra
    columns (logits (B, 2B)), those where `hard_mask` holds.

    `fused` keeps its gradient. `fused_hardneg` is the fused embedding of `make_hard_negative(batch,
    hard_negative_kind(step), g)`; or a dict of such embeddings keyed by kind, from which
    `hard_negative_kind(step)` is picked (then `step` is required). `kw`: temperature, logit_scale,
    symmetric, distributed.
    """
    if isinstance(fused_hardneg, Mapping):
        if step is None:
            raise ValueError("tuple_infonce_loss: step is needed to pick from a dict of hard negatives")
        fused_hardneg = norm_keys(fused_hardneg)[hard_negative_kind(step)]
    return masked_info_nce(fused, fused_aug, rows, hard=fused_hardneg, hard_mask=hard_mask, **_scale_kw(**kw))


class OmniLoss(nn.Module):
    """w_A * L_A + w_D * L_D + w_T * L_T over batches of (possibly partial) tuples; temperature fixed or
    learnable. What every trainer (heads, clip-clap LoRA, OmniRetriever LoRA) optimises.

    forward(outputs, step, masks=None, hardneg_mask=None, views=None); `outputs` holds (B, d)
    L2-normalised tensors:
      - "text", "video", "audio": single-modal embeddings of the clip;
      - "fused": the (T, V, A) embedding of the clip (L_D's teacher, L_T's anchor);
      - "fused_aug": the fused embedding of the augmented view of the same tuple (L_T);
      - "fused_hardneg": the fused embedding of `make_hard_negative(batch, hard_negative_kind(step), g)`,
        or a dict of them keyed by kind (L_T).
    `masks` (modality -> (B,) bool; None: every row has every modality present in `outputs`): L_A
    averages the pairs (`DEFAULT_PAIRS`, or the step's L_D pair with `objective.align_pairs="rotate"`)
    over the rows having both; L_D uses the rows having the step's pair (`step_pair`: the rotation runs
    over the pairs the batch holds, so (text, audio) data gets L_A and L_D every step, and tri-modal
    batches keep `FUSION_TEACHER_ROTATION[step % 3]`); L_T every row, with the hard
    negatives where `hardneg_mask` holds. A term with fewer than 2 rows is left out this step; a term
    whose weight is 0 is skipped and its inputs are not needed. `views` holds what
    `views.view_outputs` adds for the objective's pair views ("pairs": L_T is the mean over the full view
    and each pair view) and complement anchors ("complement": the anchor of complete tuples for single
    m, detached). Returns (total, parts): detached "loss_align", "loss_distill", "loss_tuple" (those
    computed) and "temperature".

    Example:
        >>> n = lambda: torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
        >>> out = {k: n() for k in ("text", "video", "audio", "fused", "fused_aug", "fused_hardneg")}
        >>> total, parts = OmniLoss()(out, step=0)
        >>> sorted(parts)
        ['loss_align', 'loss_distill', 'loss_tuple', 'temperature']
    """

    def __init__(
        self,
        w_align: float = 1.0,
        w_distill: float = 1.0,
        w_tuple: float = 1.0,
        temperature: float = 0.01,
        learnable_temperature: bool = False,
        symmetric: bool = True,
        distributed: bool = False,
        objective: Any = None,
    ) -> None:
        from omnisearch.train.views import ObjectiveConfig

        super().__init__()
        self.w_align, self.w_distill, self.w_tuple = w_align, w_distill, w_tuple
        self.temperature = temperature
        self.logit_scale = LearnableTemperature(temperature) if learnable_temperature else None
        self.symmetric = symmetric
        self.distributed = distributed
        self.objective = objective or ObjectiveConfig()

    def clamp_temperature_(self) -> None:
        """Keep a learnable temperature inside its bounds (call after each optimizer step)."""
        if self.logit_scale is not None:
            self.logit_scale.clamp_()

    def forward(
        self,
        outputs: Mapping[Any, Any],
        step: int,
        masks: Mapping[str, Tensor] | None = None,
        hardneg_mask: Tensor | None = None,
        views: Mapping[str, Any] | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        if not (self.w_align or self.w_distill or self.w_tuple):
            raise ValueError("OmniLoss: all weights are 0")
        o, views = norm_keys(outputs), views or {}
        scale = self.logit_scale() if self.logit_scale is not None else 1.0 / self.temperature
        learned = scale if self.logit_scale is not None else None
        kw = dict(temperature=self.temperature, logit_scale=learned, symmetric=self.symmetric)
        kw["distributed"] = self.distributed
        singles = {m: o[m] for m in SINGLE_MODALITIES if m in o}
        parts: dict[str, Tensor] = {}
        terms: list[Tensor] = []
        pair = step_pair(step, singles, masks, self.distributed)
        if self.w_align:
            pairs = None if self.objective.align_pairs == "all" else (pair,)
            la = pairwise_loss(singles, pairs, masks, **kw)
            if la is not None:
                parts["loss_align"] = la
                terms.append(self.w_align * la)
        if self.w_distill:
            comp = views.get("complement")
            anchors = None
            grad = self.objective.distill_grad
            if comp:
                full = rows_having(masks, *SINGLE_MODALITIES).unsqueeze(-1)
                tup = o["fused"] if grad else o["fused"].detach()
                anchors = {m: torch.where(full, comp[m], tup) for m in pair}
            ld = fusion_teacher_loss(o["fused"], singles, step, masks, anchors, not grad, pair, **kw)
            if ld is not None:
                parts["loss_distill"] = ld
                terms.append(self.w_distill * ld)
        if self.w_tuple:
            per_view = [
                tuple_infonce_loss(
                    o["fused"], o["fused_aug"], o["fused_hardneg"], step, None, hardneg_mask, **kw
                )
            ]
            for v in views.get("pairs", {}).values():
                per_view.append(
                    tuple_infonce_loss(
                        v["fused"], v["fused_aug"], v["fused_hardneg"], step, v["rows"], v["hard_rows"], **kw
                    )
                )
            done = [v for v in per_view if v is not None]
            if done:
                parts["loss_tuple"] = torch.stack(done).mean()
                terms.append(self.w_tuple * parts["loss_tuple"])
        total = torch.stack(terms).sum() if terms else o["fused"].sum() * 0.0
        out = {k: v.detach() for k, v in parts.items()}
        out["temperature"] = torch.as_tensor(
            1.0 / float(scale.detach() if isinstance(scale, Tensor) else scale)
        )
        return total, out
