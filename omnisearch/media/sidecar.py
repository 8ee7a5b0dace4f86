"""Sidecar text: `.txt` descriptions and `.srt` / `.vtt` subtitles next to a media file.

The parsers are pure (text in, cues out) and forgiving: a BOM, CRLF / CR line ends, missing index
lines, missing blank lines between cues, `<i>`/`<c.x>`/`{\\an8}` tags, HTML entities, VTT headers,
NOTE / STYLE / REGION blocks, cue settings after the end time, `hh:mm:ss.mmm`, `mm:ss.mmm` and comma
decimal separators are all accepted. Lines that cannot be parsed are skipped, never raised on.

Example:
    >>> parse_srt("1\\n00:00:01,000 --> 00:00:02,500\\n<i>Hello</i>\\nworld\\n")
    [Cue(start=1.0, end=2.5, text='Hello world')]
"""

from __future__ import annotations

import html
import os
import re
from functools import lru_cache
from typing import NamedTuple

from omnisearch.types import Span

_TS = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?"
_TIMING = re.compile(rf"^\s*{_TS}\s*-->\s*{_TS}")
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")
_SPACE = re.compile(r"\s+")
MAX_SIDECAR_BYTES = 4 << 20  # a 3-hour film's subtitles are ~0.2 MB; larger files are not sidecars
MAX_DESCRIPTION_CHARS = 20_000  # of a `.txt` description kept per file
MAX_CLIP_TEXT_CHARS = 20_000  # of sidecar text per clip
_SNIFF = 1 << 16
_CONTROL = bytes(c for c in range(32) if chr(c) not in "\t\n\r\f\v\x1b")


def sidecar_problem(path: str) -> str | None:
    """Why a sidecar file must be left out (too large, binary, unreadable), or None when it is text.

    Example:
        >>> sidecar_problem("/etc/hostname") is None
        True
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(_SNIFF)
    except OSError as e:
        return f"cannot read: {e.strerror or e}"
    if size > MAX_SIDECAR_BYTES:
        return f"too large for a text sidecar ({size / 1e6:.1f} MB > {MAX_SIDECAR_BYTES / 1e6:.1f} MB)"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None  # UTF-16 (NULs are expected); decoded by read_text
    nuls = head.count(0)
    controls = sum(head.count(c) for c in _CONTROL)
    if nuls or controls > len(head) // 100:
        return f"binary content, not text ({nuls} NUL and {controls} control bytes in the first {len(head)})"
    return None


class Cue(NamedTuple):
    """One subtitle cue: seconds and its text with tags removed."""

    start: float
    end: float
    text: str


def _seconds(h: str | None, m: str, s: str, frac: str | None) -> float:
    millis = int((frac or "0").ljust(3, "0")[:3])
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + millis / 1000.0


def clean_text(text: str) -> str:
    """Strip markup tags, unescape HTML entities and collapse whitespace.

    Example:
        >>> clean_text("<b>Tom &amp; Jerry</b>  {\\\\an8}run")
        'Tom & Jerry run'
    """
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", text))).strip()


def parse_subtitles(text: str) -> list[Cue]:
    """Parse SRT or WebVTT text into cues sorted by start (both formats share this parser).

    Example:
        >>> parse_subtitles("WEBVTT\\n\\nNOTE hi\\n\\n01:02.000 --> 01:03.000 align:start\\nYo\\n")
        [Cue(start=62.0, end=63.0, text='Yo')]
    """
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    cues: list[Cue] = []
    current: tuple[float, float] | None = None
    lines: list[str] = []

    def flush() -> None:
        if current is not None:
            body = clean_text(" ".join(lines))
            if body and current[1] >= current[0]:
                cues.append(Cue(current[0], current[1], body))

    for raw in text.split("\n"):
        line = raw.strip()
        match = _TIMING.match(line) if "-->" in line else None
        if match:
            if current is not None and lines and lines[-1].isdigit():
                lines.pop()  # an SRT index line of the next cue, with no blank line before it
            flush()
            g = match.groups()
            current = (_seconds(*g[0:4]), _seconds(*g[4:8]))
            lines = []
        elif not line:
            flush()
            current, lines = None, []
        elif current is not None:
            lines.append(line)
    flush()
    cues.sort(key=lambda c: (c.start, c.end))
    return cues


def parse_srt(text: str) -> list[Cue]:
    """Parse SubRip text. Example: `parse_srt("1\\n00:00:00,500 --> 00:00:01,000\\nHi")`."""
    return parse_subtitles(text)


def parse_vtt(text: str) -> list[Cue]:
    """Parse WebVTT text. Example: `parse_vtt("WEBVTT\\n\\n00:01.000 --> 00:02.000\\nHi")`."""
    return parse_subtitles(text)


def read_text(path: str) -> str:
    """Read a text file as UTF-8 (BOM tolerated), falling back to cp1252 / latin-1.

    Example:
        >>> read_text("notes.txt")  # doctest: +SKIP
    """
    with open(path, "rb") as f:
        data = f.read(MAX_SIDECAR_BYTES)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


@lru_cache(maxsize=256)
def _cached_sidecar(path: str, mtime_ns: int, size: int) -> tuple[str, tuple[Cue, ...]]:
    text = read_text(path)
    if path.lower().endswith(".txt"):
        return _SPACE.sub(" ", text).strip()[:MAX_DESCRIPTION_CHARS], ()
    return "", tuple(parse_subtitles(text))


def load_sidecar(path: str) -> tuple[str, list[Cue]]:
    """(description text, cues) of one sidecar file; cached by (path, mtime, size).

    Example:
        >>> load_sidecar("clip.srt")  # doctest: +SKIP
        ('', [Cue(start=0.0, end=1.5, text='Hi')])
    """
    st = os.stat(path)
    description, cues = _cached_sidecar(os.path.abspath(path), st.st_mtime_ns, st.st_size)
    return description, list(cues)


def cues_in_span(cues: list[Cue], span: Span) -> list[Cue]:
    """Cues overlapping `span` (end exclusive); a zero-length span takes cues containing its instant.

    Example:
        >>> cues_in_span([Cue(0, 2, "a"), Cue(2, 4, "b")], Span(1.0, 2.0))
        [Cue(start=0, end=2, text='a')]
    """
    if span.end <= span.start:
        return [c for c in cues if c.start <= span.start <= c.end]
    return [c for c in cues if c.start < span.end and c.end > span.start]


def sidecar_text(sidecars: list[str], span: Span) -> str:
    """Description text (`.txt`, whole file) plus texts of subtitle cues overlapping `span`.

    Pieces are joined with single spaces in sidecar order, exact duplicates (after whitespace
    normalisation, case-insensitive) dropped. Unreadable sidecar files are skipped.

    Example:
        >>> sidecar_text(["talk.txt", "talk.srt"], Span(0.0, 10.0))  # doctest: +SKIP
        'A talk about pancakes. Hello everyone'
    """
    pieces: list[str] = []
    seen: set[str] = set()
    for path in sidecars:
        try:
            description, cues = load_sidecar(path)
        except OSError:
            continue
        texts = [description] if description else [c.text for c in cues_in_span(cues, span)]
        for text in texts:
            key = text.casefold()
            if text and key not in seen:
                seen.add(key)
                pieces.append(text)
    return " ".join(pieces)[:MAX_CLIP_TEXT_CHARS]
