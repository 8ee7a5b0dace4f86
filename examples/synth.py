"""Synthesize deterministic test / demo media with ffmpeg, espeak-ng and PIL.

Everything here shells out to the Debian tools (``ffmpeg``/``ffprobe`` from package ``ffmpeg``,
``espeak-ng`` from ``espeak-ng``); a missing tool raises :class:`MissingToolError` naming the package.
Shapes and on-screen text are drawn with PIL into PNG layers that ffmpeg overlays, so the result
does not depend on ffmpeg's drawtext/fontconfig build. Outputs are bit-exact across runs.

Example:
    >>> synth.make_video("/tmp/a.mp4", 4, color="red", shape="circle", onscreen_text="PARIS",
    ...                  speech="seven apples", tone_hz=440)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

SHAPES = ("box", "circle", "triangle", "diamond", "star", "cross")
TONE_KINDS = ("sine", "square", "saw", "chirp", "noise", "pink", "brown")
SAMPLE_RATE = 16000
_PACKAGES = {"ffmpeg": "ffmpeg", "ffprobe": "ffmpeg", "espeak-ng": "espeak-ng", "sox": "sox"}
_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts")
_FONT_NAMES = ("DejaVuSans-Bold.ttf", "DejaVuSans.ttf")
_BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1"]

PathLike = str | Path
Speech = str | Sequence[tuple[float, str]]
Onscreen = str | Sequence[tuple[float, float, str]]


class MissingToolError(RuntimeError):
    """A command-line tool this module needs is not installed."""


class SynthError(RuntimeError):
    """A synthesis command failed; the message carries the tail of its stderr."""


def have_tools(*tools: str) -> bool:
    """True when every named tool (default: ffmpeg, ffprobe, espeak-ng) is on PATH."""
    return all(shutil.which(t) for t in (tools or ("ffmpeg", "ffprobe", "espeak-ng")))


def require(tool: str) -> str:
    """Return the full path of ``tool`` or raise :class:`MissingToolError` naming its Debian package."""
    found = shutil.which(tool)
    if not found:
        pkg = _PACKAGES.get(tool, tool)
        raise MissingToolError(
            f"'{tool}' not found on PATH: install the Debian package '{pkg}' (sudo apt-get install -y {pkg})"
        )
    return found


def _run(cmd: list[str], stdin: str | None = None) -> None:
    """Run a command (its first word resolved with :func:`require`); raise SynthError on failure."""
    cmd = [require(cmd[0]), *cmd[1:]]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SynthError(f"{Path(cmd[0]).name} failed ({proc.returncode}): {proc.stderr.strip()[-1500:]}")


def _prep(path: PathLike) -> Path:
    """``path`` as a Path whose parent folder exists."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return Path(path)


def ffmpeg(args: list[str], path: PathLike) -> Path:
    """Run ffmpeg with `args` (inputs, filters, codecs) writing a bit-exact `path`; SynthError on failure."""
    path = _prep(path)
    _run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args, *_BITEXACT, str(path)])
    return path


def _hex(color: str) -> str:
    """Any PIL colour name or '#rrggbb' as ffmpeg's '0xRRGGBB' (PIL and ffmpeg names differ slightly)."""
    from PIL import ImageColor

    return "0x{:02X}{:02X}{:02X}".format(*ImageColor.getrgb(color)[:3])


def font_path() -> str | None:
    """A DejaVu TTF file when fonts-dejavu is installed, else None (PIL's built-in font is used)."""
    hits = (sorted(Path(d).rglob(n)) for d in _FONT_DIRS for n in _FONT_NAMES if Path(d).is_dir())
    return next((str(h[0]) for h in hits if h), None)


def _font(size: int) -> Any:
    from PIL import ImageFont

    fp = font_path()
    return ImageFont.truetype(fp, size) if fp else ImageFont.load_default(size=size)


