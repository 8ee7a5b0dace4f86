"""Read, validate and write retrieval manifests (JSONL, one clip a line; see docs/benchmark-format.md).

Paths in the file are relative to the manifest's folder; `read_manifest` returns them absolute and
`write_manifest` writes them relative again. Problems are collected and raised together as one
`ManifestError` naming the line of each.

Example:
    >>> import json, pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "dog.wav").write_bytes(b"")
    >>> _ = (d / "m.jsonl").write_text(json.dumps({"id": "c1", "audio": "dog.wav", "text": "a dog"}) + "\\n")
    >>> item = read_manifest(d / "m.jsonl")[0]
    >>> item.texts, item.audio == str(d / "dog.wav")
    (['a dog'], True)
    >>> sorted(m.value for m in item.modalities(has_audio_track=lambda p: False))
    ['audio', 'text']
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omnisearch.types import Modality

log = logging.getLogger(__name__)

KNOWN_FIELDS = ("id", "video", "image", "audio", "text", "start", "end", "group")
MEDIA_FIELDS = ("video", "image", "audio")
MAX_LISTED_ERRORS = 20


class ManifestError(ValueError):
    """A manifest could not be read; `errors` holds one message per problem, each naming its line."""

    def __init__(self, path: str | os.PathLike[str], errors: list[str]) -> None:
        self.path = str(path)
        self.errors = list(errors)
        shown = "\n  ".join(self.errors[:MAX_LISTED_ERRORS])
        more = len(self.errors) - MAX_LISTED_ERRORS
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(f"{self.path}: {len(self.errors)} problem(s):\n  {shown}{tail}")


@dataclass
class ManifestItem:
    """One clip. Media paths are absolute; `texts` are stripped, non-empty and distinct."""

    id: str
    video: str | None = None
    image: str | None = None
    audio: str | None = None
    texts: list[str] = field(default_factory=list)
    start: float | None = None
    end: float | None = None
    group: str | None = None
    line: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def media_paths(self) -> list[str]:
        return [p for p in (self.video, self.image, self.audio) if p]

    def modalities(self, has_audio_track: Callable[[str], bool] | None = None) -> frozenset[Modality]:
        """Text if any caption; video if a video or an image; audio if `audio` is given or the video
        file carries an audio track (`has_audio_track(path)`, default: probe with PyAV)."""
        probe = has_audio_track or probe_has_audio_track
        mods: set[Modality] = set()
        if self.texts:
            mods.add(Modality.TEXT)
        if self.video or self.image:
            mods.add(Modality.VIDEO)
        if self.audio or (self.video and probe(self.video)):
            mods.add(Modality.AUDIO)
        return frozenset(mods)

    def to_record(self, base_dir: str | os.PathLike[str]) -> dict[str, Any]:
        """The JSON object of this item with media paths relative to `base_dir` (POSIX separators)."""
        rec: dict[str, Any] = {"id": self.id}
        for name in MEDIA_FIELDS:
            path = getattr(self, name)
            if path:
                rec[name] = _relative(path, base_dir)
        if self.texts:
            rec["text"] = self.texts[0] if len(self.texts) == 1 else list(self.texts)
        if self.start is not None:
            rec["start"] = self.start
        if self.end is not None:
            rec["end"] = self.end
        if self.group is not None:
            rec["group"] = self.group
        for key, value in self.extra.items():
            rec.setdefault(key, value)
        return rec


@functools.lru_cache(maxsize=65536)
def probe_has_audio_track(path: str) -> bool:
    """True when PyAV finds an audio stream in `path`; False when it has none or cannot be opened."""
    import av  # lazy: PyAV is heavy

    try:
        with av.open(path) as container:
            return any(s.type == "audio" for s in container.streams)
    except (av.FFmpegError, OSError):
        return False


def item_modalities(
    items: Iterable[ManifestItem], has_audio_track: Callable[[str], bool] | None = None
) -> list[frozenset[Modality]]:
    """`item.modalities(...)` for each item, in order."""
    return [it.modalities(has_audio_track) for it in items]


def _relative(path: str, base_dir: str | os.PathLike[str]) -> str:
    absolute = os.path.abspath(path)
    try:
        rel = os.path.relpath(absolute, os.path.abspath(base_dir))
    except ValueError:  # another drive on Windows
        return Path(absolute).as_posix()
    return Path(rel).as_posix()


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _parse_texts(value: Any, errors: list[str], where: str) -> list[str]:
    if value is None:
        return []
    raw = [value] if isinstance(value, str) else value
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        errors.append(f"{where}: 'text' must be a string or a list of strings")
        return []
    texts: list[str] = []
    for t in raw:
        t = t.strip()
        if t and t not in texts:
            texts.append(t)
    return texts


def _parse_record(rec: Any, lineno: int, base: Path, errors: list[str]) -> ManifestItem | None:
    where = f"line {lineno}"
    if not isinstance(rec, dict):
        errors.append(f"{where}: expected a JSON object, got {type(rec).__name__}")
        return None
    n_before = len(errors)
    item_id = rec.get("id")
    if not isinstance(item_id, str) or not item_id.strip():
        errors.append(f"{where}: 'id' is required and must be a non-empty string")
        item_id = ""
    paths: dict[str, str | None] = {}
    for name in MEDIA_FIELDS:
        value = rec.get(name)
        if value is None:
            paths[name] = None
        elif isinstance(value, str) and value.strip():
            paths[name] = os.path.normpath(value if os.path.isabs(value) else base / value)
        else:
            errors.append(f"{where}: '{name}' must be a non-empty path string")
            paths[name] = None
    if paths["video"] and paths["image"]:
        errors.append(f"{where}: give 'video' or 'image', not both")
    texts = _parse_texts(rec.get("text"), errors, where)
    start, end = rec.get("start"), rec.get("end")
    for name, value in (("start", start), ("end", end)):
        if value is not None and not _number(value):
            errors.append(f"{where}: '{name}' must be a finite number of seconds")
    if _number(start) and start < 0:
        errors.append(f"{where}: 'start' must be >= 0")
    if _number(start) and _number(end) and end <= start:
        errors.append(f"{where}: 'end' ({end}) must be greater than 'start' ({start})")
    group = rec.get("group")
    if group is not None and (isinstance(group, bool) or not isinstance(group, str | int)):
        errors.append(f"{where}: 'group' must be a string")
        group = None
    if len(errors) == n_before and not texts and not any(paths.values()):
        errors.append(f"{where}: item {item_id!r} has no modality (no text, video, image or audio)")
    if len(errors) > n_before:
        return None
    return ManifestItem(
        id=item_id,
        video=paths["video"],
        image=paths["image"],
        audio=paths["audio"],
        texts=texts,
        start=float(start) if start is not None else None,
        end=float(end) if end is not None else None,
        group=str(group) if group is not None and str(group) != "" else None,
        line=lineno,
        extra={k: v for k, v in rec.items() if k not in KNOWN_FIELDS},
    )


def read_manifest(path: str | os.PathLike[str], *, on_missing: str = "error") -> list[ManifestItem]:
    """Read and validate a manifest.

    on_missing: what to do with items whose media files do not exist: "error" (default: raise, listing
    every missing file with its line), "skip" (drop those items, log a warning with the count) or
    "ignore" (keep them). Every other problem (bad JSON, missing or duplicate id, no modality, bad
    times, wrong types) raises `ManifestError` listing all problems found.
    """
    if on_missing not in ("error", "skip", "ignore"):
        raise ValueError(f"on_missing must be 'error', 'skip' or 'ignore', not {on_missing!r}")
    path = Path(path)
    base = path.parent.absolute()
    errors: list[str] = []
    items: list[ManifestItem] = []
    first_line: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"line {lineno}: invalid JSON ({e.msg} at column {e.colno})")
                continue
            item = _parse_record(rec, lineno, base, errors)
            if item is None:
                continue
            if item.id in first_line:
                errors.append(
                    f"line {lineno}: duplicate id {item.id!r} (first on line {first_line[item.id]})"
                )
                continue
            first_line[item.id] = lineno
            items.append(item)
    if errors:
        raise ManifestError(path, errors)
    if on_missing == "ignore":
        return items
    missing = [(it, p) for it in items for p in it.media_paths() if not os.path.exists(p)]
    if not missing:
        return items
    if on_missing == "error":
        raise ManifestError(path, [f"line {it.line}: item {it.id!r}: missing file {p}" for it, p in missing])
    bad = {it.id for it, _ in missing}
    log.warning("%s: skipped %d item(s) with missing media files", path, len(bad))
    return [it for it in items if it.id not in bad]


def write_manifest(path: str | os.PathLike[str], items: Iterable[ManifestItem]) -> int:
    """Write items as JSONL with media paths relative to the manifest's folder; returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.parent.absolute()
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item.to_record(base), ensure_ascii=False) + "\n")
            n += 1
    return n
