"""Measure where a file's content changes, and segment it by `SegmentConfig.mode`.

- `scene_scores(path)`: ffmpeg's scene-change score of each frame of a cheap pass (SCENE_FPS frames/s,
  SCENE_WIDTH pixels wide), as (time, score) pairs; run as a subprocess, no audio decoded.
- `speech_intervals(audio)`: (start, end) seconds of speech in 16 kHz mono audio, by the Silero
  voice-activity model that faster-whisper ships (`faster_whisper.vad`, ONNX, offline);
  `file_speech(path)` runs it over a file's audio streamed from ffmpeg in 10-minute blocks.
- `file_spans(path, info, cfg)`: a file's clip spans: fixed windows, shots or speech (the pure rules
  live in `omnisearch.media.segment` and `omnisearch.media.cuts`).

Example:
    >>> spans = file_spans("talk.mp4", probe("talk.mp4", MediaType.VIDEO), SegmentConfig(mode="speech"))
    ... # doctest: +SKIP
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator

import numpy as np

from omnisearch.config import SAMPLE_RATE, SegmentConfig
from omnisearch.media.cuts import shot_spans, speech_spans
from omnisearch.media.errors import MediaError
from omnisearch.media.segment import segment
from omnisearch.types import MediaInfo, MediaType, Span

SCENE_FPS = 10  # a cut is placed to within 1 / SCENE_FPS s
SCENE_WIDTH = 160
MIN_PAUSE_MS = 500  # a shorter silence is not a pause between utterances
SPEECH_PAD_MS = 100
VAD_BLOCK_SECONDS = 600.0
_FRAME = re.compile(r"pts_time:([-0-9.eE+]+)")
_SCORE = re.compile(r"lavfi\.scene_score=([-0-9.eE+]+)")


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise RuntimeError("ffmpeg is needed for --segment shots/speech (Debian package ffmpeg)")
    return exe


def _run(path: str, args: list[str]) -> bytes:
    cmd = [_ffmpeg(), "-nostdin", "-v", "error", "-i", path, *args]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise MediaError(path, f"ffmpeg failed: {proc.stderr.decode(errors='replace').strip()[-300:]}")
    return proc.stdout


def scene_scores(path: str) -> list[tuple[float, float]]:
    """(time, scene-change score in 0..1) of each frame of a SCENE_FPS, SCENE_WIDTH-wide pass.

    Example:
        >>> [t for t, s in scene_scores("two_shots.mp4") if s > 0.3]  # doctest: +SKIP
        [3.0]
    """
    graph = f"fps={SCENE_FPS},scale={SCENE_WIDTH}:-2,select='gte(scene\\,0)',metadata=print:file=-"
    out = _run(path, ["-an", "-sn", "-dn", "-vf", graph, "-f", "null", "-"]).decode()
    scores: list[tuple[float, float]] = []
    t: float | None = None
    for line in out.splitlines():
        if m := _FRAME.search(line):
            t = float(m.group(1))
        elif (m := _SCORE.search(line)) and t is not None:
            scores.append((round(t, 6), float(m.group(1))))
    return scores


def iter_audio_16k(path: str, block_seconds: float = VAD_BLOCK_SECONDS) -> Iterator[np.ndarray]:
    """The file's audio as float32 16 kHz mono, in blocks of `block_seconds` (an ffmpeg subprocess
    streaming to a pipe, so a 3 h file never sits in memory whole).

    Example:
        >>> sum(len(b) for b in iter_audio_16k("talk.wav")) / 16000  # doctest: +SKIP
        600.0
    """
    args = ["-vn", "-sn", "-dn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "-"]
    cmd = [_ffmpeg(), "-nostdin", "-v", "error", "-i", path, *args]
    n_bytes = int(block_seconds * SAMPLE_RATE) * 2
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        while raw := proc.stdout.read(n_bytes):
            yield np.frombuffer(raw[: len(raw) // 2 * 2], dtype=np.int16).astype(np.float32) / 32768.0
        err = proc.stderr.read().decode(errors="replace").strip()
        if proc.wait() != 0:
            raise MediaError(path, f"ffmpeg failed: {err[-300:]}")


def load_audio_16k(path: str) -> np.ndarray:
    """The whole file's audio as float32 16 kHz mono (for short files and tests).

    Example:
        >>> load_audio_16k("talk.wav").shape  # doctest: +SKIP
        (960000,)
    """
    blocks = list(iter_audio_16k(path))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def file_speech(path: str, block_seconds: float = VAD_BLOCK_SECONDS) -> list[tuple[float, float]]:
    """(start, end) seconds of the speech in a file, found block by block (`block_seconds`); an
    utterance cut by a block boundary is joined again (gap under MIN_PAUSE_MS).

    Example:
        >>> file_speech("talk.wav")[:1]  # doctest: +SKIP
        [(0.52, 3.9)]
    """
    out: list[tuple[float, float]] = []
    offset = 0.0
    for block in iter_audio_16k(path, block_seconds):
        for a, b in speech_intervals(block):
            a, b = a + offset, b + offset
            if out and a - out[-1][1] < MIN_PAUSE_MS / 1000:
                out[-1] = (out[-1][0], max(out[-1][1], b))
            else:
                out.append((a, b))
        offset += len(block) / SAMPLE_RATE
    return out


def speech_intervals(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> list[tuple[float, float]]:
    """(start, end) seconds of the speech in mono `audio` (Silero VAD from faster-whisper).

    Example:
        >>> speech_intervals(np.zeros(16000, dtype=np.float32))
        []
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if audio.size == 0:
        return []
    opts = VadOptions(min_silence_duration_ms=MIN_PAUSE_MS, speech_pad_ms=SPEECH_PAD_MS)
    stamps = get_speech_timestamps(np.ascontiguousarray(audio, dtype=np.float32), opts, sample_rate)
    return [(s["start"] / sample_rate, s["end"] / sample_rate) for s in stamps]


def file_spans(path: str, info: MediaInfo, cfg: SegmentConfig) -> list[Span]:
    """A file's clip spans by `cfg.mode`. Shots need a video stream and speech an audio stream: without
    one, the file is cut by `max_len` alone. An image is one empty span."""
    if info.media_type == MediaType.IMAGE:
        return [Span(0.0, 0.0)]
    if cfg.mode == "shots":
        scores = scene_scores(path) if info.has_video else []
        return shot_spans(info.duration, scores, cfg)
    if cfg.mode == "speech":
        speech = file_speech(path) if info.has_audio else []
        return speech_spans(info.duration, speech, cfg)
    return segment(info.duration, cfg)
