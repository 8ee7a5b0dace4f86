"""Fusion math (pure numpy): how a tuple of modality vectors becomes one fused vector.

omni-lite v1 fuses with a weighted mean of the modality vectors present, re-normalised; the trained
fusion module (omnisearch.train) replaces it when trained heads are loaded.

Example:
    >>> t = np.array([1.0, 0.0]); a = np.array([0.0, 1.0])
    >>> weighted_mean_fusion({"text": t, "audio": a}).astype(float).round(3).tolist()
    [0.707, 0.707]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def weighted_mean_fusion(
    vectors: Mapping[str, np.ndarray], weights: Mapping[str, float] | None = None
) -> np.ndarray:
    """L2-normalised weighted mean of the vectors given (missing modalities are simply absent)."""
    if not vectors:
        raise ValueError("fusion needs at least one modality vector")
    acc = None
    for key, vec in vectors.items():
        w = 1.0 if weights is None else float(weights.get(str(key), 1.0))
        term = w * np.asarray(vec, dtype=np.float32)
        acc = term if acc is None else acc + term
    norm = float(np.linalg.norm(acc))
    return (acc / norm).astype(np.float32) if norm > 0 else acc.astype(np.float32)


def blocks_vector(parts: list[tuple[np.ndarray | None, float, int]]) -> np.ndarray:
    """Concatenate blocks, each unit-normalised then scaled by sqrt(share); absent or zero blocks
    stay zero and the whole vector is re-normalised (so the shares of present blocks are kept).

    >>> v = blocks_vector([(np.array([3.0, 4.0]), 0.6, 2), (None, 0.4, 1), (np.array([1.0]), 0.4, 1)])
    >>> v.astype(float).round(3).tolist()
    [0.465, 0.62, 0.0, 0.632]
    """
    out = []
    for vec, share, dim in parts:
        vec = np.zeros(dim, np.float32) if vec is None else np.asarray(vec, dtype=np.float32)
        if vec.shape != (dim,):
            raise ValueError(f"block of shape {vec.shape} where ({dim},) was expected")
        n = float(np.linalg.norm(vec))
        out.append(vec / n * np.float32(np.sqrt(share)) if n > 0 else np.zeros_like(vec))
    v = np.concatenate(out).astype(np.float32)
    n = float(np.linalg.norm(v))
    return v / np.float32(n) if n > 0 else v
