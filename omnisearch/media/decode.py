"""The clip source: (file, span, decode settings) -> a decoded clip (frames, 16 kHz mono audio, sidecar
text), the one way ingest, queries, evaluation and the training caches decode media.

One frame rule: `DecodeConfig.frames` evenly spaced times over the span (`evenly_spaced_times`); one
backend: PyAV (seek, then decode forward). `decode_span` decodes one span (a query, a benchmark item);
`decode_file_clips` decodes all of a file's spans chunk by chunk for ingest, sharing frames between
overlapping windows. Both give the same frames and audio for the same span.

The frame returned for time t is the one on screen at t (the last frame starting at or before t),
clamped to the first/last frame. Frames are RGB uint8 (N, H, W, 3), scaled down with PIL (bilinear,
antialiased) so the longer side is `size`, aspect kept; frames already no larger than `size` are kept as
they are (never upscaled); `size <= 0` keeps the original size. An image gives one
frame whatever `times` holds.

Audio: see `omnisearch.media.audio` (PyAV decode, mean downmix, torchaudio resample, 16 kHz mono).
`decode_file_clips` decodes a whole file's clips chunk by chunk (bounded memory for any length): each
chunk's audio is decoded once, and one frame reader stays open for the whole file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from omnisearch.config import IMAGE_EXTS, DecodeConfig
from omnisearch.media.audio import decode_audio
from omnisearch.media.errors import MediaError, describe_av_error
from omnisearch.media.probe import load_image
from omnisearch.media.segment import evenly_spaced_times
from omnisearch.media.sidecar import sidecar_text
from omnisearch.types import MediaInfo, MediaType, Span

__all__ = ["DecodedChunk", "DecodedClip", "decode_audio", "decode_file_clips", "decode_frames", "decode_span"]

SEEK_GAP_S = 2.0  # PyAV path: decode forward instead of seeking when the next time is this close
# codecs whose non-reference frames are only ever B-frames between decoded ones (not intra-only
# codecs, whose frames may all be flagged non-reference)
SKIP_NONREF_CODECS = frozenset({"h264", "hevc", "mpeg4", "mpeg2video", "mpeg1video"})


@dataclass
class DecodedClip:
    """Decoded content of one span: frames (N,H,W,3) uint8 or None, their times, 16 kHz mono or None."""

    frames: np.ndarray | None
    frame_times: list[float]
    audio: np.ndarray | None
    span: Span | None = None
    text: str = ""  # the sidecars' words (subtitles, transcripts) inside the span


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
    img, _ = load_image(path, size)  # large JPEGs decode reduced; huge images are refused
    return _resize(np.asarray(img), size)[None]


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
        # one decoding thread per file: frame threads cost more CPU than they save when the other cores
        # are the encoder's (8.8 s against 9.4 s for a 10-min H.264 video on 2 cores)
        self.stream.thread_type = "SLICE"
        if self.stream.codec_context.name in SKIP_NONREF_CODECS:
            # B-frames no other frame refers to are not decoded: half the work for H.264 (4.9 against
            # 8.8 s). Which frames are decoded does not depend on where decoding starts, so a seeked
            # span picks the frames a from-the-start pass picks.
            self.stream.codec_context.skip_frame = "NONREF"
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

    PyAV (seek, then decode forward). With `cache=True` resized frames are kept by
    time so overlapping spans reuse them; `evict_before(t)` frees those no later request needs.

    Example:
        >>> with FrameReader("movie.mp4", 224) as reader:  # doctest: +SKIP
        ...     reader.read([0.5, 1.5]).shape
        (2, 126, 224, 3)
    """

    def __init__(self, path: str, size: int, cache: bool = False) -> None:
        self.path, self.size, self.cache = str(path), size, cache
        self._reader: Any = None
        self._frames: dict[float, np.ndarray] = {}
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
        except MediaError:
            raise
        except Exception as exc:
            raise MediaError(self.path, describe_av_error(exc)) from exc

    def read(self, times: list[float]) -> np.ndarray:
        """(N, H, W, 3) uint8 frames for the N times (seconds)."""
        if self._reader is None:
            raise ValueError(f"{self.path}: FrameReader is closed")
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


