"""All-gather with gradient for global negatives under DDP (identity on one process).

Example:
    >>> import torch
    >>> x = torch.ones(2, 3)
    >>> gather_with_grad(x) is x   # not distributed
    True
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_with_grad(x: Tensor) -> Tensor:
    """All-gather `x` (B, ...) along dim 0 across ranks; only the local slice keeps its gradient.

    Identity (the same tensor object) when torch.distributed is not initialised or has one rank.
    Every rank must pass the same B. Gathered row r*B + i is row i of rank r.
    """
    rank, world = rank_world()
    if world == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(parts, x.detach().contiguous())
    parts[rank] = x
    return torch.cat(parts, dim=0)