def text_band(text: str, width: int, max_size: int = 40) -> Any:
    """A white RGB band ``width`` wide with ``text`` in large black letters, shrunk until it fits."""
    from PIL import Image, ImageDraw

    size = max_size
    while size > 14 and _font(size).getlength(text) > width - 16:
        size -= 2
    font = _font(size)
    band = Image.new("RGB", (width, size + 20), "white")
    ImageDraw.Draw(band).text((width / 2, band.height / 2), text, fill="black", font=font, anchor="mm")
    return band


def shape_image(shape: str, color: str, side: int) -> Any:
    """An RGBA ``side`` x ``side`` image holding one filled shape on a transparent ground."""
    from PIL import Image, ImageDraw

    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose from {SHAPES}")
    img = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    d, s, m = ImageDraw.Draw(img), side - 1, side // 2
    if shape == "box":
        d.rectangle((0, 0, s, s), fill=color)
    elif shape == "circle":
        d.ellipse((0, 0, s, s), fill=color)
    elif shape == "triangle":
        d.polygon([(m, 0), (s, s), (0, s)], fill=color)
    elif shape == "diamond":
        d.polygon([(m, 0), (s, m), (m, s), (0, m)], fill=color)
    elif shape == "star":
        radii = [(s / 2 if i % 2 == 0 else s / 5, math.pi * (i / 5 - 0.5)) for i in range(10)]
        d.polygon([(m + r * math.cos(a), m + r * math.sin(a) + s * 0.05) for r, a in radii], fill=color)
    else:  # cross
        t = side // 3
        d.rectangle((t, 0, s - t, s), fill=color)
        d.rectangle((0, t, s, s - t), fill=color)
    return img


def _espeak(path: Path, text: str, voice: str, speed: int) -> Path:
    """espeak-ng's own WAV (22.05 kHz mono) of ``text``; text goes through stdin, never argv."""
    _run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), "--stdin"], stdin=text)
    return path


def speech_wav(path: PathLike, text: str, voice: str = "en-us", speed: int = 150) -> Path:
    """Speak ``text`` with espeak-ng and write it as 16 kHz mono 16-bit WAV at ``path``."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="synth-") as tmp:
        raw = _espeak(Path(tmp) / "raw.wav", text, voice, speed)
        return ffmpeg(["-i", str(raw), "-ar", str(SAMPLE_RATE), "-ac", "1", "-c:a", "pcm_s16le"], path)


def speech_seconds(text: str, voice: str = "en-us", speed: int = 150) -> float:
    """How long espeak-ng takes to say ``text`` (e.g. to time subtitle cues)."""
    with tempfile.TemporaryDirectory(prefix="synth-") as tmp:
        return wav_seconds(_espeak(Path(tmp) / "s.wav", text, voice, speed))


def wav_seconds(path: PathLike) -> float:
    """Duration of a PCM WAV file (stdlib only)."""
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())


def _tone_source(kind: str, freq: float, seconds: float, seed: int = 0, amp: float = 0.5) -> str:
    """An ffmpeg lavfi audio-source description for one tone kind."""
    sr, d, f = SAMPLE_RATE, f"{seconds:.3f}", f"{freq:g}"
    if kind == "sine":
        return f"sine=frequency={f}:sample_rate={sr}:duration={d},volume={amp * 2:g}"
    exprs = {
        "square": f"{amp}*sgn(sin(2*PI*{f}*t))",
        "saw": f"{amp}*(2*mod({f}*t,1)-1)",
        "chirp": f"{amp}*sin(2*PI*({f}*t+{f}*t*t/{d}))",
    }
    if kind in exprs:
        return f"aevalsrc=exprs='{exprs[kind]}':s={sr}:d={d}"
    if kind in ("noise", "pink", "brown"):
        color = "white" if kind == "noise" else kind
        return f"anoisesrc=color={color}:seed={seed}:amplitude={amp}:r={sr}:d={d}"
    raise ValueError(f"unknown tone kind {kind!r}; choose from {TONE_KINDS}")


def tone_wav(
    path: PathLike, freq: float = 440.0, seconds: float = 1.0, kind: str = "sine", seed: int = 0
) -> Path:
    """Write a 16 kHz mono WAV at half scale: a tone (``freq`` Hz; chirp sweeps freq -> 3*freq) or noise."""
    src = _tone_source(kind, freq, seconds, seed)
    return ffmpeg(["-f", "lavfi", "-i", src, "-ac", "1", "-c:a", "pcm_s16le"], Path(path))


def convert_audio(
    src: PathLike,
    dst: PathLike,
    start: float = 0.0,
    seconds: float | None = None,
    volume: float = 1.0,
    sample_rate: int = SAMPLE_RATE,
) -> Path:
    """Re-encode (and optionally cut / rescale) any audio file; the codec follows ``dst``'s suffix."""
    args = ["-ss", f"{start:.3f}", "-i", str(src)] + (["-t", f"{seconds:.3f}"] if seconds else [])
    args += ["-vn", "-af", f"volume={volume:g}", "-ar", str(sample_rate), "-ac", "1"]
    return ffmpeg(args, Path(dst))


