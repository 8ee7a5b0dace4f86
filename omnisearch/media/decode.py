"""Decode frames and audio of clips.

Frames: decord first (`VideoReader.get_batch`), PyAV (seek, then decode forward) when decord cannot
open or read the file. The frame returned for time t is the one on screen at t (the last frame starting
at or before t), clamped to the first/last frame. Frames are RGB uint8 (N, H, W, 3), scaled down with
PIL (bilinear, antialiased) so the longer side is `size`, aspect kept; frames already no larger than
`size` are kept as they are (never upscaled); `size <= 0` keeps the original size. An image gives one
frame whatever `times` holds.

Audio: see `omnisearch.media.audio` (PyAV decode, mean downmix, torchaudio resample, 16 kHz mono).
`decode_file_clips` decodes the audio track once in a single streaming pass (bounded memory for any
length) and keeps one frame reader open for the whole file.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from omnisearch.config import IMAGE_EXTS, DecodeConfig
from omnisearch.media.audio import decode_audio, import_torch, iter_resampled
from omnisearch.media.errors import MediaError, describe_av_error
from omnisearch.media.segment import evenly_spaced_times
from omnisearch.types import MediaInfo, MediaType, Span

__all__ = ["DecodedClip", "decode_audio", "decode_clip", "decode_file_clips", "decode_frames"]

SEEK_GAP_S = 2.0  # PyAV path: decode forward instead of seeking when the next time is this close


@dataclass
class DecodedClip:
    """Decoded content of one span: frames (N,H,W,3) uint8 or None, their times, 16 kHz mono or None."""

    frames: np.ndarray | None
    frame_times: list[float]
    audio: np.ndarray | None
    span: Span | None = None


def fit_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) scaled down so the longer side is `size`; unchanged when it already fits.

    Example:
        >>> fit_size(640, 360, 224), fit_size(100, 50, 224)
        ((224, 126), (100, 50))
    """
    longest = max(width, height)
    if size <= 0 or longest <= size:
        return width, height
    scale = size / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _resize(rgb: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    h, w = rgb.shape[:2]
    tw, th = fit_size(w, h, size)
    if (tw, th) == (w, h):
        return np.ascontiguousarray(rgb, dtype=np.uint8)
    return np.asarray(Image.fromarray(rgb).resize((tw, th), Image.Resampling.BILINEAR))


def _load_image(path: str, size: int) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"))
    except Exception as exc:
        raise MediaError(path, describe_av_error(exc)) from exc
    return _resize(rgb, size)[None]


class _DecordReader:
    def __init__(self, path: str) -> None:
        import decord

        self.vr = decord.VideoReader(path, ctx=decord.cpu(0))
        self.count = len(self.vr)
        self.fps = float(self.vr.get_avg_fps())
        if self.count <= 0 or not self.fps > 0:
            raise RuntimeError(f"decord sees {self.count} frames at {self.fps} fps")

    def read(self, times: list[float]) -> list[np.ndarray]:
        idx = [min(self.count - 1, max(0, int(t * self.fps + 1e-6))) for t in times]
        return list(self.vr.get_batch(idx).asnumpy())

    def close(self) -> None:
        del self.vr


class _PyAVReader:
    """Seek (backward, to a keyframe) then decode forward; close times are reached by decoding on.

    Frames are handled as (time, frame) with time relative to the container start; frames without
    timestamps (raw elementary streams) are timed by their index / fps, and such streams, like any
    whose seek fails, are re-read from the start instead of seeking.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.seekable = True
        self._open()

    def _open(self) -> None:
        import av

        from omnisearch.media.probe import is_cover_art

        self.container = av.open(self.path)
        streams = [s for s in self.container.streams.video if not is_cover_art(s)]
        if not streams:
            self.container.close()
            raise MediaError(self.path, "no video stream")
        self.stream = streams[0]
        self.stream.thread_type = "AUTO"
        start = self.container.start_time
        self.origin = start / 1_000_000 if start is not None else 0.0
        rate = self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate
        self.fps = float(rate) if rate else 25.0
        self._it: Iterator[tuple[float, Any]] | None = None
        self._prev: tuple[float, Any] | None = None  # last frame at or before the previous target
        self._next: tuple[float, Any] | None = None  # the first frame after it, already decoded

    def _frames(self, from_start: bool) -> Iterator[tuple[float, Any]]:
        index = 0
        for packet in self.container.demux(self.stream):
            for frame in packet.decode():
                if frame.time is not None:
                    yield float(frame.time) - self.origin, frame
                elif from_start:
                    self.seekable = False
                    yield index / self.fps, frame
                index += 1

    def _restart(self, t: float) -> None:
        if self.seekable and t > 0:
            try:
                pts = int((t + self.origin) / self.stream.time_base)
                self.container.seek(pts, stream=self.stream, backward=True)
                self._it, self._prev, self._next = self._frames(False), None, None
                return
            except Exception:
                self.seekable = False
        self.container.close()
        self._open()
        self._it = self._frames(True)

    def _frame_at(self, t: float) -> Any:
        prev, nxt = self._prev, self._next
        if self._it is None or (prev is None and nxt is None) or (prev is not None and prev[0] > t + 1e-6):
            self._restart(t)
        elif prev is not None and t - prev[0] > SEEK_GAP_S and self.seekable:
            self._restart(t)
        cur = self._next
        while True:
            if cur is None:
                cur = next(self._it, None)
                if cur is None:
                    break
            if cur[0] <= t + 1e-6:
                self._prev, cur = cur, None
                continue
            break
        self._next = cur
        chosen = self._prev if self._prev is not None else self._next
        if chosen is None:
            raise ValueError(f"no frame decodable at {t:.3f}s")
        return chosen[1]

    def read(self, times: list[float]) -> list[np.ndarray]:
        out: list[np.ndarray | None] = [None] * len(times)
        for i in sorted(range(len(times)), key=times.__getitem__):
            out[i] = self._frame_at(times[i]).to_ndarray(format="rgb24")
        return [x for x in out if x is not None]

    def close(self) -> None:
        self.container.close()


class FrameReader:
    """Frames of one video file at given times; keeps the decoder open between calls.

    `backend`: "decord" (PyAV when decord fails) or "pyav". With `cache=True` resized frames are kept by
    time so overlapping spans reuse them; `evict_before(t)` frees those no later request needs.

    Example:
        >>> with FrameReader("movie.mp4", 224) as reader:  # doctest: +SKIP
        ...     reader.read([0.5, 1.5]).shape
        (2, 126, 224, 3)
    """

    def __init__(self, path: str, size: int, backend: str = "decord", cache: bool = False) -> None:
        if backend not in ("decord", "pyav"):
            raise ValueError(f"backend must be 'decord' or 'pyav', got {backend!r}")
        self.path, self.size, self.cache = str(path), size, cache
        self.backend = backend
        self._reader: Any = None
        self._frames: dict[float, np.ndarray] = {}
        if backend == "decord":
            try:
                self._reader = _DecordReader(self.path)
                return
            except Exception:
                pass
        self._use_pyav()

    def _use_pyav(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self.backend = "pyav"
        try:
            self._reader = _PyAVReader(self.path)
        except MediaError:
            self._reader = None
            raise
        except Exception as exc:
            self._reader = None
            raise MediaError(self.path, describe_av_error(exc)) from exc

    def _read_raw(self, times: list[float]) -> list[np.ndarray]:
        try:
            return self._reader.read(times)
        except Exception as exc:
            if self.backend != "decord":
                raise MediaError(self.path, describe_av_error(exc)) from exc
        self._use_pyav()
        try:
            return self._reader.read(times)
        except Exception as exc:
            raise MediaError(self.path, describe_av_error(exc)) from exc

    def read(self, times: list[float]) -> np.ndarray:
        """(N, H, W, 3) uint8 frames for the N times (seconds)."""
        times = [round(max(0.0, float(t)), 6) for t in times]
        if not times:
            return np.zeros((0, 0, 0, 3), np.uint8)
        missing = sorted({t for t in times if t not in self._frames})
        got = dict(zip(missing, (_resize(f, self.size) for f in self._read_raw(missing)), strict=True))
        out = np.stack([got[t] if t in got else self._frames[t] for t in times])
        if self.cache:
            self._frames.update(got)
        return out

    def evict_before(self, t: float) -> None:
        """Forget cached frames earlier than `t` seconds."""
        self._frames = {k: v for k, v in self._frames.items() if k >= t}

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_image(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_EXTS


def decode_frames(path: str, times: list[float], size: int) -> np.ndarray:
    """RGB uint8 frames (N, H, W, 3) on screen at `times`, longer side scaled down to `size`.

    Example:
        >>> decode_frames("movie.mp4", [0.0, 5.0], 224).shape  # doctest: +SKIP
        (2, 126, 224, 3)
    """
    path = str(path)
    if _is_image(path):
        return _load_image(path, size)
    if not os.path.isfile(path):
        raise MediaError(path, "file not found")
    with FrameReader(path, size) as reader:
        return reader.read(list(times))


def _frame_times(info: MediaInfo, span: Span, cfg: DecodeConfig) -> list[float]:
    if info.media_type == MediaType.IMAGE:
        return [0.0]
    return evenly_spaced_times(span, cfg.frames)


def decode_clip(path: str, info: MediaInfo, span: Span, cfg: DecodeConfig) -> DecodedClip:
    """Frames and audio of one span (frames None without video, audio None without audio).

    Example:
        >>> clip = decode_clip(p, probe(p, MediaType.VIDEO), Span(0, 10), DecodeConfig())  # doctest: +SKIP
        >>> clip.frames.shape, clip.audio.shape  # doctest: +SKIP
        ((8, 126, 224, 3), (160000,))
    """
    times = _frame_times(info, span, cfg)
    frames = decode_frames(path, times, cfg.frame_size) if info.has_video else None
    audio = None
    if info.has_audio and info.media_type != MediaType.IMAGE:
        audio = decode_audio(path, span.start, span.end, cfg.sample_rate)
    return DecodedClip(frames, times if frames is not None else [], audio, span)


class _AudioCursor:
    """Slices of a forward-only stream of sample blocks; drops samples no later slice can need."""

    def __init__(self, blocks: Generator[np.ndarray, None, None]) -> None:
        self.blocks = blocks
        self.buf = np.zeros(0, np.float32)
        self.start = 0  # absolute index of buf[0]
        self.done = False

    def _drop_before(self, s0: int) -> None:
        if s0 > self.start:
            cut = min(s0 - self.start, len(self.buf))
            self.buf, self.start = self.buf[cut:], self.start + cut

    def take(self, s0: int, s1: int) -> np.ndarray:
        if s0 < self.start:
            raise ValueError("spans must be sorted by start")
        self._drop_before(s0)
        while self.start + len(self.buf) < s1 and not self.done:
            block = next(self.blocks, None)
            if block is None:
                self.done = True
                break
            self.buf = np.concatenate([self.buf, block]) if len(self.buf) else block
            self._drop_before(s0)
        return self.buf[s0 - self.start : max(s0, s1) - self.start].copy()


def decode_file_clips(
    path: str, info: MediaInfo, spans: list[Span], cfg: DecodeConfig, backend: str = "decord"
) -> Iterator[DecodedClip]:
    """Decode every span of one file, in order: audio track decoded once, one frame reader for all.

    Spans not sorted by start are decoded one by one with `decode_clip` instead.

    Example:
        >>> spans = segment(info.duration, SegmentConfig())  # doctest: +SKIP
        >>> for clip in decode_file_clips(path, info, spans, DecodeConfig()): ...  # doctest: +SKIP
    """
    path = str(path)
    if any(b.start < a.start for a, b in zip(spans, spans[1:], strict=False)):
        for span in spans:
            yield decode_clip(path, info, span, cfg)
        return
    if info.media_type == MediaType.IMAGE:
        frames = _load_image(path, cfg.frame_size)
        for span in spans:
            yield DecodedClip(frames.copy(), [0.0], None, span)
        return
    if info.has_audio and info.has_video:
        import_torch()  # before decord opens the file (see import_torch)
    reader = FrameReader(path, cfg.frame_size, backend, cache=True) if info.has_video else None
    cursor = _AudioCursor(iter_resampled(path, cfg.sample_rate)) if info.has_audio else None
    sr = cfg.sample_rate
    try:
        for span in spans:
            times = evenly_spaced_times(span, cfg.frames)
            frames = None
            if reader is not None:
                reader.evict_before(span.start)
                frames = reader.read(times)
            audio = cursor.take(round(span.start * sr), round(span.end * sr)) if cursor else None
            yield DecodedClip(frames, times if frames is not None else [], audio, span)
    finally:
        if reader is not None:
            reader.close()
        if cursor is not None:
            cursor.blocks.close()
