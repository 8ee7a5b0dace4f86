"""Probe a media file: duration, which streams it carries, frame size and rate.

Audio/video go through PyAV (`av`, imported lazily), images through PIL. Duration is taken from the
container, else the longest stream header, else by demuxing every packet to find the last end time
(no decoding needed). Cover art in audio files (an "attached picture" stream) does not count as video.
Anything unreadable raises `MediaError` with a human-readable reason.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

from omnisearch.media.errors import MediaError, describe_av_error
from omnisearch.types import MediaInfo, MediaType

AV_TIME_BASE = 1_000_000
MAX_IMAGE_PIXELS = 50_000_000  # decoded at most; larger JPEGs decode reduced, other formats are refused


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise MediaError(path, "file not found")
    if not os.path.isfile(path):
        raise MediaError(path, "not a regular file")
    if os.path.getsize(path) == 0:
        raise MediaError(path, "empty file (0 bytes)")


def load_image(path: str, size: int = 0) -> tuple[Any, tuple[int, int]]:
    """(RGB PIL image, original (width, height)). A JPEG is decoded reduced (PIL draft, a power of two)
    when `size` > 0 asks for less; an image still over MAX_IMAGE_PIXELS is refused with a MediaError.

    Example:
        >>> img, (w, h) = load_image("photo.jpg", 224)  # doctest: +SKIP
    """
    from PIL import Image

    from omnisearch.media.image import flatten_alpha

    _check_file(path)
    try:
        with warnings.catch_warnings():  # PIL's own bomb warning: MAX_IMAGE_PIXELS below is our cap
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            w, h = img.size
            if img.format == "JPEG":
                target = (w, h) if size <= 0 else _fit(w, h, size)
                cap = math.sqrt(MAX_IMAGE_PIXELS / (w * h)) if w * h > MAX_IMAGE_PIXELS else 1.0
                img.draft("RGB", (min(target[0], int(w * cap)), min(target[1], int(h * cap))))
            if img.size[0] * img.size[1] > MAX_IMAGE_PIXELS:
                raise MediaError(
                    path,
                    f"image too large to decode: {w}x{h} ({w * h / 1e6:.0f} MP > "
                    f"{MAX_IMAGE_PIXELS / 1e6:.0f} MP); scale it down first",
                )
            return flatten_alpha(img), (w, h)  # transparent parts on white
    except MediaError:
        raise
    except Image.DecompressionBombError as exc:
        raise MediaError(path, f"image too large to decode ({exc}); scale it down first") from exc
    except Exception as exc:  # PIL raises many types for bad data
        raise MediaError(path, describe_av_error(exc)) from exc


def _fit(w: int, h: int, size: int) -> tuple[int, int]:
    scale = min(1.0, size / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def probe_image(path: str) -> MediaInfo:
    """Size of an image (decoded, reduced when large, so truncated files are caught); duration 0.

    Example:
        >>> probe_image("photo.jpg").width  # doctest: +SKIP
        640
    """
    _, (width, height) = load_image(path, 1024)
    return MediaInfo(path, MediaType.IMAGE, 0.0, True, False, width, height, 0.0)


def is_cover_art(stream: Any) -> bool:
    """True for a video stream that is an embedded still picture (album art)."""
    import av

    try:
        return bool(stream.disposition & av.stream.Disposition.attached_pic)
    except (AttributeError, TypeError):
        return False


def _stream_seconds(stream: Any) -> float:
    if stream.duration is None or stream.time_base is None:
        return 0.0
    return float(stream.duration * stream.time_base)


def _scan_duration(container: Any, streams: list[Any]) -> float:
    """Demux every packet of `streams` and return the latest end time relative to the stream start."""
    end = 0.0
    for packet in container.demux(streams):
        if packet.pts is None or packet.time_base is None:
            continue
        offset = packet.stream.start_time or 0
        end = max(end, float((packet.pts - offset + (packet.duration or 0)) * packet.time_base))
    return end


def _decode_duration(path: str, stream_index: int) -> float:
    """Decode one stream to its end: audio by counting samples, video by frame times or count / fps."""
    import av

    with av.open(path) as container:
        stream = container.streams[stream_index]
        if stream.type == "audio":
            samples, rate = 0, 0
            for frame in container.decode(stream):
                samples, rate = samples + frame.samples, frame.sample_rate
            return samples / rate if rate else 0.0
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 25.0
        count, last = 0, None
        for frame in container.decode(stream):
            count += 1
            last = frame.time if frame.time is not None else last
        return max(count / fps, (last + 1 / fps) if last is not None else 0.0)


def probe(path: str, media_type: MediaType) -> MediaInfo:
    """Probe `path`; `media_type` decides image (PIL) vs audio/video (PyAV).

    Example:
        >>> info = probe("/media/flipping_a_pancake.mkv", MediaType.VIDEO)  # doctest: +SKIP
        >>> round(info.duration, 2), info.has_audio, (info.width, info.height)  # doctest: +SKIP
        (10.38, True, (426, 240))
    """
    path = str(path)
    if media_type == MediaType.IMAGE:
        return probe_image(path)
    _check_file(path)
    import av

    try:
        container = av.open(path)
    except Exception as exc:
        raise MediaError(path, describe_av_error(exc)) from exc
    try:
        videos = [s for s in container.streams.video if not is_cover_art(s)]
        audios = list(container.streams.audio)
        if not videos and not audios:
            raise MediaError(path, "no audio or video stream")
        width = height = 0
        fps = 0.0
        if videos:
            v = videos[0]
            width, height = int(v.codec_context.width or 0), int(v.codec_context.height or 0)
            rate = v.average_rate or v.guessed_rate or v.base_rate
            fps = float(rate) if rate else 0.0
        main = videos[:1] + audios[:1]
        duration = 0.0
        if container.duration is not None and container.duration > 0:
            duration = container.duration / AV_TIME_BASE
        if not duration:
            duration = max(_stream_seconds(s) for s in main)
        if not duration or not math.isfinite(duration):
            try:
                duration = _scan_duration(container, main)
                if not duration > 0:
                    duration = max(_decode_duration(path, s.index) for s in main)
            except Exception as exc:
                raise MediaError(path, describe_av_error(exc)) from exc
        if not duration > 0:
            raise MediaError(path, "zero duration (no decodable packets)")
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError(path, describe_av_error(exc)) from exc
    finally:
        container.close()
    return MediaInfo(path, media_type, float(duration), bool(videos), bool(audios), width, height, fps)
