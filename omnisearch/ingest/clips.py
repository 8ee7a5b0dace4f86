"""Turning one media file into clip jobs (decoded inputs for the encoder) and stored records.

Jobs are produced lazily by `decode_file_clips` (PyAV frames), so memory stays bounded whatever the
file's length: audio is decoded and transcribed in chunks of `CHUNK_SECONDS` (each chunk reaching one
window past its end, so every clip starting in it has all its samples), and each clip's frames are
decoded only when its job is taken. Speech is transcribed once per chunk (not per overlapping clip) and
each clip gets the words spoken inside it.

Example:
    >>> info, spans, jobs = plan_jobs(found, enc, SegmentConfig(), DecodeConfig(), {})  # doctest: +SKIP
    >>> first = next(jobs)                                                            # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from omnisearch.config import DecodeConfig, SegmentConfig
from omnisearch.media.decode import CHUNK_SECONDS, DecodedChunk, DecodedClip, decode_file_clips
from omnisearch.media.probe import probe
from omnisearch.media.segment import segment
from omnisearch.media.walk import FoundFile
from omnisearch.models.asr import Segment, text_in_span
from omnisearch.models.base import Encoder
from omnisearch.types import ClipRecord, Embedding, EncoderInput, MediaInfo, MediaType, Span, clip_id

T = TypeVar("T")


@dataclass
class ClipJob:
    span: Span
    input: EncoderInput
    keyframe: float
    text: str


def _tick(timings: dict, key: str, t: float) -> float:
    now = time.perf_counter()
    timings[key] = timings.get(key, 0.0) + now - t
    return now


def plan_jobs(
    f: FoundFile,
    encoder: Encoder,
    segment_cfg: SegmentConfig,
    decode_cfg: DecodeConfig,
    timings: dict,
) -> tuple[MediaInfo, list[Span], Iterator[ClipJob]]:
    """Probe and segment a file; returns its MediaInfo, its clip spans and a lazy iterator of jobs.
    Raises MediaError for a file that cannot be read (also while iterating)."""
    t = time.perf_counter()
    info = probe(f.path, f.media_type)
    spans = segment(info.duration, segment_cfg) if f.media_type != MediaType.IMAGE else [Span(0.0, 0.0)]
    _tick(timings, "probe", t)
    return info, spans, _iter_jobs(f, info, spans, encoder, decode_cfg, timings)


def _iter_jobs(
    f: FoundFile,
    info: MediaInfo,
    spans: list[Span],
    encoder: Encoder,
    decode_cfg: DecodeConfig,
    timings: dict,
) -> Iterator[ClipJob]:
    transcribe = getattr(encoder, "transcribe", None)
    chunks = decode_file_clips(f.path, info, spans, decode_cfg, CHUNK_SECONDS, f.sidecars)
    with closing(chunks):
        for chunk in _timed(chunks, timings, "decode"):
            t = time.perf_counter()
            speech = _speech(transcribe, chunk) if transcribe is not None else None
            _tick(timings, "transcribe", t)
            yield from _timed((_job(f, clip, speech) for clip in chunk.clips), timings, "decode")


def _timed(items: Iterator[T], timings: dict, key: str) -> Iterator[T]:
    """`items` (never None), adding the time spent producing each one to `timings[key]`."""
    while True:
        t = time.perf_counter()
        item = next(items, None)
        _tick(timings, key, t)
        if item is None:
            return
        yield item


def _speech(transcribe: Callable[[np.ndarray], list[Segment]], chunk: DecodedChunk) -> list[Segment]:
    """The chunk's speech, timed from the file's start (none without audio)."""
    if chunk.audio is None:
        return []
    return [Segment(s.start + chunk.start, s.end + chunk.start, s.text) for s in transcribe(chunk.audio)]


def _job(f: FoundFile, clip: DecodedClip, speech: list[Segment] | None) -> ClipJob:
    """The encoder input of one decoded clip, with its sidecar text and the words spoken in it."""
    span = clip.span
    assert span is not None
    text = clip.text
    transcript = text_in_span(speech, span.start, span.end) if speech is not None else None
    inp = EncoderInput(text=text or None, frames=clip.frames, audio=clip.audio, transcript=transcript)
    times = clip.frame_times  # keyframe: a video's middle frame, else the span start (stills are at 0 s)
    keyframe = times[len(times) // 2] if times and f.media_type == MediaType.VIDEO else span.start
    return ClipJob(span=span, input=inp, keyframe=float(keyframe), text=text)


def records_from(
    f: FoundFile, fingerprint: str, jobs: list[ClipJob], embeddings: list[Embedding], added_at: float
) -> list[ClipRecord]:
    """Stored rows for the clips of one file (clips with no modality at all are dropped)."""
    # identical files at two paths are two sets of clips: the id hashes the path with the content
    key = hashlib.sha256(f"{f.path}\0{fingerprint}".encode()).hexdigest()
    records = []
    for job, emb in zip(jobs, embeddings, strict=True):
        if not emb.vectors:
            continue
        records.append(
            ClipRecord(
                clip_id=clip_id(key, job.span.start, job.span.end),
                path=f.path,
                media_type=f.media_type.value,
                start=job.span.start,
                end=job.span.end,
                file_hash=fingerprint,
                text=job.text,
                transcript=emb.derived.get("transcript", ""),
                ocr_text=emb.derived.get("ocr_text", ""),
                tags=emb.derived.get("tags", ""),
                keyframe=job.keyframe,
                added_at=added_at,
                vectors=emb.vectors,
            )
        )
    return records
