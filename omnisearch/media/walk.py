"""Find media files under the paths a user gives, classify them and attach their sidecar files.

Rules:
- Extensions are matched case-insensitively against VIDEO_EXTS / AUDIO_EXTS / IMAGE_EXTS.
- Folders are walked recursively in sorted order; hidden folders and hidden files (names starting with
  ".", e.g. `.git`, macOS `._x.mp4` forks) are skipped; symlinked folders are not followed.
- Unsupported files inside folders are skipped silently; a path given explicitly that is missing or
  unsupported is reported as `(path, reason)`. A hidden file given explicitly is accepted.
- A folder that cannot be listed (permissions, I/O error) is reported as `(folder, reason)`.
- A file reached twice (listed twice, or a file and its folder) is returned once, first position wins.
- Sidecars of `dir/name.mp4`: `dir/name.{srt,vtt,txt}`, `dir/name.mp4.{srt,vtt,txt}` (also
  `name.mp4.srt` for `name.MP4`; sidecar extensions match in any case) and
  language-tagged subtitles `dir/name.<lang>.{srt,vtt}` (lang like `en`, `pt-BR`), sorted.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field

from omnisearch.config import AUDIO_EXTS, IMAGE_EXTS, SIDECAR_EXTS, VIDEO_EXTS
from omnisearch.types import MediaType

_LANG = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")
HASH_CHUNK = 1 << 20


@dataclass
class FoundFile:
    """A media file to index: absolute path, kind and the sidecar files next to it."""

    path: str
    media_type: MediaType
    sidecars: list[str] = field(default_factory=list)


def media_type_of(path: str) -> MediaType | None:
    """The MediaType an extension maps to, or None when unsupported.

    Example:
        >>> media_type_of("a/b.MKV"), media_type_of("x.txt")
        (<MediaType.VIDEO: 'video'>, None)
    """
    ext = os.path.splitext(path)[1].lower()
    if ext in VIDEO_EXTS:
        return MediaType.VIDEO
    if ext in AUDIO_EXTS:
        return MediaType.AUDIO
    if ext in IMAGE_EXTS:
        return MediaType.IMAGE
    return None


def find_sidecars(path: str, siblings: list[str] | None = None) -> list[str]:
    """Sidecar files of media file `path` (absolute paths, sorted); `siblings` = names in its folder.

    Example:
        >>> find_sidecars("/videos/talk.mp4", ["talk.mp4", "talk.srt", "talk.en.vtt", "other.txt"])
        ['/videos/talk.en.vtt', '/videos/talk.srt']
    """
    folder, name = os.path.split(os.path.abspath(path))
    if siblings is None:
        try:
            siblings = os.listdir(folder)
        except OSError:
            return []
    stem, media_ext = os.path.splitext(name)
    found = []
    for sib in siblings:
        base, ext = os.path.splitext(sib)
        if ext.lower() not in SIDECAR_EXTS or sib == name:
            continue
        if base == stem or base == stem + media_ext or base == stem + media_ext.lower():
            found.append(sib)
        elif ext.lower() != ".txt" and base.startswith(stem + "."):
            tag = base[len(stem) + 1 :]
            if _LANG.match(tag) and media_type_of(base) is None:
                found.append(sib)
    return [os.path.join(folder, s) for s in sorted(found)]


def _walk_dir(root: str, errors: list[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """(file path, names in its folder) for every non-hidden file under root, sorted by path parts;
    folders that cannot be listed go to `errors` as (folder, reason)."""
    out: list[tuple[str, list[str]]] = []

    def onerror(e: OSError) -> None:
        errors.append((str(e.filename), f"cannot read folder: {e.strerror or e}"))

    for folder, dirs, files in os.walk(root, onerror=onerror, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                out.append((os.path.join(folder, name), files))
    out.sort(key=lambda item: os.path.relpath(item[0], root).split(os.sep))
    return out


def find_media(paths: list[str]) -> tuple[list[FoundFile], list[tuple[str, str]]]:
    """Walk files and folders; return (media files found, [(path, reason)] for bad explicit paths).

    Example:
        >>> find_media(["/no/such/file.mp4"])
        ([], [('/no/such/file.mp4', 'not found')])
    """
    found: list[FoundFile] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(path: str, media_type: MediaType, siblings: list[str] | None) -> None:
        real = os.path.realpath(path)
        if real in seen:
            return
        seen.add(real)
        abspath = os.path.abspath(path)
        found.append(FoundFile(abspath, media_type, find_sidecars(abspath, siblings)))

    for given in paths:
        path = os.path.expanduser(str(given))
        if os.path.isdir(path):
            for file_path, siblings in _walk_dir(path, skipped):
                media_type = media_type_of(file_path)
                if media_type is not None and os.path.isfile(file_path):
                    add(file_path, media_type, siblings)
        elif os.path.isfile(path):
            media_type = media_type_of(path)
            if media_type is None:
                ext = os.path.splitext(path)[1].lower() or "(none)"
                skipped.append((str(given), f"unsupported file type {ext}"))
            else:
                add(path, media_type, None)
        elif os.path.exists(path):
            skipped.append((str(given), "not a regular file or folder"))
        else:
            skipped.append((str(given), "not found"))
    return found, skipped


def file_hash(path: str) -> str:
    """SHA-256 hex digest of a file's bytes, read in 1 MiB chunks.

    Example:
        >>> file_hash("/dev/null")
        'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
