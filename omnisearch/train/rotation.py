"""Which pair (L_D, rotating L_A) and which hard-negative kind (L_T) the objective uses at a step.

- `step_pair(step, emb, masks)`: the L_D pair, also L_A's with `align_pairs="rotate"`. It rotates with
  the step over the pairs of `FUSION_TEACHER_ROTATION` ((T,A), (T,V), (A,V), the paper's order) that
  the batch holds (`held_pairs`: both modalities embedded and at least 2 rows having both, the rows a
  term needs to be computed). A tri-modal batch holds all three, so its pair is
  `FUSION_TEACHER_ROTATION[step % 3]`, as in the public code; (text, audio) data holds only (T,A) and
  gets it every step (rotating over all three would leave L_A and L_D out two steps in three).
- `hard_negative_kind(step)`: the modality L_T's hard negative corrupts, `HARD_NEGATIVE_ROTATION[step % 3]`.

Embedding and mask dicts are keyed by modality name ("text", "video", "audio"; `omnisearch.types.Modality`
members work too). Used by `losses` (the terms) and `views` (the complement anchors of the step's pair).

Example:
    >>> import torch
    >>> e = {m: torch.zeros(4, 2) for m in ("text", "video", "audio")}
    >>> [step_pair(s, e) for s in range(4)]
    [('text', 'audio'), ('text', 'video'), ('audio', 'video'), ('text', 'audio')]
    >>> [step_pair(s, {"text": e["text"], "audio": e["audio"]}) for s in range(2)]
    [('text', 'audio'), ('text', 'audio')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from omnisearch.train.gather import gather_with_grad

# L_D pairs in rotation order (paper order: (T,A), (T,V), (A,V)); `step_pair` rotates over those held.
FUSION_TEACHER_ROTATION: tuple[tuple[str, str], ...] = (
    ("text", "audio"),
    ("text", "video"),
    ("audio", "video"),
)
# L_T hard negative for step % 3: 0 = swap the text, 1 = shuffle the audio, 2 = shuffle the video.
HARD_NEGATIVE_ROTATION: tuple[str, str, str] = ("text", "audio", "video")


def key(k: Any) -> str:
    """'text' for 'text' or Modality.TEXT (a str Enum hashes by member name, so normalise first)."""
    return str(getattr(k, "value", k))


def norm_keys(emb: Mapping[Any, Tensor]) -> dict[str, Tensor]:
    """`emb` keyed by modality name."""
    return {key(k): v for k, v in emb.items()}


def rows_having(masks: Mapping[str, Tensor] | None, *mods: str) -> Tensor | None:
    """The rows having every one of `mods` (None: every row)."""
    if masks is None:
        return None
    out = masks[mods[0]]
    for m in mods[1:]:
        out = out & masks[m]
    return out


def fusion_teacher_pair(
    step: int, held: Sequence[tuple[str, str]] = FUSION_TEACHER_ROTATION
) -> tuple[str, str]:
    """`held[step % len(held)]`: `held` = the rotation's pairs a batch holds, in the rotation's order
    (`held_pairs`); the whole rotation when none is held (the term is then left out, or a missing
    modality raises, as for any pair).

    Example:
        >>> fusion_teacher_pair(4), fusion_teacher_pair(4, [("text", "audio")])
        (('text', 'video'), ('text', 'audio'))
    """
    pairs = tuple(held) or FUSION_TEACHER_ROTATION
    return pairs[step % len(pairs)]


def held_pairs(
    emb: Mapping[Any, Tensor], masks: Mapping[str, Tensor] | None = None, distributed: bool = False
) -> tuple[tuple[str, str], ...]:
    """The pairs of `FUSION_TEACHER_ROTATION`, in its order, whose term a batch can compute: both
    modalities in `emb` and, with `masks`, at least 2 rows having both (counted over every rank when
    `distributed`, as `losses.masked_info_nce` counts them); None masks: every row has every key."""
    names = {key(k) for k in emb}
    out = []
    for x, y in FUSION_TEACHER_ROTATION:
        if x not in names or y not in names:
            continue
        both = rows_having(masks, x, y)
        if both is not None:
            both = gather_with_grad(both.float()) if distributed else both.float()
            if int((both > 0.5).sum()) < 2:
                continue
        out.append((x, y))
    return tuple(out)


def step_pair(
    step: int, emb: Mapping[Any, Tensor], masks: Mapping[str, Tensor] | None = None, distributed: bool = False
) -> tuple[str, str]:
    """The step's L_D (and rotating L_A) pair for this batch: `fusion_teacher_pair(step, held_pairs(...))`.

    Example:
        >>> import torch
        >>> e = {m: torch.zeros(3, 2) for m in ("text", "video", "audio")}
        >>> m = {"text": torch.tensor([True] * 3), "audio": torch.tensor([True] * 3),
        ...      "video": torch.tensor([True, False, False])}
        >>> {step_pair(s, e, m) for s in range(3)}   # one row has video: only (T,A) is held
        {('text', 'audio')}
    """
    return fusion_teacher_pair(step, held_pairs(emb, masks, distributed))


def hard_negative_kind(step: int) -> str:
    """The modality corrupted for L_T's hard negative: "text", "audio", "video" for step % 3 = 0, 1, 2."""
    return HARD_NEGATIVE_ROTATION[step % len(HARD_NEGATIVE_ROTATION)]
