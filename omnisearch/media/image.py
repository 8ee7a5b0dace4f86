"""Still pictures as frames.

Example:
    >>> from PIL import Image
    >>> clear = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    >>> flatten_alpha(clear).getpixel((0, 0))
    (255, 255, 255)
"""

from __future__ import annotations

from typing import Any


def flatten_alpha(img: Any) -> Any:
    """RGB of a PIL picture, its transparent parts shown on white (as viewers show them) rather than black."""
    from PIL import Image

    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return img.convert("RGB")
