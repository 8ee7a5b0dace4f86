"""Audio decoding: PyAV decodes (any container/codec), numpy downmixes and resamples (torchaudio's kernel).

Time 0 is the container's start time, so audio and video share one clock. Samples are assumed
contiguous after the first frame (timestamp gaps are not filled). `StreamResampler` resamples a signal
pushed in pieces and gives the same samples (to float rounding) as `media.resample.resample` (torchaudio's
kernel) on the whole signal, so a long file can be resampled with bounded memory and slices match the
whole.

Example:
    >>> wav = decode_audio("talk.mp3", 5.0, 15.0)  # doctest: +SKIP
    >>> wav.dtype, wav.shape  # doctest: +SKIP
    (dtype('float32'), (160000,))
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from omnisearch.config import SAMPLE_RATE
from omnisearch.media.errors import MediaError, describe_av_error
from omnisearch.media.resample import resample

CONTEXT_SAMPLES = 512  # native samples of context kept around each block (> the sinc kernel reach)
BLOCK_SECONDS = 30.0  # native audio resampled per call when streaming
SEEK_MARGIN_S = 1.0  # decode_audio seeks this much before `start` so the resampler has clean context
MAX_BAD_PACKETS = 50


class StreamResampler:
    """Resample blocks pushed in order; outputs concatenate to `resample(whole signal)`.

    Example:
        >>> rs = StreamResampler(48000, 16000)
        >>> parts = [rs.push(np.zeros(48000, np.float32)) for _ in range(3)] + [rs.flush()]
        >>> sum(len(p) for p in parts)
        48000
    """

    def __init__(self, orig: int, new: int, block_seconds: float = BLOCK_SECONDS) -> None:
        g = math.gcd(int(orig), int(new))
        self.orig, self.new = int(orig), int(new)
        self.a, self.b = self.orig // g, self.new // g
        self.ctx = self.a * math.ceil(CONTEXT_SAMPLES / self.a)
        self.block = self.a * max(1, math.ceil(block_seconds * self.orig / self.a))
        self._buf = np.zeros(self.ctx, np.float32)  # left context: zeros, like torchaudio's own padding
        self._pending: list[np.ndarray] = []  # pushed after _buf, concatenated lazily
        self._pending_len = 0

    def _gather(self) -> None:
        if self._pending:
            self._buf = np.concatenate([self._buf, *self._pending])
            self._pending, self._pending_len = [], 0

    def push(self, x: np.ndarray) -> np.ndarray:
        """Add native samples; return the resampled samples that are now final (maybe none)."""
        x = np.asarray(x, np.float32)
        if self.orig == self.new:
            return x
        self._pending.append(x)
        self._pending_len += len(x)
        if len(self._buf) + self._pending_len < 2 * self.ctx + self.block:
            return np.zeros(0, np.float32)
        self._gather()
        out = []
        lo = self.ctx // self.a * self.b
        while len(self._buf) >= 2 * self.ctx + self.block:
            y = resample(self._buf[: 2 * self.ctx + self.block], self.orig, self.new)
            out.append(y[lo : lo + self.block // self.a * self.b])
            self._buf = self._buf[self.block :]
        return np.concatenate(out)

    def flush(self) -> np.ndarray:
        """Resample what is left (zero right padding, as torchaudio does at the signal end)."""
        if self.orig == self.new:
            return np.zeros(0, np.float32)
        self._gather()
        n = len(self._buf) - self.ctx
        if n <= 0:
            return np.zeros(0, np.float32)
        y = resample(np.concatenate([self._buf, np.zeros(self.ctx, np.float32)]), self.orig, self.new)
        lo = self.ctx // self.a * self.b
        self._buf = np.zeros(self.ctx, np.float32)
        return y[lo : lo + math.ceil(n * self.b / self.a)]


def open_audio(path: str) -> tuple[Any, Any] | None:
    """(container, first audio stream) or None when the file has no audio; MediaError if unreadable."""
    import av

    try:
        container = av.open(str(path))
    except Exception as exc:
        raise MediaError(str(path), describe_av_error(exc)) from exc
    if not container.streams.audio:
        container.close()
        return None
    return container, container.streams.audio[0]


def _origin_seconds(container: Any, stream: Any) -> float:
    if container.start_time is not None:
        return container.start_time / 1_000_000
    return float((stream.start_time or 0) * stream.time_base)


def iter_native(container: Any, stream: Any, seek_s: float = 0.0) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield (native rate, absolute native index of the first sample, mono float32) per decoded frame.

    Samples are taken as contiguous; the start is anchored on the second frame's timestamp (the first
    frame after a seek can be trimmed by the decoder and carry a shifted one), else the first's.
    Timestamps are only as fine as the container's time base: Matroska/WebM use 1 ms, so a seeked
    decode lands within ~1 ms of the from-the-start sample grid. Bad packets are skipped (up to
    MAX_BAD_PACKETS).
    """
    import av

    origin = _origin_seconds(container, stream)
    if seek_s > 0:
        try:
            container.seek(int((seek_s + origin) * 1_000_000), backward=True)
        except av.error.FFmpegError:
            pass  # unseekable: decode from the start (positions stay absolute)
    converter = av.AudioResampler(format="fltp")
    bad = 0

    def frames() -> Iterator[tuple[int, float | None, np.ndarray]]:
        nonlocal bad
        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except av.error.FFmpegError:
                bad += 1
                if bad > MAX_BAD_PACKETS:
                    raise
                continue
            for frame in decoded:
                time = None if frame.time is None else float(frame.time) - origin
                for out in converter.resample(frame):
                    yield int(frame.sample_rate), time, out.to_ndarray().astype(np.float32).mean(axis=0)
                    time = None
        for out in converter.resample(None):
            yield int(out.sample_rate), None, out.to_ndarray().astype(np.float32).mean(axis=0)

    def anchor(held: list[tuple[int, float | None, np.ndarray]]) -> int:
        timed = [i for i, (_, t, _) in enumerate(held) if t is not None]
        if not timed:
            return 0
        i = next((i for i in timed if i >= 1), timed[0])
        rate, t, _ = held[i]
        return round(t * rate) - sum(len(m) for _, _, m in held[:i])  # type: ignore[operator]

    held: list[tuple[int, float | None, np.ndarray]] = []
    position: int | None = None
    for rate, time, mono in frames():
        if position is not None:
            yield rate, position, mono
            position += len(mono)
            continue
        held.append((rate, time, mono))
        if len(held) >= 3 or (len(held) >= 2 and time is not None):
            position = anchor(held)
            for r, _, m in held:
                yield r, position, m
                position += len(m)
    if position is None and held:  # a stream of one or two frames
        position = anchor(held)
        for r, _, m in held:
            yield r, position, m
            position += len(m)


