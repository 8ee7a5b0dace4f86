"""A search query: any non-empty combination of text, an audio file, a video file (optionally a time
span of it) and an image, decoded into one `EncoderInput`.

The modality of each part is explicit (the option it came from), never guessed from an extension.

Example:
    >>> q = Query(text="a dog barking")
    >>> q.describe()
    "text='a dog barking'"
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from omnisearch.config import AUDIO_EXTS, IMAGE_EXTS, VIDEO_EXTS, DecodeConfig
from omnisearch.types import EncoderInput

MAX_QUERY_SECONDS = 60.0  # a longer query file is cut to its first minute (or its --span)


class QueryError(ValueError):
    """A query that cannot be run (empty, missing file, unsupported format)."""


@dataclass
class Query:
    text: str | None = None
    audio: str | None = None
    video: str | None = None
    image: str | None = None
    span: tuple[float, float] | None = None  # seconds of the video/audio file to use

    def is_empty(self) -> bool:
        return not ((self.text and self.text.strip()) or self.audio or self.video or self.image)

    def describe(self) -> str:
        parts = []
        if self.text:
            parts.append(f"text={self.text!r}")
        for name in ("audio", "video", "image"):
            if getattr(self, name):
                parts.append(f"{name}={os.path.basename(getattr(self, name))}")
        if self.span:
            parts.append(f"span={self.span[0]:g}-{self.span[1]:g}s")
        return " ".join(parts)


def _check_file(path: str, kind: str, exts: tuple[str, ...]) -> str:
    if not os.path.isfile(path):
        raise QueryError(f"--{kind} {path}: file not found")
    ext = os.path.splitext(path)[1].lower()
    if ext not in exts:
        raise QueryError(f"--{kind} {path}: unsupported format {ext or '(none)'}; use {' '.join(exts)}")
    return os.path.abspath(path)


def decode_query(q: Query, cfg: DecodeConfig | None = None) -> EncoderInput:
    """Decode the files of a query into an EncoderInput. Raises QueryError with a clear message.
    A text-only query imports no decoder (and so no torch)."""
    if q.is_empty():
        raise QueryError("empty query: give a text and/or --audio / --video / --image")
    if not (q.audio or q.video or q.image):
        return EncoderInput(text=q.text.strip())
    from omnisearch.media.decode import decode_span
    from omnisearch.media.errors import MediaError
    from omnisearch.types import MediaType, Span

    cfg = cfg or DecodeConfig()
    span = Span(*q.span) if q.span else None
    inp = EncoderInput(text=q.text.strip() if q.text and q.text.strip() else None)
    try:
        if q.video:
            path = _check_file(q.video, "video", VIDEO_EXTS)
            clip = decode_span(
                path, MediaType.VIDEO, span, cfg, audio=not q.audio, max_seconds=MAX_QUERY_SECONDS
            )
            inp.frames, inp.audio = clip.frames, clip.audio
        if q.image:
            path = _check_file(q.image, "image", IMAGE_EXTS)
            if inp.frames is not None:
                raise QueryError("give either --video or --image, not both")
            inp.frames = decode_span(path, MediaType.IMAGE, None, cfg, audio=False).frames
        if q.audio:
            path = _check_file(q.audio, "audio", AUDIO_EXTS + VIDEO_EXTS)
            clip = decode_span(path, MediaType.AUDIO, span, cfg, frames=False, max_seconds=MAX_QUERY_SECONDS)
            if clip.audio is None:
                raise QueryError(f"--audio {q.audio}: the file has no audio")
            inp.audio = clip.audio
    except MediaError as e:
        raise QueryError(f"cannot decode query file {e.path}: {e.reason}") from e
    if not inp.modalities():
        raise QueryError("the query decoded to nothing usable (no text, frames or audio)")
    return inp
