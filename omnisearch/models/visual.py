"""A cheap visual descriptor of frames (pure numpy) for omni-lite.

No offline package ships a visual concept model, so omni-lite describes frames by what can be
computed: colour distribution, coarse layout and edge orientations (128-d, for clip-to-clip
similarity), and the names of the dominant colours (turned into words, so "a red car" can at least
match red clips).

Example:
    >>> frames = np.zeros((2, 32, 32, 3), np.uint8); frames[..., 0] = 255
    >>> describe(frames).shape
    (128,)
    >>> colour_names(frames)
    ['red']
"""

from __future__ import annotations

import numpy as np

VISUAL_DIM = 128
_HUE_NAMES = ["red", "orange", "yellow", "green", "cyan", "blue", "purple", "magenta"]
_HUE_EDGES = [0, 15, 45, 70, 165, 200, 255, 285, 330, 360]  # degrees; the last bin wraps to red


def rgb_to_hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 (..., 3) -> hue in degrees [0, 360), saturation and value in [0, 1]."""
    x = rgb.astype(np.float32) / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    mx, mn = x.max(-1), x.min(-1)
    d = mx - mn
    safe = np.where(d > 0, d, 1.0)
    h = np.where(mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h = np.where(d > 0, h * 60.0, 0.0)
    s = np.where(mx > 0, d / np.where(mx > 0, mx, 1.0), 0.0)
    return h, s, mx


def _hue_index(h: np.ndarray) -> np.ndarray:
    idx = np.digitize(h, _HUE_EDGES[1:-1])  # 0..8
    return np.where(idx == 8, 0, idx)  # wrap-around red


def _small(frames: np.ndarray, size: int = 64) -> np.ndarray:
    """Nearest-neighbour downscale so the descriptor costs the same for every resolution."""
    n, h, w, _ = frames.shape
    ys = (np.arange(size) * h / size).astype(int)
    xs = (np.arange(size) * w / size).astype(int)
    return frames[:, ys][:, :, xs]


def describe(frames: np.ndarray) -> np.ndarray:
    """128-d L2-normalised descriptor of (N, H, W, 3) uint8 frames: 72 HSV histogram bins
    (8 hue x 3 saturation x 3 value), 48 layout values (4x4 grid of mean RGB), 8 edge orientations."""
    if frames is None or len(frames) == 0:
        return np.zeros(VISUAL_DIM, np.float32)
    f = _small(frames)
    h, s, v = rgb_to_hsv(f)
    hb = np.minimum((h / 45.0).astype(int), 7)
    sb = np.minimum((s * 3).astype(int), 2)
    vb = np.minimum((v * 3).astype(int), 2)
    hist = np.bincount((hb * 9 + sb * 3 + vb).ravel(), minlength=72).astype(np.float32)
    hist = np.sqrt(hist / hist.sum())
    grid = f.reshape(len(f), 4, 16, 4, 16, 3).mean(axis=(0, 2, 4)).ravel() / 255.0
    grey = f.astype(np.float32).mean(-1)
    gy, gx = np.gradient(grey, axis=(1, 2))
    mag = np.hypot(gx, gy)
    ang = (np.arctan2(gy, gx) % np.pi) / np.pi * 8
    edges = np.bincount(np.minimum(ang.astype(int), 7).ravel(), weights=mag.ravel(), minlength=8)
    edges = np.sqrt(edges / max(edges.sum(), 1e-9))
    vec = np.concatenate([hist, (grid - grid.mean()) * 2.0, edges * 0.5]).astype(np.float32)
    return vec / max(float(np.linalg.norm(vec)), 1e-12)


def colour_names(frames: np.ndarray, min_share: float = 0.12) -> list[str]:
    """Names of colours covering at least `min_share` of the pixels, most common first."""
    if frames is None or len(frames) == 0:
        return []
    h, s, v = rgb_to_hsv(_small(frames))
    chromatic = (s > 0.35) & (v > 0.25)
    counts: dict[str, float] = {}
    hue_counts = np.bincount(_hue_index(h[chromatic]).ravel(), minlength=8)
    for i, c in enumerate(hue_counts):
        counts[_HUE_NAMES[i]] = float(c)
    grey = ~chromatic
    counts["black"] = float(np.sum(grey & (v < 0.25)))
    counts["white"] = float(np.sum(grey & (v > 0.8) & (s < 0.2)))
    counts["gray"] = float(np.sum(grey & (v >= 0.25) & (v <= 0.8)))
    total = float(h.size)
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    return [name for name, c in ranked if c / total >= min_share]
