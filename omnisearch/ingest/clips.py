"""Turning one media file into clip jobs (decoded inputs for the encoder) and stored records.

Audio is decoded once per file and sliced per clip; speech is transcribed once per file (when the
encoder transcribes) and each clip gets the words spoken inside it.

Example:
    >>> jobs, info, secs = build_jobs(found, enc, SegmentConfig(), DecodeConfig(), {})  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import time
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


def build_jobs(
    f: FoundFile,
    encoder: Encoder,
    segment_cfg: SegmentConfig,
    decode_cfg: DecodeConfig,
    timings: dict,
) -> tuple[list[ClipJob], MediaInfo, float]:
    """Probe, segment and decode a file; returns its clip jobs, its MediaInfo and its seconds of media.
    Raises MediaError for a file that cannot be read."""
    t = time.perf_counter()
    info = probe(f.path, f.media_type)
    spans = segment(info.duration, segment_cfg) if f.media_type != MediaType.IMAGE else [Span(0.0, 0.0)]
    t = _tick(timings, "probe", t)

    audio = decode_audio(f.path, 0.0, None, decode_cfg.sample_rate) if info.has_audio else None
    if audio is not None and len(audio) == 0:
        audio = None
    t = _tick(timings, "decode", t)
    transcribe = getattr(encoder, "transcribe", None)
    speech: list[Segment] | None = None
    if transcribe is not None:
        speech = transcribe(audio) if audio is not None else []
    t = _tick(timings, "transcribe", t)

    jobs: list[ClipJob] = []
    reader = (
        FrameReader(f.path, decode_cfg.frame_size, cache=True)  # windows overlap: share frames
        if f.media_type == MediaType.VIDEO and info.has_video
        else None
    )
    try:
        for span in spans:
            times = [span.start]
            frames = None
            if reader is not None:
                times = evenly_spaced_times(span, decode_cfg.frames)
                reader.evict_before(span.start)
                frames = reader.read(times)
            elif info.has_video:  # a still image: one frame
                frames = decode_frames(f.path, [0.0], decode_cfg.frame_size)
            clip_audio = _slice(audio, span, decode_cfg.sample_rate)
            text = sidecar_text(f.sidecars, span) if f.sidecars else ""
            transcript = text_in_span(speech, span.start, span.end) if speech is not None else None
            inp = EncoderInput(text=text or None, frames=frames, audio=clip_audio, transcript=transcript)
            jobs.append(ClipJob(span=span, input=inp, keyframe=float(times[len(times) // 2]), text=text))
    finally:
        if reader is not None:
            reader.close()
    _tick(timings, "decode", t)
    return jobs, info, max(info.duration, 0.0)


def _slice(audio: np.ndarray | None, span: Span, sr: int) -> np.ndarray | None:
    """The samples of `span`; None when there are none."""
    if audio is None:
        return None
    part = audio[int(span.start * sr) : int(np.ceil(span.end * sr))]
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