def decode_span(
    path: str,
    media_type: MediaType,
    span: Span | None = None,
    cfg: DecodeConfig | None = None,
    *,
    frames: bool = True,
    audio: bool = True,
    max_seconds: float | None = None,
    sidecars: tuple[str, ...] | list[str] = (),
) -> DecodedClip:
    """Decode one span of a file the way ingest decodes its clips (same frame times, same frames, same
    audio). `span` None: the whole file, or its first `max_seconds`; an infinite end: to the file's end.
        `frames` / `audio` False leave that modality out; a file without it gives None. `sidecars`: subtitle
    / text files whose words in the span
    become `text`. MediaError for a file that cannot be read.

    Example:
        >>> cfg = DecodeConfig(frames=4)
        >>> clip = decode_span("talk.mp4", MediaType.VIDEO, Span(8, 16), cfg)  # doctest: +SKIP
        >>> clip.frames.shape, clip.audio.shape  # doctest: +SKIP
        ((4, 180, 320, 3), (128000,))
    """
    from omnisearch.media.probe import probe

    path, cfg = str(path), cfg or DecodeConfig()
    info = probe(path, media_type)
    if span is None:
        end = info.duration if max_seconds is None else min(info.duration, max_seconds)
        span = Span(0.0, max(0.0, end))
    elif span.end == float("inf"):  # from `start` to the file's end
        span = Span(span.start, max(span.start, info.duration))
    times: list[float] = []
    pixels = None
    if frames and info.has_video:
        times = [0.0] if media_type == MediaType.IMAGE else evenly_spaced_times(span, cfg.frames)
        pixels = decode_frames(path, times, cfg.frame_size)
    sound = None
    if audio and info.has_audio and media_type != MediaType.IMAGE:
        sound = decode_audio(path, span.start, span.end, cfg.sample_rate)
        sound = sound if len(sound) else None
    text = sidecar_text(list(sidecars), span) if sidecars else ""
    return DecodedClip(pixels, times if pixels is not None else [], sound, span, text)


CHUNK_SECONDS = 600.0  # decode_file_clips: audio decoded per chunk of a long file


@dataclass
class DecodedChunk:
    """One chunk of a file: its audio (mono from `start` seconds to its last clip's end; None without
    audio) and its clips, decoded lazily (each clip's frames are read when it is taken)."""

    start: float
    audio: np.ndarray | None
    clips: Iterator[DecodedClip]


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


def _chunk_audio(path: str, info: MediaInfo, c0: float, spans: list[Span], sr: int) -> np.ndarray | None:
    """Audio from `c0` to the end of the chunk's last clip; None without audio."""
    if not info.has_audio:
        return None
    audio = decode_audio(path, c0, max(s.end for s in spans), sr)
    return audio if len(audio) else None


def _iter_clips(
    path: str,
    info: MediaInfo,
    spans: list[Span],
    cfg: DecodeConfig,
    reader: FrameReader | None,
    c0: float,
    audio: np.ndarray | None,
    sidecars: list[str],
) -> Iterator[DecodedClip]:
    """The clips of one chunk: frames from `reader` (a still frame when there is none but the file has
    video), audio sliced from the chunk's audio, which starts at `c0` seconds."""
    for span in spans:
        times: list[float] = []
        frames = None
        if reader is not None:
            times = evenly_spaced_times(span, cfg.frames)
            reader.evict_before(span.start)
            frames = reader.read(times)
        elif info.has_video:  # an image (or a non-video file's video stream): one frame
            times, frames = [0.0], decode_frames(path, [0.0], cfg.frame_size)
        text = sidecar_text(sidecars, span) if sidecars else ""
        yield DecodedClip(frames, times, _slice(audio, span, c0, cfg.sample_rate), span, text)


def decode_file_clips(
    path: str,
    info: MediaInfo,
    spans: list[Span],
    cfg: DecodeConfig,
    chunk_seconds: float = CHUNK_SECONDS,
    sidecars: list[str] | None = None,
) -> Iterator[DecodedChunk]:
    """Decode every span of one file (spans sorted by start), chunk by chunk, with bounded memory.

    Spans are grouped in chunks of `chunk_seconds` by their start; each chunk's audio is decoded once
    (to its last clip's end, so every clip has all its samples) and its clips are sliced from it. A video
        file's frames come from one `FrameReader`, with overlapping clips sharing decoded frames. Take each
    chunk's clips before the next chunk. MediaError for an unreadable file.

    Example:
        >>> for chunk in decode_file_clips(path, info, spans, DecodeConfig()):  # doctest: +SKIP
        ...     for clip in chunk.clips: ...
    """
    path = str(path)
    if any(b.start < a.start for a, b in zip(spans, spans[1:], strict=False)):
        raise ValueError("spans must be sorted by start")
    is_video = info.media_type == MediaType.VIDEO and info.has_video
    reader = FrameReader(path, cfg.frame_size, cache=True) if is_video else None
    try:
        for c0, group in _chunks(spans, chunk_seconds):
            audio = _chunk_audio(path, info, c0, group, cfg.sample_rate)
            clips = _iter_clips(path, info, group, cfg, reader, c0, audio, list(sidecars or ()))
            yield DecodedChunk(c0, audio, clips)
    finally:
        if reader is not None:
            reader.close()
