"""The ingest stages' pure parts against naive references, and the stages with the real models where
they are cheap: numpy log-mel = librosa's, sound blocks pooled per window vs each window embedded,
OCR change-gating, the voice-activity gate, batches that cross files = file by file, the stat skip,
worker processes = in-process, and omni-lite's out-of-memory back-off."""

from __future__ import annotations

import os

import numpy as np
import pytest
import synth
from enrich_fakes import OwnTools

from omnisearch.config import DecodeConfig, SegmentConfig
from omnisearch.ingest.stages.enricher import Enricher
from omnisearch.ingest.stages.items import ClipJob
from omnisearch.media.image import frames_differ, thumbnail
from omnisearch.models import audio_aisfx as A
from omnisearch.types import EncoderInput, Span

needs_ffmpeg = pytest.mark.skipif(not synth.have_tools("ffmpeg"), reason="needs ffmpeg")


def test_log_mel_equals_librosa():
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(0)
    for n in (100, 44100, 3 * 44100 + 17):
        y = (rng.standard_normal(n) * 0.3).astype(np.float32)
        ref = librosa.feature.melspectrogram(
            y=y / np.abs(y).max(), sr=A._SR, n_mels=A._MELS, norm=1.0, fmin=0.0, fmax=A._SR / 2, htk=True,
            power=2.0, hop_length=A._HOP, win_length=A._N_FFT, n_fft=A._N_FFT,
        )  # fmt: skip
        ref = (np.log10(ref * 10000.0 + 1) / A._SPEC_MAX).T
        assert A.log_mel(y).shape == ref.shape
        assert np.abs(A.log_mel(y) - ref).max() < 1e-5


def naive_blocks_in_span(starts, block_s, t0, t1):
    inside = [i for i, s in enumerate(starts) if t0 <= s + block_s / 2 < t1]
    if inside:
        return inside
    mid = (t0 + t1) / 2
    return [min(range(len(starts)), key=lambda i: (abs(starts[i] + block_s / 2 - mid), i))]


def test_blocks_in_span_matches_naive():
    rng = np.random.default_rng(1)
    starts = np.arange(0, 60, A.BLOCK_SECONDS)
    for _ in range(200):
        t0 = float(rng.uniform(0, 60))
        t1 = t0 + float(rng.uniform(0.05, 12))
        got = A.blocks_in_span(starts, A.BLOCK_SECONDS, t0, t1).tolist()
        assert got == naive_blocks_in_span(list(starts), A.BLOCK_SECONDS, t0, t1)


def test_block_starts_cover_every_frame():
    for n in (1, 99, 100, 101, 250, 1000):
        starts = A.block_starts(n)
        covered = set()
        for s in starts:
            covered |= set(range(s, s + A._BLOCK))
        assert set(range(n)) <= covered and starts[-1] + A._BLOCK >= n


@pytest.fixture(scope="module")
def aisfx():
    import torch

    torch.set_num_threads(1)
    return A.AisfxAudio()


def test_pooled_blocks_against_each_window_embedded(aisfx):
    """The whole signal pooled from its blocks is exactly its clip vector; an inner window pooled from
    the file's blocks stays close to that window embedded on its own (different block grid)."""
    sr = 16000
    t = np.arange(30 * sr) / sr
    y = 0.3 * np.sin(2 * np.pi * (300 + 40 * t) * t) + 0.05 * np.random.default_rng(0).standard_normal(len(t))
    y = y.astype(np.float32)
    (grid,) = aisfx.block_rows([y])
    whole, _ = A.pool_blocks(grid.rows, aisfx.mean)
    assert np.allclose(whole, aisfx.embed([y])[0], atol=1e-5)
    for t0 in (0.0, 5.0, 10.0, 15.0):
        idx = A.blocks_in_span(grid.starts, grid.block_seconds, t0, t0 + 10)
        pooled, _ = A.pool_blocks(grid.rows[idx], aisfx.mean)
        alone = aisfx.embed([y[int(t0 * sr) : int((t0 + 10) * sr)]])[0]
        assert float(pooled @ alone) > 0.9


def test_block_rows_batched_equal_one_by_one(aisfx):
    rng = np.random.default_rng(2)
    audios = [(0.2 * rng.standard_normal(int(16000 * s))).astype(np.float32) for s in (1.0, 2.5, 7.0)]
    together = aisfx.block_rows(audios + [None])
    assert together[-1] is None
    for a, g in zip(audios, together, strict=False):
        (alone,) = aisfx.block_rows([a])
        assert np.allclose(g.rows, alone.rows, atol=1e-5) and np.array_equal(g.starts, alone.starts)


def naive_differ(a, b):
    return a.shape != b.shape or sum(abs(x - y) >= 16 for x, y in zip(a.ravel(), b.ravel(), strict=True)) >= 3


