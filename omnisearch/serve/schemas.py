"""The HTTP API's request parameters and response bodies (pydantic models: FastAPI validates with
them and publishes them in /openapi.json).

Example:
    >>> SearchParams(q="a dog barking", k=5).k
    5
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from omnisearch.types import Modality

MAX_K = 200
MAX_TEXT = 2000


class MediaKind(StrEnum):
    video = "video"
    audio = "audio"
    image = "image"


class SearchParams(BaseModel):
    """What a search takes besides its files: the same for GET (query string) and POST (form)."""

    model_config = ConfigDict(extra="ignore")

    q: str | None = Field(None, max_length=MAX_TEXT, description="Text query.")
    k: int = Field(10, ge=1, le=MAX_K, description="Number of hits.")
    target: Modality | None = Field(None, description="Column searched; fused (default) serves all.")
    rerank: bool = Field(False, description="Rerank candidates by the fused query.")
    path: str | None = Field(None, max_length=1000, description="Only files matching this glob.")
    media_type: MediaKind | None = Field(None, description="Only clips of this kind.")

    @field_validator("q", "path")
    @classmethod
    def _no_nul(cls, v: str | None) -> str | None:
        if v is not None and "\x00" in v:
            raise ValueError("must not contain NUL characters")
        return v


class UploadParams(SearchParams):
    """POST /api/search's form fields: a search's parameters plus the span of the query file."""

    span: str | None = Field(None, max_length=64, description="START-END seconds of the query file.")

    @field_validator("span")
    @classmethod
    def _span_no_nul(cls, v: str | None) -> str | None:
        if v is not None and "\x00" in v:
            raise ValueError("must not contain NUL characters")
        return v

    def span_seconds(self) -> tuple[float, float] | None:
        """`span` as (start, end) seconds; ValueError with a message when malformed."""
        if self.span is None or not self.span.strip():
            return None
        try:
            a, b = (float(x) for x in self.span.split("-", 1))
        except ValueError:
            raise ValueError(f"span {self.span!r}: expected START-END in seconds, e.g. 12-20") from None
        if not (0 <= a < b < 1e7):
            raise ValueError(f"span {self.span!r}: need 0 <= START < END")
        return a, b


class ClipOut(BaseModel):
    clip_id: str
    file: str
    media_type: str
    start: float
    end: float
    text: str
    transcript: str
    ocr_text: str
    tags: str
    keyframe: float
    citation: str
    thumbnail_url: str
    media_url: str


class HitOut(ClipOut):
    """A clip found by a search: its moment's merged span and its scores besides."""

    span_start: float
    span_end: float
    score: float
    scores: dict[str, float]


class SearchOut(BaseModel):
    hits: list[HitOut]
    took_ms: float


class HealthOut(BaseModel):
    status: str
    clips: int
    encoder: dict | None