def _resampled_blocks(
    container: Any, stream: Any, sample_rate: int, seek_s: float = 0.0, end: float | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (absolute index at `sample_rate` of the block's first sample, block) in order.

    From the start (seek_s == 0) output index 0 is time 0: audio starting later is preceded by zeros,
    samples before time 0 are dropped. After a seek the first native sample kept is the first one whose
    index is a multiple of the resampling ratio, so output indices stay on the same grid. Stops once
    decoding has passed `end` + SEEK_MARGIN_S.
    """
    resampler: StreamResampler | None = None
    drop = out_index = native_end = 0
    for rate, pos, mono in iter_native(container, stream, seek_s):
        if resampler is None:
            resampler = StreamResampler(rate, sample_rate)
            first = max(0, math.ceil(pos / resampler.a) * resampler.a) if seek_s > 0 else 0
            if pos > first:
                mono = np.concatenate([np.zeros(pos - first, np.float32), mono])
            drop = max(0, first - pos)
            out_index, native_end = first // resampler.a * resampler.b, first
        if drop:
            cut = min(drop, len(mono))
            mono, drop = mono[cut:], drop - cut
        native_end += len(mono)
        block = resampler.push(mono)
        if len(block):
            yield out_index, block
            out_index += len(block)
        if end is not None and native_end > (end + SEEK_MARGIN_S) * rate:
            break
    if resampler is not None:
        block = resampler.flush()
        if len(block):
            yield out_index, block


def _decode_range(
    path: str, end: float | None, sample_rate: int, seek_s: float
) -> tuple[int, np.ndarray] | None:
    """(absolute output index of the first sample, resampled mono) from `seek_s` to past `end`."""
    opened = open_audio(path)
    if opened is None:
        return None
    container, stream = opened
    try:
        blocks = list(_resampled_blocks(container, stream, sample_rate, seek_s, end))
    except Exception as exc:
        raise MediaError(str(path), describe_av_error(exc)) from exc
    finally:
        container.close()
    if not blocks:
        return 0, np.zeros(0, np.float32)
    return blocks[0][0], np.concatenate([b for _, b in blocks])


def decode_audio(
    path: str, start: float = 0.0, end: float | None = None, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Mono float32 samples at `sample_rate` for [start, end) seconds (end None: to the file's end).

    Returns an empty array for a file without audio; shorter than `(end-start)*sample_rate` when the
    audio track ends early (no padding). Seeks (1 s early, for resampler context) when start > 1 s.

    Example:
        >>> decode_audio("clip.ogg", 1.0, 3.0).shape  # doctest: +SKIP
        (32000,)
    """
    path = str(path)
    start = max(0.0, float(start))
    if end is not None and end <= start:
        return np.zeros(0, np.float32)
    seek_s = start - SEEK_MARGIN_S if start > SEEK_MARGIN_S else 0.0
    s0 = round(start * sample_rate)
    s1 = None if end is None else round(end * sample_rate)
    result = _decode_range(path, end, sample_rate, seek_s)
    if result is not None and seek_s > 0 and result[0] > s0:  # the seek landed too late: decode from 0
        result = _decode_range(path, end, sample_rate, 0.0)
    if result is None:
        return np.zeros(0, np.float32)
    k0, y = result
    lo = max(0, s0 - k0)
    hi = len(y) if s1 is None else max(lo, min(len(y), s1 - k0))
    return np.ascontiguousarray(y[lo:hi], dtype=np.float32)
