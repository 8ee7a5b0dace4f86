"""The local engine's helper threads: speech transcribed beside the encoder with each clip's words known
as soon as a later segment is heard, clips embedded only once their words are known (frames prepared
meanwhile), sound blocks on their own thread, and the malloc settings of an indexing process."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import synth
from enrich_fakes import OwnTools

from omnisearch.ingest.malloc import keep_freed_memory
from omnisearch.ingest.stages.background import Background
from omnisearch.ingest.stages.encode_stage import EncodeStage
from omnisearch.ingest.stages.enricher import Enricher
from omnisearch.ingest.stages.items import ChunkAudio, ClipJob
from omnisearch.models.asr import Segment
from omnisearch.models.base import Encoder
from omnisearch.types import Embedding, EncoderInput, Modality, Span


class StreamingTools(OwnTools):
    """A transcriber that hands out one segment each time the test releases it (two per 10 s)."""

    def __init__(self, segments: list[Segment], fail: bool = False) -> None:
        self.segments, self.fail = segments, fail
        self.release = threading.Semaphore(0)
        self.thread = ""

    def has_speech(self, audio):
        return True

    def transcribe(self, audio):
        return list(self.stream(audio))

    def stream(self, audio):
        self.thread = threading.current_thread().name
        for seg in self.segments:
            assert self.release.acquire(timeout=10), "the test never released the next segment"
            if self.fail:
                raise RuntimeError("the transcriber broke")
            yield seg

    def read_lines(self, frame):
        return []


def _jobs(n: int = 3) -> list[ClipJob]:
    return [
        ClipJob(Span(10.0 * k, 10.0 * k + 10), EncoderInput(audio=np.zeros(160, np.float32)), 0.0, "")
        for k in range(n)
    ]


SEGMENTS = [Segment(1, 4, "one"), Segment(12, 15, "two"), Segment(21, 24, "three"), Segment(25, 28, "four")]


def _wait_until(cond, seconds: float = 5.0) -> bool:
    stop = threading.Event()
    for _ in range(int(seconds / 0.01)):
        if cond():
            return True
        stop.wait(0.01)
    return cond()


def test_words_are_known_once_a_later_segment_is_heard():
    tools = StreamingTools(SEGMENTS)
    e = Enricher(tools, background=True)
    try:
        e.chunk(ChunkAudio("/t.mp4", 0, 0.0, np.zeros(16000 * 30, np.float32)))
        jobs = _jobs()
        e.clips("/t.mp4", jobs)
        assert not any(e.text_ready("/t.mp4", j) for j in jobs)  # nothing heard yet
        tools.release.release(2)  # "one", then "two" (which starts after clip 0 ends)
        assert _wait_until(lambda: e.text_ready("/t.mp4", jobs[0]))
        assert jobs[0].input.transcript == "one" and not e.text_ready("/t.mp4", jobs[1])
        tools.release.release(1)  # "three" starts at 21 s: clip 1 (10-20 s) is complete
        assert _wait_until(lambda: e.text_ready("/t.mp4", jobs[1]))
        assert jobs[1].input.transcript == "two" and not e.text_ready("/t.mp4", jobs[2])
        tools.release.release(1)
        e.wait_text("/t.mp4", jobs)  # the chunk ends: the last clip is complete too
        assert [j.input.transcript for j in jobs] == ["one", "two", "three four"]
        assert tools.thread.startswith("omnisearch-speech")
    finally:
        e.close()


def test_a_transcriber_error_reaches_the_caller():
    tools = StreamingTools(SEGMENTS, fail=True)
    e = Enricher(tools, background=True)
    try:
        e.chunk(ChunkAudio("/t.mp4", 0, 0.0, np.zeros(16000, np.float32)))
        jobs = _jobs(1)
        e.clips("/t.mp4", jobs)
        tools.release.release(1)
        with pytest.raises(RuntimeError, match="the transcriber broke"):
            e.wait_text("/t.mp4", jobs)
    finally:
        e.close()


def test_without_background_the_words_are_there_at_once():
    tools = StreamingTools(SEGMENTS)
    tools.release.release(len(SEGMENTS))
    e = Enricher(tools)
    e.chunk(ChunkAudio("/t.mp4", 0, 0.0, np.zeros(16000, np.float32)))
    jobs = _jobs()
    e.clips("/t.mp4", jobs)
    assert [j.input.transcript for j in jobs] == ["one", "two", "three four"]
    assert tools.thread == threading.current_thread().name


class Gate:
    """A TextGate the test opens clip by clip."""

    def __init__(self) -> None:
        self.open: set[int] = set()

    def text_ready(self, path, job):
        return id(job) in self.open

    def wait_text(self, path, jobs):
        self.open |= {id(j) for j in jobs}


class Recorder(Encoder):
    """An encoder that records what it embeds and what it is asked to prepare."""

    name, version, dim = "recorder", "1", 2

    def __init__(self) -> None:
        super().__init__()
        self.options.batch_size = 2
        self.embedded: list[float] = []
        self.prepared: list[float] = []

    def prepare(self, items):
        self.prepared += [float(it.audio[0]) for it in items]

    def encode(self, items, progress=None):
        self.embedded += [float(it.audio[0]) for it in items]
        return [Embedding({Modality.AUDIO: np.ones(2, np.float32)}) for _ in items]


def _numbered(n: int) -> list[ClipJob]:
    return [ClipJob(Span(k, k + 1), EncoderInput(audio=np.full(4, k, np.float32)), 0.0, "") for k in range(n)]


def test_clips_wait_for_their_words_and_are_prepared_meanwhile():
    enc, gate = Recorder(), Gate()
    stage = EncodeStage(enc, gate=gate, max_waiting=4)
    jobs = _numbered(4)
    stage.add("/a", jobs[:2])
    assert enc.prepared == [0.0, 1.0] and list(stage.drain()) == []  # words unknown: prepared, kept
    gate.open |= {id(jobs[0]), id(jobs[1])}
    assert [j.span.start for _, j, _ in stage.drain()] == [0, 1] and enc.embedded == [0.0, 1.0]
    stage.add("/a", jobs[2:])
    assert list(stage.drain()) == []  # 2 waiting, under max_waiting
    stage.add("/a", _numbered(2))  # 4 waiting: drain waits for the oldest batch's words
    out = [j.span.start for _, j, _ in stage.drain()]
    assert out[:2] == [2, 3]
    assert [j.span.start for _, j, _ in stage.drain(final=True)] == [0, 1]  # final waits for all
    assert not stage.queue


def test_background_helper_runs_beside_the_caller_and_times_its_work():
    bg = Background("omnisearch-test", enabled=True)
    try:
        names = bg.submit(lambda: threading.current_thread().name).result(timeout=5)
        assert names.startswith("omnisearch-test") and bg.enabled
        bg.add(0.5)
        assert bg.seconds >= 0.5
        with pytest.raises(ValueError):
            bg.submit(int, "not a number").result(timeout=5)
    finally:
        bg.close()
    inline = Background("omnisearch-test", enabled=False)
    assert inline.submit(lambda: threading.current_thread().name).result() == threading.current_thread().name


def test_malloc_settings_apply_on_glibc():
    import platform

    applied = keep_freed_memory()
    assert applied == (platform.libc_ver()[0] == "glibc")
    assert keep_freed_memory() == applied  # once; calling again changes nothing


@pytest.mark.skipif(not synth.have_tools("ffmpeg"), reason="needs ffmpeg")
def test_decoders_exit_once_their_indexing_process_is_gone(tmp_path):
    import os
    import subprocess
    import sys
    import textwrap
    import time

    wav = synth.tone_wav(tmp_path / "long.wav", freq=440, seconds=120, kind="noise")
    # the owner starts a decoder, takes one message and dies without closing anything (as on SIGKILL);
    # the decoder then holds a 120-s chunk nobody reads, and would wait to hand it over forever
    code = textwrap.dedent(
        f"""
        import multiprocessing as mp, os
        from omnisearch.config import DecodeConfig, SegmentConfig
        from omnisearch.ingest.stages.items import FileTask
        from omnisearch.ingest.stages.reader import read_all
        from omnisearch.media.walk import find_media
        found, _ = find_media([{str(wav)!r}])
        msgs = read_all([FileTask(found[0], "fp")], SegmentConfig(), DecodeConfig(), workers=1)
        next(msgs)
        print(" ".join(str(p.pid) for p in mp.active_children()), flush=True)
        os._exit(0)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    pids = [int(p) for p in out.stdout.split()]
    assert pids, out.stderr[-2000:]

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    deadline = time.time() + 10
    while any(alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.1)
    left = [p for p in pids if alive(p)]
    for p in left:
        os.kill(p, 9)
    assert not left, "a decoder outlived the process it decoded for"