def _speech_list(speech: Speech | None) -> list[tuple[float, str]]:
    if speech is None:
        return []
    return [(0.3, speech)] if isinstance(speech, str) else [(float(t), s) for t, s in speech]


def _text_list(text: Onscreen | None, seconds: float) -> list[tuple[float, float, str]]:
    if text is None:
        return []
    return [(0.0, seconds, text)] if isinstance(text, str) else [(float(a), float(b), s) for a, b, s in text]


def make_video(
    path: PathLike,
    seconds: float | None = 4.0,
    color: str = "red",
    shape: str | None = "box",
    onscreen_text: Onscreen | None = None,
    speech: Speech | None = None,
    tone_hz: float | None = None,
    moving: bool = True,
    size: tuple[int, int] = (320, 240),
    fps: int = 15,
    *,
    background: str = "black",
    tone_kind: str = "sine",
    tone_volume: float = 0.12,
    voice: str = "en-us",
    speed: int = 150,
) -> Path:
    """Write an H.264 (libx264 veryfast, yuv420p) mp4 with optional AAC audio.

    - ``color``/``shape``: a filled shape (see SHAPES; None for none) on a ``background`` colour,
      sliding left to right when ``moving``.
    - ``onscreen_text``: a string shown the whole time, or ``[(start, end, text), ...]``; drawn in
      large black letters on a white band at the bottom (legible for OCR).
    - ``speech``: a sentence spoken from 0.3 s, or ``[(start, sentence), ...]`` (espeak-ng).
    - ``tone_hz``: a background tone of ``tone_kind`` (see TONE_KINDS) mixed under the speech.
    - ``seconds``: the length; None fits it to the speech (last sentence end + 0.7 s, at least 2 s).
    The file has an audio stream only when ``speech`` or ``tone_hz`` is given.
    """
    path, (w, h) = Path(path), size
    speech_items = _speech_list(speech)
    with tempfile.TemporaryDirectory(prefix="synth-") as tmp_dir:
        tmp = Path(tmp_dir)
        wavs = [_espeak(tmp / f"s{i}.wav", s, voice, speed) for i, (_, s) in enumerate(speech_items)]
        if seconds is None:
            ends = [t + wav_seconds(p) for (t, _), p in zip(speech_items, wavs, strict=True)]
            seconds = max([2.0, *(e + 0.7 for e in ends)])
        dur = f"{seconds:.3f}"
        args = ["-f", "lavfi", "-i", f"color=c={_hex(background)}:s={w}x{h}:r={fps}:d={dur}"]
        graph, last, n_in = [], "0:v", 1
        texts = _text_list(onscreen_text, seconds)
        band_h = max((text_band(t, w).height for _, _, t in texts), default=0)
        if shape:
            side = max(8, int(min(w, h - band_h) * 0.6))
            shape_image(shape, color, side).save(tmp / "shape.png")
            args += ["-i", str(tmp / "shape.png")]
            y = max(0, (h - band_h - side) // 2)
            x = f"4+({w - side - 8})*t/{dur}" if moving else str((w - side) // 2)
            graph.append(f"[{last}][{n_in}:v]overlay=x='{x}':y={y}[v{n_in}]")
            last, n_in = f"v{n_in}", n_in + 1
        for a, b, text in texts:
            band = text_band(text, w)
            band.save(tmp / f"t{n_in}.png")
            args += ["-i", str(tmp / f"t{n_in}.png")]
            graph.append(
                f"[{last}][{n_in}:v]overlay=x=0:y={h - band.height}:"
                f"enable='between(t,{a:.3f},{b:.3f})'[v{n_in}]"
            )
            last, n_in = f"v{n_in}", n_in + 1
        graph.append(f"[{last}]format=yuv420p[vout]")
        audio_labels = []
        for (t, _), wav in zip(speech_items, wavs, strict=True):
            args += ["-i", str(wav)]
            graph.append(f"[{n_in}:a]adelay={round(t * 1000)}:all=1[a{n_in}]")
            audio_labels.append(f"[a{n_in}]")
            n_in += 1
        if tone_hz:
            graph.append(f"{_tone_source(tone_kind, tone_hz, seconds, amp=0.5)},volume={tone_volume:g}[tone]")
            audio_labels.append("[tone]")
        out = "-map [vout] -c:v libx264 -preset veryfast -pix_fmt yuv420p".split()
        out += ["-r", str(fps), "-g", str(fps * 2)]
        if audio_labels:
            graph.append(
                f"{''.join(audio_labels)}amix=inputs={len(audio_labels)}:normalize=0:"
                f"duration=longest,apad,aresample={SAMPLE_RATE}[aout]"
            )
            out += ["-map", "[aout]", "-c:a", "aac", "-b:a", "64k", "-ac", "1"]
        args += ["-filter_complex", ";".join(graph), *out, "-t", dur, "-movflags", "+faststart"]
        return ffmpeg(args, path)


def make_image(
    path: PathLike,
    text: str | None = None,
    color: str = "white",
    *,
    shape: str | None = None,
    shape_color: str = "red",
    size: tuple[int, int] = (320, 240),
) -> Path:
    """Write a PNG: a ``color`` background, an optional centred shape and an optional text band."""
    from PIL import Image

    path = _prep(path)
    w, h = size
    img = Image.new("RGB", size, color)
    band = text_band(text, w) if text else None
    band_h = band.height if band else 0
    if shape:
        side = max(8, int(min(w, h - band_h) * 0.6))
        sh = shape_image(shape, shape_color, side)
        img.paste(sh, ((w - side) // 2, max(0, (h - band_h - side) // 2)), sh)
    if band:
        img.paste(band, (0, h - band_h))
    img.save(path, format="PNG")
    return path


def _srt_time(t: float) -> str:
    ms = int(round(t * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def write_srt(path: PathLike, cues: Iterable[tuple[float, float, str]]) -> Path:
    """Write an SRT subtitle file from ``(start_s, end_s, text)`` cues."""
    path = _prep(path)
    blocks = [f"{i}\n{_srt_time(a)} --> {_srt_time(b)}\n{text}\n" for i, (a, b, text) in enumerate(cues, 1)]
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def corrupt_file(path: PathLike, size: int = 4096, seed: int = 0) -> Path:
    """Write ``size`` seeded random bytes (give ``path`` a media extension to fake a broken file)."""
    path = _prep(path)
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def probe(path: PathLike) -> dict[str, Any]:
    """ffprobe's JSON (``format`` and ``streams``) for a media file."""
    cmd = [require("ffprobe"), "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SynthError(f"ffprobe failed on {path}: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout)


def media_seconds(path: PathLike) -> float:
    """The container duration of a media file in seconds (ffprobe)."""
    return float(probe(path)["format"].get("duration", 0.0))
