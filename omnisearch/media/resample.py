"""Band-limited resampling in numpy: torchaudio's `sinc_interp_hann` resampler (the kernel its
`transforms.Resample` caches, applied as one strided product), equal to it within float32 rounding, so
the sound tower resamples without importing torch.

Example:
    >>> y = resample(np.zeros(16000, np.float32), 16000, 44100)
    >>> y.shape, y.dtype
    ((44100,), dtype('float32'))
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=8)
def sinc_kernel(orig: int, new: int, lowpass_filter_width: int = 6, rolloff: float = 0.99):
    """(kernel (new', taps) float32, width) for rates reduced by their gcd (orig', new'), computed as
    torchaudio computes it with its default dtype (a float32 time grid, float64 arithmetic)."""
    g = math.gcd(orig, new)
    orig, new = orig // g, new // g
    base = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base)
    idx = np.arange(-width, width + orig, dtype=np.float64)[None, :] / orig
    t = (np.arange(0, -new, -1, dtype=np.float32) / np.float32(new))[:, None].astype(np.float64) + idx
    t = np.clip(t * base, -lowpass_filter_width, lowpass_filter_width)
    window = np.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    t = t * math.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        kernel = np.where(t == 0, 1.0, np.sin(t) / t)
    return (kernel * window * (base / orig)).astype(np.float32), width


def resample(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    """A mono float32 signal from `orig` Hz to `new` Hz (output length ceil(len * new / orig))."""
    x = np.asarray(x, np.float32).reshape(-1)
    if orig == new:
        return x.copy()
    kernel, width = sinc_kernel(orig, new)
    g = math.gcd(orig, new)
    step, phases = orig // g, new // g
    padded = np.pad(x, (width, width + step))
    frames = np.lib.stride_tricks.sliding_window_view(padded, kernel.shape[1])[::step]
    out = (frames @ kernel.T).reshape(-1)
    return np.ascontiguousarray(out[: math.ceil(phases * len(x) / step)], np.float32)