def test_sound_blocks_streamed_on_their_thread_give_the_same_vectors(tmp_path):
    from omnisearch.models import load_encoder
    from omnisearch.models.audio_aisfx import BLOCK_SECONDS, blocks_in_span
    from omnisearch.types import Modality as M

    enc = load_encoder("omni-lite")
    rng = np.random.default_rng(3)
    audio = (rng.standard_normal(16000 * 100) * 0.2).astype(np.float32)  # 100 s: 43 blocks, 2 pieces
    spans = [Span(5.0 * k, 5.0 * k + 10) for k in range(19)]

    def run(background: bool) -> list[np.ndarray]:
        stage = EncodeStage(enc, background=background)
        stage.chunk(ChunkAudio("/a.wav", 0, 0.0, audio))
        stage.add(
            "/a.wav",
            [
                ClipJob(s, EncoderInput(audio=audio[int(s.start * 16000) : int(s.end * 16000)]), s.start, "")
                for s in spans
            ],
        )
        out = [emb.vectors[M.AUDIO] for _, _, emb in stage.drain(final=True)]
        stage.close()
        return out

    streamed, together = run(True), run(False)
    assert len(streamed) == len(spans)
    for a, b in zip(streamed, together, strict=True):
        assert np.allclose(a, b, atol=1e-6)
    # a window is ready from the piece holding the first block past its end, with the same blocks
    (full,) = enc.sound_blocks([audio])
    pieces = list(enc.sound_block_pieces(audio))
    assert len(pieces) == 2 and np.allclose(np.concatenate([p.rows for p in pieces]), full.rows, atol=1e-6)
    from concurrent.futures import Future

    from omnisearch.ingest.stages.encode_stage import _Sound

    sound = _Sound(Future(), [pieces[0]])
    edge = float(pieces[0].starts[-1] + BLOCK_SECONDS / 2)
    assert sound.grid_for(edge + 0.01) is None
    part = sound.grid_for(edge - 0.01)
    assert part is not None
    for s in spans:
        if s.end <= edge:
            got = blocks_in_span(part.starts, BLOCK_SECONDS, s.start, s.end)
            assert list(got) == list(blocks_in_span(full.starts, BLOCK_SECONDS, s.start, s.end))


def test_numpy_blas_runs_on_one_thread_inside_the_stages_only():
    from threadpoolctl import threadpool_info

    from omnisearch.ingest.stages.background import one_blas_thread

    def blas_threads() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    assert before, "numpy links a BLAS"
    with one_blas_thread():
        assert set(blas_threads()) == {1}
    assert blas_threads() == before
