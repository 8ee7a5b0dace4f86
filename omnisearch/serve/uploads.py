"""Uploaded query files: a body size limit enforced while the body streams in, and each file saved
under a temporary folder with an extension the query decoder accepts, after checking it can be read.

- A request whose Content-Length is over the limit gets 413 before any of its body is read; one that
  streams more than the limit (chunked, or a lying Content-Length) is cut off at the limit with 413.
- A file whose type is not one the query field takes (by its name's extension, else its content type),
  or that cannot be probed, gets 415.

Example:
    app.add_middleware(UploadLimit, max_bytes=100 * 1024 * 1024)
    path = await save_upload(form["audio"], "audio", tmpdir)  # -> "/tmp/q-xyz/audio.wav"
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

from fastapi import HTTPException
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnisearch.config import AUDIO_EXTS, IMAGE_EXTS, VIDEO_EXTS

FILE_FIELDS = ("audio", "video", "image")
EXTS = {"audio": AUDIO_EXTS + VIDEO_EXTS, "video": VIDEO_EXTS, "image": IMAGE_EXTS}
CONTENT_TYPES = {
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/flac": ".flac",
    "audio/ogg": ".ogg",
    "audio/opus": ".opus",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/x-m4a": ".m4a",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "video/quicktime": ".mov",
    "video/x-msvideo": ".avi",
    "image/png": ".png",
    "image/jpeg": ".jpg",
}


class UploadTooLarge(Exception):
    """The request body went over the limit while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"upload over the limit of {limit / 1024 / 1024:g} MB (--max-upload-mb)")


class UploadLimit:
    """ASGI middleware: at most `max_bytes` of request body. Over it: 413, either at once (from
    Content-Length) or by raising UploadTooLarge from `receive` when the streamed bytes pass it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.strip().isdigit() and int(declared) > self.max_bytes:
            await _send_413(send, str(UploadTooLarge(self.max_bytes)))
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise UploadTooLarge(self.max_bytes)
            return msg

        await self.app(scope, counted, send)


async def _send_413(send: Send, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": 413, "headers": headers + [(b"connection", b"close")]}
    )
    await send({"type": "http.response.body", "body": body})


def upload_suffix(field: str, up: UploadFile) -> str:
    """The extension to save an upload under: its name's, when the field accepts it, else the one its
    content type maps to. Raises 415 for anything else."""
    ext = os.path.splitext(up.filename or "")[1].lower()
    if ext in EXTS[field]:
        return ext
    ctype = (up.content_type or "").split(";")[0].strip().lower()
    mapped = CONTENT_TYPES.get(ctype)
    if mapped in EXTS[field]:
        return mapped
    raise HTTPException(
        status_code=415,
        detail=f"{field}: unsupported type (name {up.filename!r}, content type {ctype or 'none'}); "
        f"send one of {' '.join(EXTS[field])}",
    )


async def save_upload(up: UploadFile, field: str, folder: str) -> str:
    """Copy an upload to `folder/<field><ext>` and check that it can be read as `field` (415 if not)."""
    path = os.path.join(folder, field + upload_suffix(field, up))
    await up.seek(0)
    with open(path, "wb") as out:
        shutil.copyfileobj(up.file, out, 1 << 20)
    check_readable(path, field)
    return path


def check_readable(path: str, field: str) -> None:
    """Probe a saved upload: 415 when it is empty or not a readable file of its kind."""
    from omnisearch.media.errors import MediaError
    from omnisearch.media.probe import probe
    from omnisearch.types import MediaType

    kind = MediaType.IMAGE if field == "image" else MediaType.VIDEO
    try:
        info = probe(path, kind)
    except MediaError as e:
        raise HTTPException(status_code=415, detail=f"{field}: cannot read the file ({e.reason})") from e
    if field == "audio" and not info.has_audio:
        raise HTTPException(status_code=415, detail="audio: the file has no audio stream")
    if field == "video" and not (info.has_video or info.has_audio):
        raise HTTPException(status_code=415, detail="video: the file has no video or audio stream")


def form_fields(form: Any) -> dict[str, str]:
    """The non-file fields of a form, each once (422 when a field is repeated or a file where text is due)."""
    out: dict[str, str] = {}
    for key, value in form.multi_items():
        if key in FILE_FIELDS:
            continue
        if isinstance(value, UploadFile):
            raise HTTPException(status_code=422, detail=f"{key}: expected a text field, got a file")
        if key in out:
            raise HTTPException(status_code=422, detail=f"{key}: given more than once")
        out[key] = value
    return out
