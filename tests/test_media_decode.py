"""probe / decode on files made by ffmpeg and PIL in the test, plus the shared real media when present."""

from __future__ import annotations

import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from omnisearch.config import DecodeConfig, SegmentConfig
from omnisearch.media.audio import StreamResampler
from omnisearch.media.decode import (
    DecodedClip,
    FrameReader,
    decode_audio,
    decode_file_clips,
    decode_frames,
    decode_span,
)
from omnisearch.media.errors import MediaError
from omnisearch.media.probe import probe
from omnisearch.media.resample import resample as _resample
from omnisearch.media.segment import segment
from omnisearch.types import MediaType, Span

SR = 16_000
SHARED = Path(__file__).resolve().parents[2] / "shared" / "media"
pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")

TESTSRC = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"]
FILES = {
    "av": "av.mp4",
    "mkv": "av.mkv",
    "mute": "mute.mp4",
    "raw": "raw.h264",
    "png": "img.png",
    "corrupt": "bad.mp4",
    "empty": "empty.mp4",
    "badpng": "bad.png",
    **{ext: f"tone.{ext}" for ext in ("wav", "flac", "ogg", "mp3", "m4a", "opus")},
}
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def sine(freq: int, rate: int = 44100) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate={rate}"]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("media")
    p = {key: str(d / name) for key, name in FILES.items()}
    ffmpeg(*TESTSRC, *sine(440), "-t", "3", *X264, "-c:a", "aac", "-ac", "2", p["av"])
    ffmpeg(*TESTSRC, *sine(440, 48000), "-t", "3", *X264, "-c:a", "libopus", p["mkv"])  # 1 ms timestamps
    ffmpeg(*TESTSRC, "-t", "2", *X264, p["mute"])
    ffmpeg(*TESTSRC, "-t", "1", *X264, "-f", "h264", p["raw"])  # no timestamps, no duration
    ffmpeg(*sine(440), "-t", "1", "-ac", "2", p["wav"], "-t", "1", p["flac"], "-t", "1", p["mp3"])
    ffmpeg(*sine(440, 48000), "-t", "1", "-c:a", "libvorbis", p["ogg"], "-t", "1", p["opus"])
    ffmpeg(*sine(440, 22050), "-t", "1", "-c:a", "aac", p["m4a"])
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 100, 3), dtype=np.uint8)).save(p["png"])
    Path(p["corrupt"]).write_bytes(np.random.default_rng(1).bytes(20_000))
    Path(p["empty"]).write_bytes(b"")
    Path(p["badpng"]).write_bytes(b"\x89PNG\r\n\x1a\n" + np.random.default_rng(2).bytes(500))
    return p


