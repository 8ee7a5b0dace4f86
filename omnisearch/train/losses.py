"""The OmniRetriever objective: L = w_A * L_A + w_D * L_D + w_T * L_T (paper weights 1 / 1 / 1, t = 0.01).

- L_A (`pairwise_loss`): symmetric InfoNCE between single-modal embeddings of the same clip.
- L_D (`fusion_teacher_loss`): fusion-as-teacher; the fused embedding, detached, is the anchor for two
  single-modal embeddings; the pair rotates with the step through `FUSION_TEACHER_ROTATION`.
- L_T (`tuple_infonce_loss`): the fused anchor (with gradient) against the fused embedding of an augmented
  view of the same tuple, plus one hard negative per row: the fused embedding of the tuple with one
  modality deranged across the batch, the modality cycling with the step (`HARD_NEGATIVE_ROTATION`).

Every embedding is (B, d) and L2-normalised by the encoder; nothing here renormalises. Embedding dicts are
keyed by modality name ("text", "video", "audio"; `omnisearch.types.Modality` members work too).
Built like open_clip's ClipLoss: tiny steps (`contrastive_logits`) composed into `info_nce`, then terms.
This module imports torch at the top; only the trainer imports it, lazily.

Example:
    >>> import torch
    >>> a = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    >>> float(info_nce(a, a, temperature=0.01)) < 1e-3   # perfect alignment: loss close to 0
    True
    >>> FUSION_TEACHER_ROTATION[0], hard_negative_kind(4)
    (('text', 'audio'), 'audio')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

SINGLE_MODALITIES: tuple[str, str, str] = ("text", "video", "audio")
# L_D pair for step % 3 (paper order: (T,A), (T,V), (A,V)).
FUSION_TEACHER_ROTATION: tuple[tuple[str, str], ...] = (
    ("text", "audio"),
    ("text", "video"),
    ("audio", "video"),
)
# L_T hard negative for step % 3: 0 = swap the text, 1 = shuffle the audio, 2 = shuffle the video.
HARD_NEGATIVE_ROTATION: tuple[str, str, str] = ("text", "audio", "video")
# L_A pairs, used when `pairwise_loss` is given no explicit pairs (those whose modalities are present).
DEFAULT_PAIRS: tuple[tuple[str, str], ...] = (("text", "video"), ("text", "audio"), ("video", "audio"))


def _key(k: Any) -> str:
    """'text' for 'text' or Modality.TEXT (a str Enum hashes by member name, so normalise first)."""
    return str(getattr(k, "value", k))


def _norm_keys(emb: Mapping[Any, Tensor]) -> dict[str, Tensor]:
    return {_key(k): v for k, v in emb.items()}


def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_with_grad(x: Tensor) -> Tensor:
    """All-gather `x` (B, ...) along dim 0 across ranks; only the local slice keeps its gradient.

    Identity (the same tensor object) when torch.distributed is not initialised or has one rank.
    Every rank must pass the same B. Gathered row r*B + i is row i of rank r.
    """
    rank, world = _rank_world()
    if world == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(parts, x.detach().contiguous())
    parts[rank] = x
    return torch.cat(parts, dim=0)


def contrastive_logits(
    rows: Tensor,
    cols: Tensor,
    scale: float | Tensor,
    extra_cols: Tensor | None = None,
    distributed: bool = False,
) -> tuple[Tensor, Tensor]:
    """Logits `scale * rows @ [cols; extra_cols].T` and the target column of each row.

    With `distributed`, `cols` and `extra_cols` are gathered over ranks (global negatives) and the target
    of local row i is rank * B + i. Without: logits (B, B) or (B, 2B) with extra columns, targets arange(B).
    """
    if distributed:
        cols = gather_with_grad(cols)
        extra_cols = gather_with_grad(extra_cols) if extra_cols is not None else None
        rank, _ = _rank_world()
    else:
        rank = 0
    if extra_cols is not None:
        cols = torch.cat([cols, extra_cols], dim=0)
    logits = scale * (rows @ cols.T)
    labels = torch.arange(rows.shape[0], device=rows.device) + rank * rows.shape[0]
    return logits, labels


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
    """InfoNCE of paired rows: a[i] matches b[i]; other rows of the batch are negatives.

    Logits are a @ b.T / temperature; `logit_scale` (= 1 / temperature, e.g. from `LearnableTemperature`)
    overrides `temperature` when given. Symmetric: mean of CE(a -> b) and CE(b -> a).
    `hard_negatives` (B, d), if given, are extra columns in both directions: rows of `a` see
    [b; hard_negatives], rows of `b` see [a; hard_negatives] (hard negative of row i at column B + i).
    `distributed`: local rows against columns gathered from every rank (see `contrastive_logits`).

    Example:
        >>> a = torch.nn.functional.normalize(torch.randn(3, 5), dim=-1)
        >>> info_nce(a, a.flip(0)).shape
        torch.Size([])
    """
    scale = logit_scale if logit_scale is not None else 1.0 / temperature
    logits, labels = contrastive_logits(a, b, scale, hard_negatives, distributed)
    loss = F.cross_entropy(logits, labels)
    if not symmetric:
        return loss
    logits_b, labels_b = contrastive_logits(b, a, scale, hard_negatives, distributed)
    return 0.5 * (loss + F.cross_entropy(logits_b, labels_b))


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


def pairwise_loss(
    emb: Mapping[Any, Tensor], pairs: Sequence[tuple[Any, Any]] | None = None, **kw: Any
) -> Tensor:
    """L_A: mean of `info_nce` over the single-modal pairs present in `emb`.

    `pairs` defaults to `DEFAULT_PAIRS` filtered to the modalities present (at least two needed); explicit
    pairs must all be present. `kw` goes to `info_nce` (temperature, logit_scale, symmetric, distributed).
    """
    e = _norm_keys(emb)
    if pairs is None:
        todo = [p for p in DEFAULT_PAIRS if p[0] in e and p[1] in e]
    else:
        todo = [(_key(x), _key(y)) for x, y in pairs]
        missing = sorted({m for p in todo for m in p} - set(e))
        if missing:
            raise KeyError(f"pairwise_loss: embeddings missing for {missing}; have {sorted(e)}")
    if not todo:
        raise ValueError(f"pairwise_loss needs two single modalities, got {sorted(e)}")
    return torch.stack([info_nce(e[x], e[y], **kw) for x, y in todo]).mean()


def fusion_teacher_pair(step: int) -> tuple[str, str]:
    """The single-modal pair that L_D distils into at `step`: `FUSION_TEACHER_ROTATION[step % 3]`."""
    return FUSION_TEACHER_ROTATION[step % len(FUSION_TEACHER_ROTATION)]


def fusion_teacher_loss(fused: Tensor, emb: Mapping[Any, Tensor], step: int, **kw: Any) -> Tensor:
    """L_D: anchor = fused.detach(); mean of info_nce(anchor, emb[x]) and info_nce(anchor, emb[y]).

    (x, y) = `fusion_teacher_pair(step)`. No gradient reaches `fused`; `kw` goes to `info_nce`.
    """
    e = _norm_keys(emb)
    x, y = fusion_teacher_pair(step)
    missing = [m for m in (x, y) if m not in e]
    if missing:
        raise KeyError(f"fusion_teacher_loss at step {step} needs {(x, y)}; missing {missing}")
    anchor = fused.detach()
    return 0.5 * (info_nce(anchor, e[x], **kw) + info_nce(anchor, e[y], **kw))


def hard_negative_kind(step: int) -> str:
    """The modality corrupted for L_T's hard negative: "text", "audio", "video" for step % 3 = 0, 1, 2."""
    return HARD_NEGATIVE_ROTATION[step % len(HARD_NEGATIVE_ROTATION)]