def test_frames_differ_matches_naive():
    rng = np.random.default_rng(3)
    base = rng.integers(0, 255, (36, 64, 3), dtype=np.uint8)
    for k in range(40):
        other = base.copy()
        n = k % 6
        other[:n, :2] = 255 - other[:n, :2]
        ta, tb = thumbnail(base), thumbnail(other)
        assert frames_differ(ta, tb) == naive_differ(ta, tb)
    assert not frames_differ(thumbnail(base), thumbnail(np.clip(base.astype(int) + 3, 0, 255)))


class CountingTools(OwnTools):
    """Enrichment tools that count what they are asked (the stage's gating is what is tested)."""

    def __init__(self, speech: bool = True) -> None:
        self.read, self.heard, self.speech = [], 0, speech

    def read_lines(self, frame):
        self.read.append(int(frame[0, 0, 0]))
        return [f"text{int(frame[0, 0, 0])}"]

    def transcribe(self, audio):
        self.heard += 1
        return []

    def has_speech(self, audio):
        return self.speech


def _clip_jobs(frame_value, n_clips=4, frames=8):
    """Overlapping 10 s windows (hop 5 s) with `frames` frame times each; frame content frame_value(t)."""
    jobs = []
    for k in range(n_clips):
        span = Span(5.0 * k, 5.0 * k + 10)
        times = [span.start + (i + 0.5) * 10 / frames for i in range(frames)]
        fr = np.stack([np.full((36, 64, 3), frame_value(t), np.uint8) for t in times])
        jobs.append(ClipJob(span, EncoderInput(frames=fr), times[frames // 2], "", times))
    return jobs


def test_ocr_reads_each_shared_frame_once_and_skips_unchanged():
    tools = CountingTools()
    changing = Enricher(tools)
    jobs = _clip_jobs(lambda t: int(t * 10) % 250)
    changing.clips("/v.mp4", jobs)
    picked = [j.frame_times[i] for j in jobs for i in (2, 6)]  # pick_frames(8, 2)
    assert len(tools.read) == len(set(picked)) < len(picked)  # overlapping clips share a frame
    assert jobs[0].input.ocr_text == f"text{int(picked[0] * 10) % 250} text{int(picked[1] * 10) % 250}"
    static = CountingTools()
    Enricher(static).clips("/s.mp4", _clip_jobs(lambda t: 77))
    assert static.read == [77]  # every other frame equals the first one read


def test_whisper_runs_only_where_the_check_hears_speech():
    from omnisearch.ingest.stages.items import ChunkAudio

    for speech in (True, False):
        tools = CountingTools(speech=speech)
        e = Enricher(tools)
        e.chunk(ChunkAudio("/a.wav", 0, 0.0, np.zeros(16000, np.float32)))
        job = ClipJob(Span(0, 1), EncoderInput(audio=np.zeros(16000, np.float32)), 0.0, "")
        e.clips("/a.wav", [job])
        assert tools.heard == int(speech) and job.input.transcript == ""


@pytest.mark.skipif(not synth.have_tools("espeak-ng"), reason="needs espeak-ng")
def test_silero_hears_speech_not_tones(tmp_path):
    from omnisearch.media.audio import decode_audio
    from omnisearch.models.vad import SileroSpeech

    vad = SileroSpeech()
    words = synth.speech_wav(tmp_path / "s.wav", "the budget for the new warehouse in Lisbon")
    assert vad.has_speech(decode_audio(str(words), 0, 30, 16000))
    t = np.arange(3 * 16000) / 16000
    for y in (np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 385 * t) * np.sin(2 * np.pi * 3 * t)):
        assert not vad.has_speech(y.astype(np.float32) * 0.5)
    assert not vad.has_speech(np.zeros(16000, np.float32))


def _sounds(folder, n=6):
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        synth.tone_wav(
            folder / f"s{i}.wav", freq=300 + 70 * i, seconds=1 + i % 3, kind=("sine", "noise")[i % 2]
        )
    return folder


def _rows(db):
    from omnisearch.indexers import open_store

    st = open_store("lancedb", str(db))
    rows = {r["clip_id"]: r for r in st.scan(with_vectors=True)}
    st.close()
    return rows


def _same_rows(a, b, atol=1e-5):
    assert sorted(a) == sorted(b) and a
    for cid, r in a.items():
        o = b[cid]
        assert (r["path"], r["start"], r["end"], r["transcript"]) == (
            o["path"],
            o["start"],
            o["end"],
            o["transcript"],
        )
        assert sorted(r["vectors"]) == sorted(o["vectors"]) and r["vectors"]
        for col, v in r["vectors"].items():
            assert np.allclose(
                np.asarray(v, np.float32), np.asarray(o["vectors"][col], np.float32), atol=atol
            )


@needs_ffmpeg
def test_batches_across_files_write_the_rows_of_file_by_file(tmp_path):
    from omnisearch.indexers import open_store
    from omnisearch.ingest.pipeline import index_paths
    from omnisearch.models import EncoderOptions, load_encoder

    lib = _sounds(tmp_path / "lib")
    for name, bs in (("across", 4), ("single", 1)):
        st = open_store("lancedb", str(tmp_path / name))
        index_paths([str(lib)], st, load_encoder("omni-lite", EncoderOptions(batch_size=bs)), workers=0)
        st.close()
    _same_rows(_rows(tmp_path / "across"), _rows(tmp_path / "single"))


@needs_ffmpeg
def test_worker_processes_write_what_one_process_writes(tmp_path):
    from reliab_runner import SpectrumEncoder

    from omnisearch.indexers import open_store
    from omnisearch.ingest.pipeline import index_paths

    lib = _sounds(tmp_path / "lib", n=8)
    synth.make_video(lib / "v.mp4", seconds=7.0, tone_hz=440)
    seg = SegmentConfig(window=2, overlap=1)
    for name, workers in (("inline", 0), ("procs", 2)):
        st = open_store("lancedb", str(tmp_path / name))
        report = index_paths([str(lib)], st, SpectrumEncoder(), seg, DecodeConfig(frames=2), workers=workers)
        st.close()
        assert report.files_indexed == 9 and not report.failed
        assert set(report.timings) >= {"read", "enrich", "encode", "write"}
    _same_rows(_rows(tmp_path / "inline"), _rows(tmp_path / "procs"), atol=0)


@needs_ffmpeg
def test_unchanged_files_are_not_hashed_again(tmp_path, monkeypatch):
    from reliab_runner import SpectrumEncoder

    from omnisearch.indexers import open_store
    from omnisearch.ingest.pipeline import index_paths
    from omnisearch.ingest.stages import reader

    lib = _sounds(tmp_path / "lib", n=3)
    hashed: list[str] = []
    real = reader.fingerprint
    monkeypatch.setattr(reader, "fingerprint", lambda f: hashed.append(f.path) or real(f))

    def run():
        hashed.clear()
        st = open_store("lancedb", str(tmp_path / "db"))
        r = index_paths([str(lib)], st, SpectrumEncoder(), SegmentConfig(window=2, overlap=1), workers=0)
        st.close()
        return r

    assert run().files_indexed == 3 and len(hashed) == 3
    again = run()
    assert again.files_unchanged == 3 and hashed == []
    touched = lib / "s1.wav"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    third = run()  # touched: hashed again, same content, so still unchanged
    assert hashed == [str(touched)] and third.files_unchanged == 3 and third.files_indexed == 0
    synth.tone_wav(lib / "s2.wav", freq=999, seconds=1.5)
    fourth = run()
    assert hashed == [str(lib / "s2.wav")] and fourth.files_indexed == 1


class OOMAbove(__import__("torch").nn.Module):
    """A real module in front of the concept tower's feature extractor: a fake CUDA out-of-memory error
    when more than `limit` frames arrive at once."""

    def __init__(self, inner, limit: int) -> None:
        super().__init__()
        self.inner, self.limit, self.sizes = inner, limit, []

    def forward(self, x):
        import torch

        self.sizes.append(int(x.shape[0]))
        if x.shape[0] > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (fake)")
        return self.inner(x)


def test_omni_lite_halves_its_batch_on_out_of_memory(one_torch_thread):
    from omnisearch.models import EncoderOptions
    from omnisearch.models.omni_lite import OmniLite
    from omnisearch.types import Modality

    rng = np.random.default_rng(4)
    items = [
        EncoderInput(frames=rng.integers(0, 255, (2, 48, 64, 3), dtype=np.uint8), ocr_text="")
        for _ in range(4)
    ]
    enc = OmniLite(EncoderOptions(batch_size=4))
    enc.concepts._tower = None
    ref = OmniLite(EncoderOptions(batch_size=1)).encode(items)
    enc.concepts._frame_results([items[0].frames[:1]])  # builds the tower
    tower = enc.concepts._tower
    tower.onnx = None  # out-of-memory errors come from torch on a GPU: test the torch path
    guard = OOMAbove(tower.head.net.extract_features, limit=4)
    tower.head.net.extract_features = guard.forward
    enc.concepts._frames = type(enc.concepts._frames)(maxsize=4096)  # forget the frame just computed
    got = enc.encode(items)
    assert guard.sizes[:3] == [8, 4, 4]  # 4 clips x 2 frames -> OOM -> 2 clips, twice
    for a, b in zip(got, ref, strict=True):
        assert np.allclose(a.vectors[Modality.VIDEO], b.vectors[Modality.VIDEO], atol=1e-5)