def peak_hz(x: np.ndarray, rate: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


# -- probe ---------------------------------------------------------------------------------------------


def test_probe_video_with_audio(media: dict[str, str]) -> None:
    info = probe(media["av"], MediaType.VIDEO)
    assert info.duration == pytest.approx(3.0, abs=0.1)
    assert (info.has_video, info.has_audio, info.width, info.height) == (True, True, 320, 240)
    assert info.fps == pytest.approx(25.0)


def test_probe_video_without_audio_and_raw_stream(media: dict[str, str]) -> None:
    info = probe(media["mute"], MediaType.VIDEO)
    assert (info.has_video, info.has_audio) == (True, False)
    assert info.duration == pytest.approx(2.0, abs=0.1)
    raw = probe(media["raw"], MediaType.VIDEO)  # found by decoding to the end
    assert raw.duration == pytest.approx(1.0, abs=0.1)


def test_probe_image_and_audio(media: dict[str, str]) -> None:
    img = probe(media["png"], MediaType.IMAGE)
    assert (img.duration, img.has_video, img.has_audio, img.width, img.height) == (0.0, True, False, 100, 60)
    audio = probe(media["opus"], MediaType.AUDIO)
    assert (audio.has_video, audio.has_audio) == (False, True)
    assert audio.duration == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(
    ("key", "media_type", "reason"),
    [
        ("corrupt", MediaType.VIDEO, "not a valid media file"),
        ("empty", MediaType.VIDEO, "empty file"),
        ("badpng", MediaType.IMAGE, "image"),
    ],
)
def test_probe_errors(media: dict[str, str], key: str, media_type: MediaType, reason: str) -> None:
    with pytest.raises(MediaError) as err:
        probe(media[key], media_type)
    assert reason in err.value.reason and err.value.path == media[key]


def test_probe_missing_file_and_error_pickles(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="file not found"):
        probe(str(tmp_path / "nope.mkv"), MediaType.VIDEO)
    err = pickle.loads(pickle.dumps(MediaError("/x.mp4", "broken")))
    assert (err.path, err.reason, str(err)) == ("/x.mp4", "broken", "/x.mp4: broken")


# -- frames --------------------------------------------------------------------------------------------


def test_decode_frames_shapes_and_motion(media: dict[str, str]) -> None:
    frames = decode_frames(media["av"], [0.1, 1.0, 2.0, 2.9], 160)
    assert frames.shape == (4, 120, 160, 3) and frames.dtype == np.uint8
    diffs = [np.abs(frames[i].astype(int) - frames[i + 1]).mean() for i in range(3)]
    assert min(diffs) > 1.0  # testsrc moves and counts: every frame differs
    assert decode_frames(media["av"], [0.5], 1000).shape == (1, 240, 320, 3)  # never upscaled
    assert decode_frames(media["av"], [], 160).shape[0] == 0


def test_frames_clamped_past_the_end(media: dict[str, str]) -> None:
    late = decode_frames(media["mute"], [1.99, 50.0], 0)
    assert late.shape == (2, 240, 320, 3)
    assert np.array_equal(late[0], late[1])  # both the last frame


def test_frame_reader_reads_unsorted_repeated_and_backward_times(media: dict[str, str]) -> None:
    times = [0.0, 0.5, 2.9, 1.3, 1.3]  # unsorted, repeated, and a gap that makes PyAV seek
    with FrameReader(media["av"], 160) as b:
        fb = b.read(times)
        again = b.read([0.03, 2.9])  # backwards: PyAV seeks back
    with FrameReader(media["av"], 160) as fresh:  # a naive reference: one time per fresh reader
        one_by_one = np.stack([fresh.read([t])[0] for t in times])
    assert fb.shape == (5, 120, 160, 3)
    assert np.array_equal(fb, one_by_one)
    assert np.array_equal(fb[3], fb[4]) and np.array_equal(again[1], fb[2])
    assert np.array_equal(again[0], fb[0])  # 0.03 s is still the first frame at 25 fps


def test_raw_stream_without_timestamps_is_timed_by_index(media: dict[str, str]) -> None:
    with FrameReader(media["raw"], 0) as raw:
        got = raw.read([0.1, 0.9, 0.5])
    want = decode_frames(media["mute"], [0.1, 0.9, 0.5], 0)  # same testsrc content, with timestamps
    assert np.abs(got.astype(int) - want).mean() < 2.0
    assert decode_frames(media["raw"], [0.5], 0).shape == (1, 240, 320, 3)


def test_decode_frames_image_and_errors(media: dict[str, str]) -> None:
    img = decode_frames(media["png"], [0.0, 1.0], 50)
    assert img.shape == (1, 30, 50, 3) and img.dtype == np.uint8
    for key in ("corrupt", "empty", "badpng"):
        with pytest.raises(MediaError):
            decode_frames(media[key], [0.0], 64)
    with pytest.raises(MediaError, match="no video stream"):
        decode_frames(media["wav"], [0.0], 64)


# -- audio ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["wav", "flac", "ogg", "mp3", "m4a", "opus"])
def test_decode_audio_formats(media: dict[str, str], key: str) -> None:
    wav = decode_audio(media[key])
    assert wav.dtype == np.float32 and wav.ndim == 1
    assert abs(len(wav) - SR) < 0.06 * SR, len(wav)
    assert peak_hz(wav) == pytest.approx(440, abs=3)
    assert 0.05 < np.abs(wav).max() <= 1.01


@pytest.mark.parametrize("key", ["av", "mkv"])
def test_decode_audio_slices_match_whole(media: dict[str, str], key: str) -> None:
    whole = decode_audio(media[key])
    assert abs(len(whole) - 3 * SR) < 0.05 * SR
    assert peak_hz(whole) == pytest.approx(440, abs=3)
    for start in (1.5, 1.77):  # seeks (start > 1 s)
        part = decode_audio(media[key], start, start + 1.0)
        assert len(part) == SR
        s0 = round(start * SR)
        np.testing.assert_allclose(part, whole[s0 : s0 + SR], atol=1e-4)
    assert len(decode_audio(media[key], 2.5, 99.0)) == len(whole) - int(2.5 * SR)
    assert len(decode_audio(media[key], 2.0, 1.0)) == 0
    assert decode_audio(media["mute"]).shape == (0,)
    with pytest.raises(MediaError, match="not a valid media file"):
        decode_audio(media["corrupt"])


def test_stream_resampler_equals_whole_signal() -> None:
    import torch
    import torchaudio

    x = np.random.default_rng(3).standard_normal(23_456).astype(np.float32)
    for orig in (44100, 48000, 22050, 16000):
        want = _resample(x, orig, SR) if orig != SR else x
        reference = torchaudio.functional.resample(torch.from_numpy(x), orig, SR).numpy()
        np.testing.assert_allclose(want, reference, atol=1e-4)  # the cached-kernel module = functional
        rs = StreamResampler(orig, SR, block_seconds=0.2)
        pieces, i, rng = [], 0, np.random.default_rng(orig)
        while i < len(x):
            n = int(rng.integers(1, 3000))
            pieces.append(rs.push(x[i : i + n]))
            i += n
        got = np.concatenate([*pieces, rs.flush()])
        assert len(got) == len(want)
        np.testing.assert_allclose(got, want, atol=1e-5)


# -- clips ---------------------------------------------------------------------------------------------


def file_clips(*args: object, **kwargs: object) -> list[DecodedClip]:
    """Every clip `decode_file_clips` yields, chunk after chunk."""
    return [clip for chunk in decode_file_clips(*args, **kwargs) for clip in chunk.clips]


@pytest.mark.parametrize("chunk_seconds", [600.0, 1.0])
def test_decode_file_clips_matches_decode_span(media: dict[str, str], chunk_seconds: float) -> None:
    info = probe(media["av"], MediaType.VIDEO)
    cfg = DecodeConfig(frames=4, frame_size=96)
    spans = segment(info.duration, SegmentConfig(window=1.0, overlap=0.5, min_tail=0.2))
    gen = decode_file_clips(media["av"], info, spans, cfg, chunk_seconds)
    chunks = [(c, list(c.clips)) for c in gen]  # each chunk's clips taken before the next chunk
    assert len(chunks) == (1 if chunk_seconds > 3 else 3)
    clips = [clip for _, got in chunks for clip in got]
    assert [c.span for c in clips] == spans
    whole = decode_audio(media["av"])
    for chunk, _ in chunks:
        s0 = round(chunk.start * SR)
        np.testing.assert_allclose(chunk.audio, whole[s0 : s0 + len(chunk.audio)], atol=1e-4)
    for clip in clips:
        assert clip.frames is not None and clip.frames.shape == (4, 72, 96, 3)
        s0, s1 = round(clip.span.start * SR), round(clip.span.end * SR)
        np.testing.assert_allclose(clip.audio, whole[s0:s1], atol=1e-4)
    for i in (0, 2, len(spans) - 1):  # a query or benchmark item decodes a span exactly as ingest did
        single = decode_span(media["av"], MediaType.VIDEO, spans[i], cfg)
        assert np.array_equal(single.frames, clips[i].frames) and single.frame_times == clips[i].frame_times
        np.testing.assert_allclose(single.audio, clips[i].audio, atol=1e-4)
    with pytest.raises(ValueError, match="sorted"):
        file_clips(media["av"], info, spans[::-1], cfg)
    gen = decode_file_clips(media["av"], info, spans, cfg, chunk_seconds=1.0)
    chunk = next(gen)
    next(chunk.clips)
    gen.close()
    with pytest.raises(ValueError, match="closed"):  # the file's reader is closed with its generator
        next(chunk.clips)


def test_clips_without_audio_and_images(media: dict[str, str]) -> None:
    info = probe(media["mute"], MediaType.VIDEO)
    clips = file_clips(media["mute"], info, [Span(0, 1), Span(1, 2)], DecodeConfig(frames=2))
    assert [c.audio for c in clips] == [None, None] and clips[0].frames.shape == (2, 240, 320, 3)
    img = probe(media["png"], MediaType.IMAGE)
    (clip,) = file_clips(media["png"], img, segment(img.duration, SegmentConfig()), DecodeConfig())
    assert clip.frames.shape == (1, 60, 100, 3) and clip.audio is None and clip.frame_times == [0.0]
    assert decode_span(media["png"], MediaType.IMAGE).frames.shape == (1, 60, 100, 3)
    audio = probe(media["wav"], MediaType.AUDIO)
    (chunk,) = decode_file_clips(media["wav"], audio, [Span(0, 1)], DecodeConfig())
    (clip,) = chunk.clips
    assert clip.frames is None and clip.frame_times == [] and len(clip.audio) == SR == len(chunk.audio)


def test_decode_file_clips_errors(media: dict[str, str]) -> None:
    info = probe(media["av"], MediaType.VIDEO)
    for key in ("corrupt", "empty"):
        with pytest.raises(MediaError):
            file_clips(media[key], info, [Span(0, 1)], DecodeConfig())


# -- real media from ../shared (skipped when absent) ------------------------------------------------------


def shared(name: str) -> str:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return str(path)


def test_real_pancake_video() -> None:
    path = shared("flipping_a_pancake.mkv")
    info = probe(path, MediaType.VIDEO)
    assert info.duration == pytest.approx(10.38, abs=0.05) and info.has_audio and info.has_video
    assert (info.width, info.height) == (426, 240)
    spans = segment(info.duration, SegmentConfig(window=5.0, overlap=0.0))
    clips = file_clips(path, info, spans, DecodeConfig(frames=4, frame_size=224))
    assert len(clips) == 2 and clips[-1].span.end == info.duration
    assert clips[0].frames.shape == (4, 126, 224, 3)
    assert sum(len(c.audio) for c in clips) == pytest.approx(info.duration * SR, rel=0.01)
    assert np.abs(clips[0].audio).max() > 0.01  # not silence
    whole = np.concatenate([c.audio for c in clips])
    np.testing.assert_allclose(decode_audio(path, 8.0, 9.0), whole[8 * SR : 9 * SR], atol=1e-4)


def test_real_video_without_audio() -> None:
    path = shared("demo_no_audio.mp4")
    info = probe(path, MediaType.VIDEO)
    assert not info.has_audio and info.duration == pytest.approx(10.0, abs=0.1)
    assert decode_audio(path).shape == (0,)
    frames = decode_frames(path, [1.0, 9.0], 224)
    assert frames.shape == (2, 169, 224, 3) and np.abs(frames[0].astype(int) - frames[1]).mean() > 1.0


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_intra_only_and_b_frame_videos_both_give_their_frames(tmp_path: Path) -> None:
    """B-frames nobody refers to are skipped for H.264 only; an intra-only codec decodes every frame."""
    times = [0.05, 0.5, 1.0, 1.5, 1.9]
    got = {}
    for name, codec in (("b.mp4", ["-c:v", "libx264", "-bf", "3"]), ("i.avi", ["-c:v", "mjpeg"])):
        out = tmp_path / name
        src = "testsrc=duration=2:size=160x90:rate=25"
        cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", src, *codec, str(out)]
        subprocess.run(cmd, check=True)
        frames = decode_frames(str(out), times, 160)
        assert frames.shape == (len(times), 90, 160, 3)
        assert all(not np.array_equal(frames[i], frames[i + 1]) for i in range(len(times) - 1))  # moving
        got[name] = frames
    # the same moments of the same picture, whichever frames were decoded (within 2 frames of 25 fps)
    assert np.abs(got["b.mp4"].astype(int) - got["i.avi"].astype(int)).mean() < 40