def derangement(n: int, generator: torch.Generator | np.random.Generator | None = None) -> Tensor:
    """A uniformly random permutation of range(n) with no fixed point (rejection sampling), LongTensor."""
    if n < 2:
        raise ValueError(f"a derangement needs n >= 2, got {n}")
    ar = torch.arange(n)
    while True:
        if isinstance(generator, np.random.Generator):
            perm = torch.from_numpy(generator.permutation(n)).long()
        else:
            perm = torch.randperm(n, generator=generator)
        if not bool((perm == ar).any()):
            return perm


def _take(value: Any, perm: Tensor) -> Any:
    if isinstance(value, Tensor):
        return value[perm.to(value.device)]
    if isinstance(value, np.ndarray):
        return value[perm.numpy()]
    if isinstance(value, Mapping):
        return {k: _take(v, perm) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(value[i] for i in perm.tolist())
    raise TypeError(f"cannot permute a batch value of type {type(value).__name__}")


def make_hard_negative(
    batch: Mapping[Any, Any], kind: Any, generator: torch.Generator | np.random.Generator | None = None
) -> dict[Any, Any]:
    """A copy of `batch` whose `kind` entry is permuted across the batch by a derangement.

    Values may be tensors, arrays, lists/tuples (e.g. captions) or dicts of those (e.g. tokenised text:
    every field moves together), batched along dim 0. Other entries are the same objects; `batch` is not
    modified. Encode the result to get the fused hard negative of each row.

    Example:
        >>> hn = make_hard_negative({"text": ["a", "b", "c"], "audio": [1, 2, 3]}, "text", torch.Generator())
        >>> [t != o for t, o in zip(hn["text"], ["a", "b", "c"])], hn["audio"]
        ([True, True, True], [1, 2, 3])
    """
    keys = {_key(k): k for k in batch}
    if _key(kind) not in keys:
        raise KeyError(f"make_hard_negative: no {_key(kind)!r} in batch keys {sorted(keys)}")
    k = keys[_key(kind)]
    value = batch[k]
    first = value
    while isinstance(first, Mapping):
        first = next(iter(first.values()))
    out = dict(batch)
    out[k] = _take(value, derangement(len(first), generator))
    return out


def tuple_infonce_loss(
    fused: Tensor,
    fused_aug: Tensor,
    fused_hardneg: Tensor | Mapping[Any, Tensor],
    step: int | None = None,
    **kw: Any,
) -> Tensor:
    """L_T: info_nce(fused, fused_aug) with the hard negatives as extra columns (logits (B, 2B)).

    `fused` keeps its gradient. `fused_hardneg` is the fused embedding of `make_hard_negative(batch,
    hard_negative_kind(step), g)`; or a dict of such embeddings keyed by kind, from which
    `hard_negative_kind(step)` is picked (then `step` is required). `kw` goes to `info_nce`.
    """
    if isinstance(fused_hardneg, Mapping):
        if step is None:
            raise ValueError("tuple_infonce_loss: step is needed to pick from a dict of hard negatives")
        fused_hardneg = _norm_keys(fused_hardneg)[hard_negative_kind(step)]
    return info_nce(fused, fused_aug, hard_negatives=fused_hardneg, **kw)


class OmniLoss(nn.Module):
    """w_A * L_A + w_D * L_D + w_T * L_T, temperature fixed or learnable.

    forward(outputs, step) takes the encoder outputs as a dict of (B, d) L2-normalised tensors:
      - "text", "video", "audio": single-modal embeddings of the clip (L_A: at least two; L_D: the pair
        `fusion_teacher_pair(step)`),
      - "fused": the (T, V, A) embedding of the clip (L_D, L_T),
      - "fused_aug": the fused embedding of the augmented view of the same tuple (L_T),
      - "fused_hardneg": the fused embedding of `make_hard_negative(batch, hard_negative_kind(step), g)`,
        or a dict of them keyed by kind (L_T).
    A term whose weight is 0 is skipped and its inputs are not needed.
    Returns (total, parts): parts holds detached "loss_align", "loss_distill", "loss_tuple" (those computed)
    and "temperature".

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
    ) -> None:
        super().__init__()
        self.w_align, self.w_distill, self.w_tuple = w_align, w_distill, w_tuple
        self.temperature = temperature
        self.logit_scale = LearnableTemperature(temperature) if learnable_temperature else None
        self.symmetric = symmetric
        self.distributed = distributed

    def clamp_temperature_(self) -> None:
        """Keep a learnable temperature inside its bounds (call after each optimizer step)."""
        if self.logit_scale is not None:
            self.logit_scale.clamp_()

    def _kw(self) -> dict[str, Any]:
        scale = self.logit_scale() if self.logit_scale is not None else None
        return dict(
            temperature=self.temperature,
            logit_scale=scale,
            symmetric=self.symmetric,
            distributed=self.distributed,
        )

    def forward(self, outputs: Mapping[Any, Any], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        o = _norm_keys(outputs)
        kw = self._kw()
        singles = {m: o[m] for m in SINGLE_MODALITIES if m in o}
        parts: dict[str, Tensor] = {}
        terms: list[Tensor] = []
        if self.w_align:
            parts["loss_align"] = pairwise_loss(singles, **kw)
            terms.append(self.w_align * parts["loss_align"])
        if self.w_distill:
            parts["loss_distill"] = fusion_teacher_loss(o["fused"], singles, step, **kw)
            terms.append(self.w_distill * parts["loss_distill"])
        if self.w_tuple:
            parts["loss_tuple"] = tuple_infonce_loss(
                o["fused"], o["fused_aug"], o["fused_hardneg"], step, **kw
            )
            terms.append(self.w_tuple * parts["loss_tuple"])
        if not terms:
            raise ValueError("OmniLoss: all weights are 0")
        total = torch.stack(terms).sum()
        scale = kw["logit_scale"]
        t = 1.0 / scale.detach() if scale is not None else torch.tensor(self.temperature)
        out = {k: v.detach() for k, v in parts.items()}
        out["temperature"] = t
        return total, out
