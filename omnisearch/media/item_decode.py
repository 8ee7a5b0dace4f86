"""Decode the media of one manifest item once: the frames and sound its side units need.

Evaluation (`eval.evaluator`), the frozen-feature cache (`train.features`) and the decoded-media rows
of LoRA training (`train.media`) all decode an item here, through `media.decode.decode_span`: video,
`DecodeConfig.frames` evenly spaced frames over [start, end] or the whole file; image, one frame;
audio, the `audio` file or the video's own track, cut to [start, end] at native length.

A failure is never raised: the modality is left out and its problem listed, so the item scores as a
miss where it takes part. An `ItemDecoder` is any callable of `decode_item`'s shape; training code takes
one as a parameter (tests pass a counting one).

Example:
    >>> from omnisearch.eval.manifest import ManifestItem
    >>> media, problems = decode_item(ManifestItem("x", audio="/nope.wav"), {"a"}, DecodeConfig())
    >>> media, problems
    ({}, ['audio: file not found (/nope.wav)'])
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from omnisearch.config import DecodeConfig
from omnisearch.types import Span

if TYPE_CHECKING:
    from omnisearch.eval.manifest import ManifestItem

ItemDecoder = Callable[["ManifestItem", set[str], DecodeConfig], tuple[dict[str, np.ndarray], list[str]]]


def media_sources(item: ManifestItem, side: str) -> dict[str, str]:
    """Which file feeds each media modality of a side: frames from video/image, sound from audio/video.

    Example:
        >>> from omnisearch.eval.manifest import ManifestItem
        >>> media_sources(ManifestItem("x", video="a.mp4"), "av")
        {'v': 'a.mp4', 'a': 'a.mp4'}
    """
    src: dict[str, str] = {}
    if "v" in side:
        src["v"] = item.video or item.image or ""
    if "a" in side:
        src["a"] = item.audio or item.video or ""
    return src


def item_span(item: ManifestItem) -> Span | None:
    """The item's span; None (the whole file) when it gives no end."""
    if item.end is None:
        return None if not item.start else Span(item.start, float("inf"))
    return Span(item.start or 0.0, max(item.start or 0.0, item.end))


def _decode_frames(item: ManifestItem, cfg: DecodeConfig) -> np.ndarray:
    from omnisearch.media.decode import decode_span
    from omnisearch.types import MediaType

    if item.image:
        clip = decode_span(item.image, MediaType.IMAGE, None, cfg, audio=False)
    else:
        assert item.video is not None
        clip = decode_span(item.video, MediaType.VIDEO, item_span(item), cfg, audio=False)
    if clip.frames is None:
        raise ValueError("no video stream")
    return clip.frames


def _decode_audio(item: ManifestItem, cfg: DecodeConfig) -> np.ndarray:
    from omnisearch.media.decode import decode_span
    from omnisearch.types import MediaType

    path = item.audio or item.video
    assert path is not None
    clip = decode_span(path, MediaType.AUDIO, item_span(item), cfg, frames=False)
    return clip.audio if clip.audio is not None else np.zeros(0, np.float32)


def _reason(exc: BaseException) -> str:
    from omnisearch.media.errors import MediaError, describe_av_error

    return exc.reason if isinstance(exc, MediaError) else describe_av_error(exc)


def decode_item(
    item: ManifestItem, need: set[str], cfg: DecodeConfig
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Decode the media of one item that `need` asks for ("v", "a"): ({"v": frames, "a": audio},
    problems). A modality that fails is left out and its problem listed, e.g. 'audio: file not found'."""
    got: dict[str, np.ndarray] = {}
    problems: list[str] = []
    for mod, name, fn in (("v", "video", _decode_frames), ("a", "audio", _decode_audio)):
        if mod not in need:
            continue
        path = media_sources(item, mod)[mod]
        if not os.path.exists(path):
            problems.append(f"{name}: file not found ({path})")
            continue
        try:
            data = fn(item, cfg)
        except Exception as exc:  # any decoder failure makes this item a miss, not a crash
            problems.append(f"{name}: {_reason(exc)}")
            continue
        if len(data) == 0:
            problems.append(f"{name}: nothing decoded in the clip's span")
            continue
        got[mod] = data
    return got, problems
