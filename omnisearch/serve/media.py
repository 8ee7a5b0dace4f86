"""What the server makes from a clip's file, with ffmpeg: a JPEG thumbnail of its keyframe and a
playable cut of its span (H.264 + AAC MP4 for video, AAC M4A for sound; an image is its own media).
Both are cached in a folder keyed by the clip id and the file's size and mtime, so a changed file is
cut again; the folder is trimmed to its byte budget, oldest first.

Example:
    cache = MediaCache("/tmp/omni-cache", max_bytes=512 << 20)
    jpeg_path = cache.thumbnail(ClipFile("/v/talk.mp4", "video", 10.0, 20.0, 15.0, "ab..:10.000-20.000"))
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from dataclasses import dataclass

THUMB_WIDTH = 320
FFMPEG_TIMEOUT_S = 120


class MediaCutError(Exception):
    """ffmpeg could not make the thumbnail or the cut (the file changed, or is damaged)."""


@dataclass(frozen=True)
class ClipFile:
    """A clip whose file passed the access rules: its real path, kind and times."""

    path: str
    media_type: str
    start: float
    end: float
    keyframe: float
    clip_id: str


def media_type_of(kind: str, path: str) -> str:
    """The Content-Type of a cut (or of an image, served as it is)."""
    if kind == "video":
        return "video/mp4"
    if kind == "audio":
        return "audio/mp4"
    return "image/png" if path.lower().endswith(".png") else "image/jpeg"


class MediaCache:
    """Thumbnails and cuts on disk; safe to call from many threads (one cut per key at a time)."""

    def __init__(self, folder: str, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        os.makedirs(folder, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def thumbnail(self, clip: ClipFile) -> str:
        """Path of a JPEG (THUMB_WIDTH wide) of the clip's keyframe; for a sound, its waveform."""
        return self._cached(clip, "thumb", ".jpg", self._make_thumbnail)

    def cut(self, clip: ClipFile) -> str:
        """Path of a playable file holding just the clip's span (an image: the image file itself)."""
        if clip.media_type == "image":
            return clip.path
        ext = ".mp4" if clip.media_type == "video" else ".m4a"
        return self._cached(clip, "cut", ext, self._make_cut)

    def _cached(self, clip: ClipFile, what: str, ext: str, make) -> str:
        st = os.stat(clip.path)
        key = hashlib.sha1(
            f"{what}|{clip.clip_id}|{clip.start:.3f}-{clip.end:.3f}|{clip.path}|{st.st_size}|{st.st_mtime_ns}".encode()
        )
        out = os.path.join(self.folder, key.hexdigest()[:24] + ext)
        with self._lock_for(out):
            if os.path.exists(out):
                os.utime(out)  # mark as recently used
                return out
            part = out + ".part" + ext
            try:
                make(clip, part)
                os.replace(part, out)
            finally:
                if os.path.exists(part):
                    os.remove(part)
        self._trim(keep=out)
        return out

    def _lock_for(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _trim(self, keep: str) -> None:
        with self._guard:
            files = [os.path.join(self.folder, n) for n in os.listdir(self.folder) if ".part" not in n]
            stats = [(os.stat(p), p) for p in files if os.path.isfile(p)]
            total = sum(s.st_size for s, _ in stats)
            for s, p in sorted(stats, key=lambda sp: sp[0].st_mtime):
                if total <= self.max_bytes:
                    break
                if p != keep:
                    os.remove(p)
                    self._locks.pop(p, None)
                    total -= s.st_size

    def _make_thumbnail(self, clip: ClipFile, out: str) -> None:
        scale = f"scale={THUMB_WIDTH}:-2"
        if clip.media_type == "image":
            _ffmpeg(["-i", clip.path, "-frames:v", "1", "-vf", scale, "-q:v", "4", out])
        elif clip.media_type == "video":
            for t in (clip.keyframe, clip.start, 0.0):  # a keyframe past the last frame: fall back
                try:
                    _ffmpeg(
                        ["-ss", f"{t:.3f}", "-i", clip.path, "-frames:v", "1", "-vf", scale, "-q:v", "4", out]
                    )
                    if os.path.getsize(out) > 0:
                        return
                except MediaCutError:
                    continue
            raise MediaCutError(f"no frame near {clip.keyframe:.3f} s in {os.path.basename(clip.path)}")
        else:
            wave = f"showwavespic=s={THUMB_WIDTH}x180:colors=0x4a90d9"
            _ffmpeg(
                ["-ss", f"{clip.start:.3f}", "-t", f"{clip.end - clip.start:.3f}", "-i", clip.path]
                + ["-filter_complex", wave, "-frames:v", "1", "-q:v", "4", out]
            )

    def _make_cut(self, clip: ClipFile, out: str) -> None:
        span = ["-ss", f"{clip.start:.3f}", "-i", clip.path, "-t", f"{clip.end - clip.start:.3f}"]
        if clip.media_type == "video":
            codecs = ["-map", "0:v:0", "-map", "0:a:0?", "-c:v", "libx264", "-preset", "veryfast"]
            codecs += ["-crf", "26", "-pix_fmt", "yuv420p", "-vf", "scale='min(1280,iw)':-2"]
            codecs += ["-c:a", "aac", "-b:a", "128k", "-ac", "2"]
        else:
            codecs = ["-vn", "-map", "0:a:0", "-c:a", "aac", "-b:a", "128k", "-ac", "2"]
        _ffmpeg(span + codecs + ["-movflags", "+faststart", "-f", "mp4", out])


def _ffmpeg(args: list[str]) -> None:
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=FFMPEG_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise MediaCutError(f"ffmpeg did not run: {e}") from e
    if r.returncode != 0 or not os.path.exists(args[-1]):
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise MediaCutError(f"ffmpeg failed: {last}")
