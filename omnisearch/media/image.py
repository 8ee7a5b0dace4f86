"""Still pictures as frames, and whether two frames show the same picture.

`frames_differ` on `thumbnail`s is the one rule for "this frame did not change": the enricher reads
the on-screen text of a changed frame only, and the OCR recogniser reads a changed text crop only.

Example:
    >>> from PIL import Image
    >>> clear = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    >>> flatten_alpha(clear).getpixel((0, 0))
    (255, 255, 255)
    >>> a = np.zeros((36, 64, 3), np.uint8); b = a.copy(); b[:4, :8] = 255
    >>> frames_differ(thumbnail(a), thumbnail(a)), frames_differ(thumbnail(a), thumbnail(b))
    (False, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

THUMB_WIDTH = 64
CHANGED_LEVEL = 16  # grey levels (0-255) a thumbnail pixel must move by to count as changed
CHANGED_PIXELS = 3  # changed thumbnail pixels that make a frame differ


def thumbnail(frame: np.ndarray, width: int = THUMB_WIDTH) -> np.ndarray:
    """Grey thumbnail (float32) of an RGB frame by block averaging, about `width` pixels wide (pure)."""
    f = np.asarray(frame)
    h, w = f.shape[:2]
    step = max(1, w // width)
    hh, ww = (h // step) * step, (w // step) * step
    if hh == 0 or ww == 0:
        return f.astype(np.float32).mean(-1)
    # integer block sums, then one division: the mean of each block's grey levels
    blocks = f[:hh, :ww].reshape(hh // step, step, ww // step, step, f.shape[2])
    total = blocks.sum((1, 3, 4), dtype=np.uint32 if f.dtype == np.uint8 else np.float64)
    return (total / (step * step * f.shape[2])).astype(np.float32)


def frames_differ(a: np.ndarray, b: np.ndarray) -> bool:
    """True when two thumbnails differ by more than compression noise (pure): at least CHANGED_PIXELS
    pixels moved by CHANGED_LEVEL grey levels or more."""
    if a.shape != b.shape:
        return True
    return int((np.abs(a - b) >= CHANGED_LEVEL).sum()) >= CHANGED_PIXELS


def flatten_alpha(img: Any) -> Any:
    """RGB of a PIL picture, its transparent parts shown on white (as viewers show them) rather than black."""
    from PIL import Image

    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return img.convert("RGB")
