"""Hard negatives for L_T: a batch with one modality deranged across its rows (no row keeps its own).

Example:
    >>> import torch
    >>> hn = make_hard_negative({"text": ["a", "b", "c"], "audio": [1, 2, 3]}, "text", torch.Generator())
    >>> [t != o for t, o in zip(hn["text"], ["a", "b", "c"])], hn["audio"]
    ([True, True, True], [1, 2, 3])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor


def _key(k: Any) -> str:
    """'text' for 'text' or Modality.TEXT."""
    return str(getattr(k, "value", k))


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
