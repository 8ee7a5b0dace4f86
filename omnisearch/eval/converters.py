"""Convert public retrieval benchmarks from their released layouts into a manifest (JSONL).

Formats: video-text msrvtt (1k-A test), msvd, didemo (paragraph retrieval), vatex, omnibench
(OmniRetriever-Bench); audio-text clotho (evaluation), audiocaps (test), sounddescs (test). The
per-format readers live in converters_video.py and converters_audio.py; each documents the layout it
expects. Annotation files are found by their usual names anywhere under `src` (or given with
`annotations=`); media files are found by name or stem anywhere under `media_dir` (default `src`).
Nothing is decoded: an item whose media file is not there is skipped and counted in the summary.

Example:
    >>> import pathlib, tempfile
    >>> src = pathlib.Path(tempfile.mkdtemp())
    >>> (src / "videos" / "all").mkdir(parents=True)
    >>> _ = (src / "videos" / "all" / "video7010.mp4").write_bytes(b"")
    >>> _ = (src / "MSRVTT_JSFUSION_test.csv").write_text(
    ...     "key,vid_key,video_id,sentence\\nret0,msr7010,video7010,a man talks\\n"
    ...     "ret1,msr7011,video7011,a cat\\n")
    >>> s = convert("msrvtt", src, src / "msrvtt.jsonl")
    >>> s.written, s.missing_media
    (1, 1)
"""

from __future__ import annotations

import csv
import importlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from omnisearch.eval.manifest import ManifestItem, write_manifest

FORMATS: dict[str, str] = {
    "msrvtt": "video",
    "msvd": "video",
    "didemo": "video",
    "vatex": "video",
    "omnibench": "video",
    "clotho": "audio",
    "audiocaps": "audio",
    "sounddescs": "audio",
}
VIDEO_EXTS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ts")
AUDIO_EXTS = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".aac", ".opus", ".wma")
OPTIONS: dict[str, tuple[str, ...]] = {"audiocaps": ("cut",), "omnibench": ("cut",)}
MAX_EXAMPLES = 5


@dataclass
class ConvertSummary:
    """What a conversion did: items written, items skipped for missing media or other reasons."""

    fmt: str
    out: str = ""
    written: int = 0
    missing_media: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    missing_examples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def missing(self, what: str) -> None:
        self.missing_media += 1
        if len(self.missing_examples) < MAX_EXAMPLES:
            self.missing_examples.append(what)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n

    def __str__(self) -> str:
        parts = [f"{self.fmt}: wrote {self.written} item(s) to {self.out}"]
        if self.missing_media:
            parts.append(
                f"skipped {self.missing_media} with missing media (e.g. {', '.join(self.missing_examples)})"
            )
        parts += [f"skipped {n}: {reason}" for reason, n in self.skipped.items()]
        return "; ".join(parts + self.notes)


class MediaIndex:
    """Files under `root` with the given extensions, looked up by file name or stem: exact match
    first, then case-insensitive when that is unambiguous. Among candidates the earlier extension in
    `exts` wins, then a path with a folder named `prefer` (below root), then the shorter path."""

    def __init__(self, root: str | os.PathLike[str], exts: Iterable[str]) -> None:
        self.root = os.path.abspath(root)
        self.exts = tuple(e.lower() for e in exts)
        self._exact: dict[str, list[str]] = {}
        self._lower: dict[str, list[str]] = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for fn in filenames:
                if os.path.splitext(fn)[1].lower() not in self.exts:
                    continue
                path = os.path.join(dirpath, fn)
                for key in {fn, os.path.splitext(fn)[0]}:
                    self._exact.setdefault(key, []).append(path)
                    self._lower.setdefault(key.lower(), []).append(path)

    def __len__(self) -> int:
        return len({p for ps in self._exact.values() for p in ps})

    def _best(self, paths: list[str], prefer: str | None) -> str:
        def rank(p: str) -> tuple[int, int, int, str]:
            ext = os.path.splitext(p)[1].lower()
            folders = [f.lower() for f in Path(os.path.relpath(p, self.root)).parts[:-1]]
            pref = 0 if prefer and prefer.lower() in folders else 1
            return (self.exts.index(ext), pref, len(p), p)

        return min(paths, key=rank)

    def find(self, *names: str, prefer: str | None = None) -> str | None:
        """The file for the first of `names` (a file name or a stem) that matches, or None."""
        keys = [os.path.basename(n) for n in names if n]
        for key in keys:
            if key in self._exact:
                return self._best(self._exact[key], prefer)
        for key in keys:
            paths = self._lower.get(key.lower(), [])
            stems = {os.path.splitext(os.path.basename(p))[0] for p in paths}
            if paths and len(stems) == 1:
                return self._best(paths, prefer)
        return None


