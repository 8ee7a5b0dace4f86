"""What is seen, as vectors (pure numpy): ConSE over class probabilities, and the look of frames.

- `conse`: the convex combination of semantic embeddings (Norouzi et al. 2014): a frame's top-k class
  probabilities, sharpened or softened by a temperature and renormalised, weight the text-space
  vectors of the class names. A clip pools its frames' probabilities first (their mean), so the
  classes seen most across the clip lead.
- `seen_vector`: that, mixed with pseudo-classes of other detectors (people) by their weights.
- `look_vector`: the classifier's penultimate features of each frame, square-rooted (power
  normalisation of the non-negative ReLU6 activations), averaged over the frames, and reduced by a fixed
  +-1 random projection (`sign_projection`, made from integer hashing so that every machine and numpy
  version builds the same matrix), for clip-to-clip likeness.

Example:
    >>> probs = np.array([[0.7, 0.2, 0.1]]); names = np.eye(3)
    >>> conse(probs, names, top_k=2, temperature=1.0).astype(float).round(3).tolist()
    [[0.962, 0.275, 0.0]]
    >>> (sign_projection(3, 2) * np.sqrt(2)).round().astype(int).tolist()
    [[-1, 1], [-1, -1], [1, 1]]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

TOP_K = 20
TEMPERATURE = 3.0
PEOPLE_MIX = 0.5  # share of the seen vector given to people when every frame shows one
LOOK_DIM = 256
LOOK_SEED = 17


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(n, 1e-12)).astype(np.float32)


def conse_weights(probs: np.ndarray, top_k: int, temperature: float) -> np.ndarray:
    """(N, C) probabilities -> (N, C) weights: the top-k of each row, p^(1/T) renormalised, others 0."""
    probs = np.asarray(probs, np.float64)
    idx = np.argsort(-probs, axis=1, kind="stable")[:, :top_k]
    p = np.take_along_axis(probs, idx, 1) ** (1.0 / temperature)
    p = p / np.maximum(p.sum(1, keepdims=True), 1e-300)
    out = np.zeros_like(probs)
    np.put_along_axis(out, idx, p, 1)
    return out


def conse(probs: np.ndarray, class_vecs: np.ndarray, top_k: int = TOP_K, temperature: float = TEMPERATURE):
    """(N, C) probabilities, (C, D) class vectors -> (N, D) unit ConSE vectors."""
    return _unit(conse_weights(probs, top_k, temperature) @ np.asarray(class_vecs, np.float64))


def seen_vector(
    frame_probs: np.ndarray,
    class_vecs: np.ndarray,
    extra: Mapping[str, float] | None = None,
    extra_vecs: Mapping[str, np.ndarray] | None = None,
    top_k: int = TOP_K,
    temperature: float = TEMPERATURE,
    extra_mix: float = PEOPLE_MIX,
) -> np.ndarray:
    """A clip's "what is seen" (D,): ConSE of its mean frame probabilities, mixed with pseudo-classes.

    `extra` maps pseudo-class names to weights in [0, 1] (e.g. people_concepts); they take
    extra_mix * max(weight) of the vector, shared in proportion to their weights.
    """
    pooled = np.asarray(frame_probs, np.float64).mean(0, keepdims=True)
    v = conse(pooled, class_vecs, top_k, temperature)[0].astype(np.float64)
    if extra and extra_vecs:
        w = {k: float(x) for k, x in extra.items() if x > 0}
        if w:
            mix = extra_mix * max(w.values())
            people = sum(x * np.asarray(extra_vecs[k], np.float64) for k, x in w.items()) / sum(w.values())
            v = (1.0 - mix) * v + mix * _unit(people)
    return _unit(v)


def _hash_bits(n: int, seed: int) -> np.ndarray:
    """n pseudo-random bits from a splitmix64-style integer hash of 0..n-1 (same everywhere)."""
    with np.errstate(over="ignore"):
        x = np.arange(n, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(63)).astype(np.int8)


def sign_projection(n_in: int, n_out: int, seed: int = LOOK_SEED) -> np.ndarray:
    """(n_in, n_out) matrix of +-1/sqrt(n_out): a Johnson-Lindenstrauss projection."""
    bits = _hash_bits(n_in * n_out, seed).reshape(n_in, n_out)
    return ((2.0 * bits - 1.0) / np.sqrt(n_out)).astype(np.float32)


def look_rows(features: np.ndarray, projection: np.ndarray) -> np.ndarray:
    """(N, F) non-negative penultimate features -> (N, LOOK_DIM) unit rows: sqrt, unit, projected."""
    return _unit(_unit(np.sqrt(np.maximum(np.asarray(features, np.float32), 0.0))) @ projection)
