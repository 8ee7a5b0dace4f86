"""Path containment, the one rule every layer uses (ingest's removals, doctor, the index spec's roots,
the server's file access). No imports beyond os: types-level, so stores may use it too.

Example:
    >>> is_under("/lib/a.mp4", ["/lib"]), is_under("/library/a.mp4", ["/lib"]), is_under("/lib", ["/lib/"])
    (True, False, True)
"""

from __future__ import annotations

import os
from collections.abc import Iterable


def is_under(path: str, roots: Iterable[str]) -> bool:
    """True when `path` is one of `roots` or lies inside one (by path components, no resolving)."""
    return any(path == r.rstrip(os.sep) or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)