@dataclass
class Source:
    """Where a converter reads from; collects its summary."""

    fmt: str
    root: Path
    summary: ConvertSummary
    annotations: Path | None = None
    media_dir: Path | None = None
    split_file: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def find_optional(self, *names: str) -> Path | None:
        """The shallowest file under root whose name is one of `names` (case-insensitive; the first name
        wins over later ones)."""
        wanted = [n.lower() for n in names]
        found: dict[str, Path] = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for fn in filenames:
                key = fn.lower()
                if key in wanted:
                    path = Path(dirpath) / fn
                    if key not in found or len(path.parts) < len(found[key].parts):
                        found[key] = path
        return next((found[n] for n in wanted if n in found), None)

    def find_annotation(self, *names: str) -> Path:
        """`annotations` if given, else the first of `names` found under root."""
        if self.annotations is not None:
            if not self.annotations.is_file():
                raise FileNotFoundError(f"{self.fmt}: annotation file {self.annotations} does not exist")
            return self.annotations
        path = self.find_optional(*names)
        if path is None:
            raise FileNotFoundError(
                f"{self.fmt}: none of {', '.join(names)} found under {self.root}; pass annotations=PATH"
            )
        return path

    def split(self, *default_names: str) -> Path | None:
        """`split_file` if given, else the first of `default_names` found under root (None if absent)."""
        if self.split_file is not None:
            if not self.split_file.is_file():
                raise FileNotFoundError(f"{self.fmt}: split file {self.split_file} does not exist")
            return self.split_file
        return self.find_optional(*default_names) if default_names else None

    @cached_property
    def videos(self) -> MediaIndex:
        return MediaIndex(self.media_dir or self.root, VIDEO_EXTS)

    @cached_property
    def audios(self) -> MediaIndex:
        return MediaIndex(self.media_dir or self.root, AUDIO_EXTS)


def read_id_list(path: str | os.PathLike[str]) -> list[str]:
    """Ids from a split list: the first whitespace-separated token of each non-empty line."""
    with open(path, encoding="utf-8-sig") as f:
        return [line.split()[0] for line in f if line.strip()]


def read_csv_rows(path: str | os.PathLike[str], required: Iterable[str] = ()) -> list[dict[str, str]]:
    """CSV rows as dicts with stripped header names; raises if a required column is absent."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        reader.fieldnames = header
        missing = [c for c in required if c not in header]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; found {header}")
        return [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]


def unique_texts(texts: Iterable[str]) -> list[str]:
    """Stripped, non-empty, distinct captions in first-seen order."""
    return list(dict.fromkeys(t.strip() for t in texts if t and t.strip()))


def convert(
    fmt: str,
    src: str | os.PathLike[str],
    out_jsonl: str | os.PathLike[str],
    *,
    annotations: str | os.PathLike[str] | None = None,
    media_dir: str | os.PathLike[str] | None = None,
    split_file: str | os.PathLike[str] | None = None,
    **options: Any,
) -> ConvertSummary:
    """Convert dataset `fmt` found under folder `src` into the manifest `out_jsonl`.

    annotations: the caption file (default: found by its released name under src);
    media_dir: where to look for media (default src); split_file: a list of ids to keep (msvd,
    sounddescs default to test_list.txt under src; didemo and vatex use it only when given);
    options: per-format switches (audiocaps/omnibench `cut=True`). Returns the summary.
    """
    key = fmt.lower()
    if key not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    unknown = sorted(set(options) - set(OPTIONS.get(key, ())))
    if unknown:
        raise TypeError(f"{fmt}: unknown option(s) {unknown}; known: {list(OPTIONS.get(key, ()))}")
    root = Path(src)
    if not root.is_dir():
        raise FileNotFoundError(f"{fmt}: source folder {root} does not exist")
    summary = ConvertSummary(key, out=str(out_jsonl))
    source = Source(
        key,
        root,
        summary,
        annotations=Path(annotations) if annotations else None,
        media_dir=Path(media_dir) if media_dir else None,
        split_file=Path(split_file) if split_file else None,
        options=dict(options),
    )
    module = importlib.import_module(f"omnisearch.eval.converters_{FORMATS[key]}")
    items: list[ManifestItem] = getattr(module, f"convert_{key}")(source)
    seen: set[str] = set()
    unique = []
    for item in items:
        if item.id in seen:
            summary.skip("duplicate id")
            continue
        seen.add(item.id)
        unique.append(item)
    summary.written = write_manifest(out_jsonl, unique)
    return summary
