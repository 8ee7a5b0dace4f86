"""Chunked ingest: long files are decoded in chunks; clips must get the same samples and frames, and be
exactly what `decode_file_clips` gives."""

from __future__ import annotations

import numpy as np
import pytest
import synth
from enrich_fakes import OwnTools

from omnisearch.config import DecodeConfig, SegmentConfig
from omnisearch.ingest.stages import reader
from omnisearch.ingest.stages.enricher import Enricher
from omnisearch.ingest.stages.items import ChunkAudio, Clips, FileStart, FileTask
from omnisearch.media.decode import _chunks, decode_file_clips
from omnisearch.media.walk import find_media
from omnisearch.models.asr import Segment
from omnisearch.types import Span


def naive_chunks(spans, seconds):
    out, c0 = [], None
    for s in spans:
        if c0 is None or s.start >= c0 + seconds:
            c0 = s.start
            out.append((c0, []))
        out[-1][1].append(s)
    return out


@pytest.mark.parametrize("seconds", [1.0, 7.0, 10.0, 600.0])
def test_chunks_match_naive_grouping(seconds):
    spans = [Span(float(k * 5), float(k * 5 + 10)) for k in range(9)]
    assert list(_chunks(spans, seconds)) == naive_chunks(spans, seconds)
    assert [s for _, g in _chunks(spans, seconds) for s in g] == spans


@pytest.mark.skipif(not synth.have_tools("ffmpeg"), reason="needs ffmpeg")
def test_chunked_jobs_equal_unchunked(tmp_path, monkeypatch):
    synth.make_video(tmp_path / "long.mp4", seconds=23.0, tone_hz=440, tone_kind="chirp")
    (found,), _ = find_media([str(tmp_path / "long.mp4")])
    seg, dec = SegmentConfig(window=6, overlap=2), DecodeConfig(frames=3)

    def jobs(chunk_s):
        monkeypatch.setattr(reader, "CHUNK_SECONDS", chunk_s)
        msgs = list(reader.read_file(FileTask(found, "fp"), seg, dec))
        spans = [m for m in msgs if isinstance(m, FileStart)][0].spans
        return spans, [j for m in msgs if isinstance(m, Clips) for j in m.jobs]

    spans, whole = jobs(600.0)
    spans2, chunked = jobs(7.0)
    assert spans == spans2 and len(whole) == len(spans) > 3
    for a, b in zip(whole, chunked, strict=True):
        assert a.span == b.span
        assert np.array_equal(a.input.frames, b.input.frames)
        assert abs(len(a.input.audio) - len(b.input.audio)) <= 1
        n = min(len(a.input.audio), len(b.input.audio))
        assert np.allclose(a.input.audio[:n], b.input.audio[:n], atol=1e-4)


class Speech(OwnTools):
    """Enrichment tools that hear one word 1 s into every chunk of audio and read no text."""

    def __init__(self) -> None:
        self.heard: list[int] = []

    def transcribe(self, audio: np.ndarray) -> list[Segment]:
        self.heard.append(len(audio))
        return [Segment(1.0, 1.5, f"w{len(self.heard)}")]

    def has_speech(self, audio: np.ndarray) -> bool:
        return True

    def read_lines(self, frame: np.ndarray) -> list[str]:
        return []


@pytest.mark.skipif(not synth.have_tools("ffmpeg"), reason="needs ffmpeg")
def test_jobs_are_decode_file_clips(tmp_path, monkeypatch):
    synth.make_video(tmp_path / "v.mp4", seconds=23.0, tone_hz=440, tone_kind="chirp")
    (found,), _ = find_media([str(tmp_path / "v.mp4")])
    seg, dec = SegmentConfig(window=6, overlap=2), DecodeConfig(frames=3, frame_size=64)
    monkeypatch.setattr(reader, "CHUNK_SECONDS", 7.0)
    speech = Speech()
    enricher = Enricher(speech)
    jobs = []
    for msg in reader.read_file(FileTask(found, "fp"), seg, dec):
        if isinstance(msg, ChunkAudio):
            enricher.chunk(msg)
        elif isinstance(msg, Clips):
            enricher.clips(msg.path, msg.jobs)
            jobs += msg.jobs
        elif isinstance(msg, FileStart):
            info, spans = msg.info, msg.spans
    chunks = [(c, list(c.clips)) for c in decode_file_clips(found.path, info, spans, dec, chunk_seconds=7.0)]
    assert speech.heard == [len(c.audio) for c, _ in chunks] and len(chunks) == 3
    decoded = [(k, c.start, clip) for k, (c, got) in enumerate(chunks, 1) for clip in got]
    assert len(jobs) == len(decoded) == len(spans)
    for job, (k, c0, clip) in zip(jobs, decoded, strict=True):
        assert job.span == clip.span and job.keyframe == clip.frame_times[1]
        assert np.array_equal(job.input.frames, clip.frames) and np.array_equal(job.input.audio, clip.audio)
        # chunk k's word (at its start + 1 s) is in its first clip only (the next starts 4 s later)
        assert job.input.transcript == (f"w{k}" if job.span.start == c0 else "")
