"""A search query: any non-empty combination of text, an audio file, a video file (optionally a time
span of it) and an image, decoded into one `EncoderInput`; and the parsing of what comes with it from
the CLI, the API and the servers (`parse_span`, `parse_date`, `make_filter`).

The modality of each part is explicit (the option it came from), never guessed from an extension.

Example:
    >>> q = Query(text="a dog barking")
    >>> q.describe()
    "text='a dog barking'"
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import datetime

from omnisearch.config import AUDIO_EXTS, IMAGE_EXTS, VIDEO_EXTS, DecodeConfig
from omnisearch.indexers.base import Filter
from omnisearch.types import EncoderInput, MediaType

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
        return not ((self.text and self.text.strip()) or self.has_files())

    def has_files(self) -> bool:
        """True when part of the query is a file to decode (a sound, a clip or a picture)."""
        return bool(self.audio or self.video or self.image)

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
    if not q.has_files():
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


def parse_span(span: str) -> tuple[float, float]:
    """ "START-END" seconds -> (start, end), e.g. parse_span("12-20") == (12.0, 20.0)."""
    try:
        a, b = (float(x) for x in str(span).split("-", 1))
    except ValueError:
        raise QueryError(f"--span {span!r}: expected START-END in seconds, e.g. 12-20") from None
    return check_span((a, b))


def check_span(span: tuple[float, float] | list[float]) -> tuple[float, float]:
    """A query file's span as (start, end) seconds with 0 <= start < end, else QueryError."""
    try:
        a, b = (float(x) for x in span)
    except (TypeError, ValueError):
        raise QueryError(f"--span {span!r}: expected (START, END) in seconds") from None
    if not (math.isfinite(a) and math.isfinite(b)) or b <= a:
        raise QueryError(f"--span {a:g}-{b:g}: END must be after START")
    if a < 0:
        raise QueryError(f"--span {a:g}-{b:g}: START must be >= 0")
    return a, b


def parse_date(value: str | float | int | datetime) -> float:
    """An ISO date or date-time (local time unless it names a zone), a datetime, or unix seconds ->
    unix seconds."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).strip()).timestamp()
    except ValueError:
        raise QueryError(
            f"--after {value!r}: expected an ISO date such as 2024-05-01 or 2024-05-01T14:30"
        ) from None


FILTER_KEYS = ("path", "media_type", "after", "start", "end")


def make_filter(
    path: str | None = None,
    media_type: str | None = None,
    after: str | float | datetime | None = None,
    start: float | None = None,
    end: float | None = None,
) -> Filter | None:
    """A metadata filter from plain values (None: no clause), checked; None when it has no clause.

    path: glob on the file path; media_type: video | audio | image; after: indexed after this date;
    start / end: the clip lies within [start, end] seconds of its file.

    Example:
        >>> make_filter(media_type="audio", start=5).media_type
        'audio'
    """
    if media_type is not None and media_type not in tuple(MediaType):
        raise QueryError(f"--media-type {media_type!r}: use video, audio or image")
    bounds = []
    for name, v in (("start", start), ("end", end)):
        if v is not None:
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise QueryError(f"--{name} {v!r}: expected seconds") from None
            if not math.isfinite(v):
                raise QueryError(f"--{name} {v!r}: expected a finite number of seconds")
        bounds.append(v)
    start, end = bounds
    if start is not None and end is not None and end <= start:
        raise QueryError(f"--end {end:g} must be after --start {start:g}")
    flt = Filter(
        path_glob=path or None,
        media_type=media_type,
        start_after=start,
        end_before=end,
        added_after=None if after is None else parse_date(after),
    )
    return None if flt.is_empty() else flt
