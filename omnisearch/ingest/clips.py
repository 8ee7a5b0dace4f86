"""Turning one media file into clip jobs (decoded inputs for the encoder) and stored records.

Jobs are produced lazily, so memory stays bounded whatever the file's length: audio is decoded and
transcribed in chunks of `CHUNK_SECONDS` (each chunk reaching one window past its end, so every clip
starting in it has all its samples), and each clip's frames are decoded only when its job is taken.
Speech is transcribed once per chunk (not per overlapping clip) and each clip gets the words spoken
inside it.

Example:
    >>> info, spans, jobs = plan_jobs(found, enc, SegmentConfig(), DecodeConfig(), {})  # doctest: +SKIP
    >>> first = next(jobs)                                                            # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from omnisearch.config import DecodeConfig, SegmentConfig
from omnisearch.media.audio import decode_audio
from omnisearch.media.decode import FrameReader, decode_frames
from omnisearch.media.probe import probe
from omnisearch.media.segment import evenly_spaced_times, segment
from omnisearch.media.sidecar import sidecar_text
from omnisearch.media.walk import FoundFile
from omnisearch.models.asr import Segment, text_in_span
from omnisearch.models.base import Encoder
from omnisearch.types import ClipRecord, Embedding, EncoderInput, MediaInfo, MediaType, Span, clip_id


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


CHUNK_SECONDS = 600.0  # audio decoded / transcribed per chunk of a long file


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
    return info, spans, _iter_jobs(f, info, spans, encoder, segment_cfg, decode_cfg, timings)


def _iter_jobs(
    f: FoundFile,
    info: MediaInfo,
    spans: list[Span],
    encoder: Encoder,
    segment_cfg: SegmentConfig,
    decode_cfg: DecodeConfig,
    timings: dict,
) -> Iterator[ClipJob]:
    sr = decode_cfg.sample_rate
    transcribe = getattr(encoder, "transcribe", None)
    is_video = f.media_type == MediaType.VIDEO and info.has_video
    # PyAV, reading forward: a decord reader left open keeps decoding ahead in its own threads while
    # the encoder runs (measured: +4 GB on a 20-minute 640x360 file). cache=True: overlapping windows
    # share frame times, so each frame is decoded once.
    reader = FrameReader(f.path, decode_cfg.frame_size, backend="pyav", cache=True) if is_video else None
    try:
        for c0, chunk_spans in _chunks(spans, CHUNK_SECONDS):
            t = time.perf_counter()
            audio = None
            if info.has_audio:
                c1 = max(s.end for s in chunk_spans)
                audio = decode_audio(f.path, c0, c1, sr)
                audio = audio if len(audio) else None
            t = _tick(timings, "decode", t)
            speech: list[Segment] | None = None
            if transcribe is not None:
                speech = (
                    [Segment(s.start + c0, s.end + c0, s.text) for s in transcribe(audio)]
                    if audio is not None
                    else []
                )
            _tick(timings, "transcribe", t)
            for span in chunk_spans:
                t = time.perf_counter()
                times = [span.start]
                frames = None
                if reader is not None:
                    times = evenly_spaced_times(span, decode_cfg.frames)
                    reader.evict_before(span.start)
                    frames = reader.read(times)
                elif info.has_video:  # a still image: one frame
                    frames = decode_frames(f.path, [0.0], decode_cfg.frame_size)
                clip_audio = _slice(audio, span, c0, sr)
                text = sidecar_text(f.sidecars, span) if f.sidecars else ""
                transcript = text_in_span(speech, span.start, span.end) if speech is not None else None
                inp = EncoderInput(text=text or None, frames=frames, audio=clip_audio, transcript=transcript)
                _tick(timings, "decode", t)
                yield ClipJob(span=span, input=inp, keyframe=float(times[len(times) // 2]), text=text)
    finally:
        if reader is not None:
            reader.close()


def _chunks(spans: list[Span], seconds: float) -> Iterator[tuple[float, list[Span]]]:
    """Group spans by the chunk their start falls in (pure): yields (chunk start, spans)."""
    group: list[Span] = []
    c0 = 0.0
    for span in spans:
        if group and span.start >= c0 + seconds:
            yield c0, group
            group, c0 = [], span.start
        group.append(span)
    if group:
        yield c0, group


def _slice(audio: np.ndarray | None, span: Span, offset: float, sr: int) -> np.ndarray | None:
    """The samples of `span` from audio that starts at `offset` seconds; None when there are none."""
    if audio is None:
        return None
    part = audio[max(0, int((span.start - offset) * sr)) : int(np.ceil((span.end - offset) * sr))]
    return part if len(part) else None


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
