"""`SearchHit`: what the Python API, the retrievers, the HTTP API and the MCP tool hand out for a clip.

A hit is a moment of a file: `start`/`end` is its best window, `span_start`/`span_end` the span of the
neighbouring windows merged into it, `score` the cosine to the query and `scores` the per-list scores
(cosines, "rrf", "words", "lexical"). No heavy imports here.

Example:
    >>> h = SearchHit("c1", "/talks/talk.mp4", "video", 83.0, 93.0, 83.0, 98.0, 0.61, {},
    ...               transcript="the budget for the warehouse", ocr_text="QUARTERLY REVIEW")
    >>> h.citation
    'talk.mp4 @ 01:23-01:38'
    >>> h.words
    'the budget for the warehouse\\nQUARTERLY REVIEW'
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from omnisearch.types import Hit


def clock(seconds: float) -> str:
    """Seconds as mm:ss, or h:mm:ss from one hour on: clock(83.4) == '01:23', clock(3725) == '1:02:05'."""
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60:02d}:{rest % 60:02d}"


def dedup_words(parts: list[str]) -> str:
    """Non-empty parts, whitespace-normalised, one per line, leaving out a part that another holds
    (case-insensitively), e.g. a subtitle that repeats the transcript."""
    kept: list[str] = []
    for raw in parts:
        p = " ".join((raw or "").split())
        if not p or any(p.lower() in k.lower() for k in kept):
            continue
        kept = [k for k in kept if k.lower() not in p.lower()] + [p]
    return "\n".join(kept)


@dataclass(frozen=True)
class SearchHit:
    """One clip (a moment of a file) found by a search, or looked up by id."""

    clip_id: str
    file: str
    media_type: str
    start: float
    end: float
    span_start: float
    span_end: float
    score: float  # cosine to the query (0.0 for a clip looked up by id)
    scores: dict[str, float] = field(default_factory=dict)
    text: str = ""  # the clip's sidecar words: subtitles, description
    transcript: str = ""  # the words spoken in it
    ocr_text: str = ""  # the words on screen
    tags: str = ""  # what is seen, as words
    keyframe: float = 0.0  # the time of its representative frame, within [start, end]

    @property
    def citation(self) -> str:
        """Where to find it: 'talk.mp4 @ 01:23-01:33' (file name and the moment's span)."""
        name = os.path.basename(self.file)
        return f"{name} @ {clock(self.span_start)}-{clock(math.ceil(self.span_end))}"

    @property
    def words(self) -> str:
        """The clip's own words: transcript, subtitles and description, on-screen text; each once (a
        part another part holds is left out). `tags` (what is seen) stay apart."""
        return dedup_words([self.transcript, self.text, self.ocr_text])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field (times to ms, scores to 6 decimals) plus `citation` and `words`."""
        d = asdict(self)
        for key in ("start", "end", "span_start", "span_end", "keyframe"):
            d[key] = round(float(d[key]), 3)
        d["score"] = round(float(self.score), 6)
        d["scores"] = {k: round(float(v), 6) for k, v in self.scores.items()}
        d["citation"] = self.citation
        d["words"] = self.words
        return d

    @classmethod
    def from_hit(cls, h: Hit) -> SearchHit:
        """The planner's hit as a SearchHit."""
        return cls(
            clip_id=h.clip_id,
            file=h.path,
            media_type=h.media_type,
            start=h.start,
            end=h.end,
            span_start=h.start if h.span_start is None else h.span_start,
            span_end=h.end if h.span_end is None else h.span_end,
            score=float(h.score),
            scores={k: float(v) for k, v in h.scores.items()},
            text=h.text,
            transcript=h.transcript,
            ocr_text=h.ocr_text,
            tags=h.tags,
            keyframe=h.keyframe,
        )

    @classmethod
    def from_row(cls, row: dict) -> SearchHit:
        """A stored clip row (metadata, see indexers.base.META_FIELDS) as a SearchHit: its own window."""
        start, end = float(row["start"]), float(row["end"])
        kf = row.get("keyframe")
        return cls(
            clip_id=str(row["clip_id"]),
            file=str(row["path"]),
            media_type=str(row.get("media_type") or ""),
            start=start,
            end=end,
            span_start=start,
            span_end=end,
            score=0.0,
            text=str(row.get("text") or ""),
            transcript=str(row.get("transcript") or ""),
            ocr_text=str(row.get("ocr_text") or ""),
            tags=str(row.get("tags") or ""),
            keyframe=float(kf) if kf is not None and start <= float(kf) <= end else (start + end) / 2,
        )
