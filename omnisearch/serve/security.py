"""Access rules of the server: the bearer token, and which files a clip id may reach.

Media is addressed only by clip id. A clip's file is served only if the id is well formed, the index
knows the clip, and the file's real path (symlinks resolved) is a regular file under the real path of
one of the index's roots. Anything else is a 404, so a probe learns nothing about the disk.

Example:
    >>> valid_clip_id("abababababababab:0.000-10.000")
    True
    >>> valid_clip_id("../../etc/passwd")
    False
    >>> under_roots("/media/v/a.mp4", ["/media/v"])
    True
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Callable, Sequence

from fastapi import HTTPException, Request

from omnisearch.paths import is_under

CLIP_ID = re.compile(r"[0-9a-f]{16}:\d{1,9}\.\d{3}-\d{1,9}\.\d{3}")


def valid_clip_id(clip_id: str) -> bool:
    """The shape `clip_id()` writes: 16 hex digits, then START-END in seconds with 3 decimals."""
    return CLIP_ID.fullmatch(clip_id) is not None


def under_roots(path: str, roots: Sequence[str]) -> bool:
    """True when `path`, symlinks resolved, is a regular file inside one of `roots` (also resolved)."""
    real = os.path.realpath(path)
    if not os.path.isfile(real):
        return False
    return is_under(real, [os.path.realpath(r) for r in roots])


def not_found(what: str = "no such clip") -> HTTPException:
    return HTTPException(status_code=404, detail=what)


def token_guard(token: str | None) -> Callable[[Request], None]:
    """A FastAPI dependency: with a token set, requests must send `Authorization: Bearer <token>`
    (compared in constant time); without one (loopback only) it lets everything through."""
    expected = token.encode() if token else None

    def check(request: Request) -> None:
        if expected is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise HTTPException(
                status_code=401,
                detail="missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check
