"""Scene-change scores and speech intervals measured on generated media, against naive references."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import synth

from omnisearch.config import SegmentConfig
from omnisearch.media.boundaries import (
    file_spans,
    file_speech,
    load_audio_16k,
    scene_scores,
    speech_intervals,
)
from omnisearch.media.cuts import pause_cuts, shot_cuts
from omnisearch.media.probe import probe
from omnisearch.types import MediaType

pytestmark = pytest.mark.skipif(not synth.have_tools("ffmpeg", "espeak-ng"), reason="needs ffmpeg, espeak-ng")

SHOTS = [("red", 3.0), ("blue", 4.5), ("0x30A030", 2.0), ("white", 5.0), ("0x202060", 3.5)]
W, H = 160, 96


def make_shots(path: Path) -> list[float]:
    """A video of hard cuts between plain colours (testsrc noise overlaid lightly); returns cut times."""
    args, parts = [], []
    for i, (color, secs) in enumerate(SHOTS):
        args += ["-f", "lavfi", "-i", f"color=c={color}:s={W}x{H}:r=25:d={secs}"]
        parts.append(f"[{i}:v]")
    graph = "".join(parts) + f"concat=n={len(SHOTS)}:v=1[v]"
    cmd = ["ffmpeg", "-v", "error", "-y", *args, "-filter_complex", graph, "-map", "[v]"]
    subprocess.run(
        [*cmd, "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(path)], check=True
    )
    return list(np.cumsum([s for _, s in SHOTS])[:-1])


def naive_cuts(path: Path, fps: int = 10, threshold: float = 20.0) -> list[float]:
    """Decode raw RGB at `fps` and mark a cut where the mean absolute pixel change exceeds `threshold`."""
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-vf",
            f"fps={fps}",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, H, W, 3).astype(np.float32)
    diff = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    return [(i + 1) / fps for i in np.flatnonzero(diff > threshold)]


def test_scene_scores_find_the_cuts(tmp_path: Path) -> None:
    video = tmp_path / "shots.mp4"
    truth = make_shots(video)
    found = shot_cuts(scene_scores(str(video)), SegmentConfig().shot_threshold)
    assert found == pytest.approx(naive_cuts(video), abs=0.11)
    assert found == pytest.approx(truth, abs=0.11)
    spans = file_spans(
        str(video), probe(str(video), MediaType.VIDEO), SegmentConfig(mode="shots", max_len=20)
    )
    assert [s.start for s in spans[1:]] == pytest.approx(truth, abs=0.11)
    # a 2 s shot under min_len 2.5 merges into the next one; a max_len of 6 splits the long shots
    cfg = SegmentConfig(mode="shots", min_len=2.5, max_len=6.0)
    spans = file_spans(str(video), probe(str(video), MediaType.VIDEO), cfg)
    assert all(2.5 - 1e-6 <= s.duration <= 6.0 + 1e-6 for s in spans)
    assert not any(abs(s.start - truth[2]) < 0.11 for s in spans), "the cut after the 2 s shot was kept"


UTTERANCES = ["the budget for the warehouse", "hiring plan for support", "a spring launch campaign"]
GAPS = [0.6, 1.5, 1.0, 0.8]  # silence before, between and after the utterances


def make_talk(tmp: Path) -> tuple[Path, list[tuple[float, float]]]:
    """Utterances separated by silences, as one 16 kHz wav; returns it and each utterance's span."""
    pieces, spans, t = [], [], 0.0
    for i, text in enumerate(UTTERANCES):
        pieces.append(np.zeros(int(GAPS[i] * 16000), np.int16))
        t += GAPS[i]
        with wave.open(str(synth.speech_wav(tmp / f"u{i}.wav", text))) as w:
            x = np.frombuffer(w.readframes(w.getnframes()), np.int16)
        loud = np.flatnonzero(np.abs(x) > 300)
        x = x[loud[0] : loud[-1] + 1]  # espeak's own leading and trailing silence cut off
        pieces.append(x)
        spans.append((t, t + len(x) / 16000))
        t += len(x) / 16000
    pieces.append(np.zeros(int(GAPS[-1] * 16000), np.int16))
    out = tmp / "talk.wav"
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(np.concatenate(pieces).tobytes())
    return out, spans


def naive_speech(audio: np.ndarray, hop: int = 320, floor: float = 0.01) -> list[tuple[float, float]]:
    """Runs of 20 ms frames whose RMS exceeds `floor`, closing runs over silences shorter than 0.5 s."""
    rms = np.sqrt(np.mean(audio[: len(audio) // hop * hop].reshape(-1, hop) ** 2, axis=1))
    runs: list[list[float]] = []
    for i in np.flatnonzero(rms > floor):
        t = i * hop / 16000
        if runs and t - runs[-1][1] < 0.5:
            runs[-1][1] = t + hop / 16000
        else:
            runs.append([t, t + hop / 16000])
    return [(a, b) for a, b in runs]


def test_speech_intervals_find_the_pauses(tmp_path: Path) -> None:
    wav, truth = make_talk(tmp_path)
    audio = load_audio_16k(str(wav))
    vad = speech_intervals(audio)
    ref = naive_speech(audio)
    assert len(ref) == len(UTTERANCES), ref
    assert len(vad) == len(UTTERANCES), vad
    cuts = pause_cuts(vad)
    for cut, (_, end), (start, _) in zip(cuts, truth[:-1], truth[1:], strict=True):
        assert end < cut < start, "a cut outside the silence between two utterances"
    assert cuts == pytest.approx(pause_cuts(ref), abs=0.25)
    info = probe(str(wav), MediaType.AUDIO)
    spans = file_spans(str(wav), info, SegmentConfig(mode="speech", min_len=1.0, max_len=20.0))
    assert [s.start for s in spans[1:]] == pytest.approx(cuts, abs=1e-6)
    assert spans[-1].end == pytest.approx(info.duration)


def test_file_speech_in_blocks_matches_the_whole(tmp_path: Path) -> None:
    wav, _ = make_talk(tmp_path)
    whole = pause_cuts(speech_intervals(load_audio_16k(str(wav))))
    for block in (2.5, 4.0, 600.0):
        assert pause_cuts(file_speech(str(wav), block)) == pytest.approx(whole, abs=0.3), block
