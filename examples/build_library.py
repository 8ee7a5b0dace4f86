"""Build the omnisearch demo library plus a list of example queries with their expected answers.

Usage:
    python examples/build_library.py OUT_DIR [--shared ../shared/media] [--no-download]

Writes OUT_DIR/library/{sounds,videos,images,shared}/..., OUT_DIR/queries/ (query media files) and
OUT_DIR/queries.json. Every path in queries.json is relative to OUT_DIR. Existing files are skipped,
so re-running is cheap. Media is never meant to be committed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import synth

DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "media"

# name, shape colour, shape, background, on-screen text, spoken sentence, tone (Hz, kind), sidecar
VIDEOS: list[dict[str, Any]] = [
    dict(
        name="v01_red_circle",
        color="red",
        shape="circle",
        text="PARIS",
        tone=(440, "sine"),
        side="srt",
        say="Seven green apples are lying on the kitchen table.",
        ask="apples on the kitchen table",
    ),
    dict(
        name="v02_blue_box",
        color="blue",
        shape="box",
        text="TOKYO",
        side="txt",
        say="The last train to the airport leaves at nine o'clock.",
        ask="when the airport train leaves",
        desc="A blue square slides across a black screen under the word Tokyo.",
    ),
    dict(
        name="v03_lime_triangle",
        color="lime",
        shape="triangle",
        text="BERLIN",
        tone=(660, "square"),
        say="Please remember to water the tomato plants tonight.",
        ask="watering tomato plants",
    ),
    dict(
        name="v04_yellow_star",
        color="yellow",
        shape="star",
        text="OCEAN",
        side="srt",
        say="My grandmother bakes fresh bread every Sunday morning.",
        ask="grandmother baking bread",
    ),
    dict(
        name="v05_purple_diamond",
        color="purple",
        shape="diamond",
        bg="white",
        text="GUITAR",
        side="txt",
        tone=(880, "chirp"),
        say="The football match was cancelled because of heavy rain.",
        ask="football match cancelled by rain",
        desc="A purple diamond on a white background with the word guitar; a rising whistle.",
    ),
    dict(
        name="v06_orange_cross",
        color="orange",
        shape="cross",
        text="MOUNTAIN",
        tone=(300, "saw"),
        say="Turn left at the old church and follow the river.",
        ask="directions past the old church",
    ),
    dict(
        name="v07_cyan_circle",
        color="cyan",
        shape="circle",
        text="ROCKET",
        side="srt",
        moving=False,
        say="The library closes early on public holidays.",
        ask="library opening hours on holidays",
    ),
    dict(
        name="v08_white_box",
        color="white",
        shape="box",
        bg="navy",
        text="COFFEE",
        tone=(500, "pink"),
        side="txt",
        say="A small dog is sleeping under the wooden bench.",
        ask="a dog asleep under a bench",
        desc="A white square on a navy background, soft rushing noise, the word coffee.",
    ),
    dict(
        name="v09_green_star_silent",
        color="green",
        shape="star",
        bg="gray",
        text="MUSEUM",
        side="txt",
        desc="A silent clip: a green star drifting over a grey background.",
        say=None,
    ),
]
LONG_SPEECH = [
    (1.0, "Volcanoes form where hot rock rises through the crust."),
    (7.5, "Penguins cannot fly, but they are excellent swimmers."),
    (14.0, "A bicycle chain needs oil every few hundred miles."),
    (20.5, "Thank you for listening, and see you next week."),
]
LONG_TEXT = [
    (0.0, 7.0, "VOLCANOES"),
    (7.0, 13.5, "PENGUINS"),
    (13.5, 20.0, "BICYCLES"),
    (20.0, 25.0, "THANKS"),
]


class Builder:
    """Creates files only when missing (written to a temp name, then renamed) and counts what it did."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.counts: Counter[str] = Counter()

    def make(self, rel: str, fn: Callable[[Path], object], kind: str) -> str:
        dest = self.out / rel
        if dest.exists():
            self.counts[f"{kind} (skipped)"] += 1
            return rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".tmp-{dest.name}")
        fn(tmp)
        os.replace(tmp, dest)
        self.counts[kind] += 1
        return rel

    def copy(self, src: Path, rel: str, kind: str) -> str:
        return self.make(rel, lambda dst: shutil.copyfile(src, dst), kind)


def build_videos(b: Builder, queries: list[dict[str, Any]]) -> None:
    """The generated short videos, their sidecars, the long video and the poster image."""
    for v in VIDEOS:
        rel = f"library/videos/{v['name']}.mp4"
        tone_hz, tone_kind = v.get("tone", (None, "sine"))
        say = v["say"]
        b.make(
            rel,
            lambda p, v=v, th=tone_hz, tk=tone_kind: synth.make_video(
                p,
                None if v["say"] else 4.0,
                color=v["color"],
                shape=v["shape"],
                onscreen_text=v["text"],
                speech=v["say"],
                tone_hz=th,
                tone_kind=tk,
                moving=v.get("moving", True),
                background=v.get("bg", "black"),
            ),
            "video",
        )
        if v.get("side") == "srt" and say:
            cue = (0.3, 0.3 + synth.speech_seconds(say), say)  # make_video starts a lone sentence at 0.3 s
            b.make(rel[:-4] + ".srt", lambda p, c=cue: synth.write_srt(p, [c]), "srt sidecar")
        if v.get("side") == "txt":
            b.make(rel[:-4] + ".txt", lambda p, d=v["desc"]: p.write_text(d + "\n"), "txt sidecar")
        if say:
            queries.append(dict(type="text", query=v["ask"], expect=rel, via="speech"))
        queries.append(dict(type="text", query=v["text"], expect=rel, via="onscreen_text"))
        if v.get("desc"):
            queries.append(dict(type="text", query=v["desc"].split(";")[0], expect=rel, via="description"))
        queries.append(dict(type="text", query=f"a {v['color']} {v['shape']}", expect=rel, via="visual"))

    rel = "library/videos/long_lecture.mp4"
    b.make(
        rel,
        lambda p: synth.make_video(
            p,
            25.0,
            color="gold",
            shape="circle",
            onscreen_text=LONG_TEXT,
            speech=LONG_SPEECH,
            background="darkslategray",
        ),
        "long video",
    )
    cues = [(t, t + synth.speech_seconds(s), s) for t, s in LONG_SPEECH]
    b.make(rel[:-4] + ".srt", lambda p: synth.write_srt(p, cues), "srt sidecar")
    for (_, s), (a, e, word) in zip(LONG_SPEECH, LONG_TEXT, strict=True):
        spoken = " ".join(s.rstrip(".").lower().replace(",", "").split()[:5])
        queries.append(dict(type="text", query=spoken, expect=rel, start=a, end=e, via="speech"))
        queries.append(dict(type="text", query=word, expect=rel, start=a, end=e, via="onscreen_text"))

    rel = "library/images/poster_lighthouse.png"
    b.make(
        rel,
        lambda p: synth.make_image(p, "LIGHTHOUSE", "teal", shape="triangle", shape_color="white"),
        "image",
    )
    queries.append(dict(type="text", query="LIGHTHOUSE", expect=rel, via="onscreen_text"))


def build_sounds(b: Builder, queries: list[dict[str, Any]], download: bool) -> None:
    """Freedesktop event sounds, the ovos animal sounds, and audio query files cut from them."""
    for src in synth.freedesktop_sounds():
        b.copy(src, f"library/sounds/freedesktop/{src.name}", "freedesktop sound")
    bell = b.out / "library/sounds/freedesktop/bell.oga"
    if bell.exists():
        q = b.make("queries/bell_quiet.wav", lambda p: synth.convert_audio(bell, p, volume=0.5), "query file")
        queries.append(dict(type="audio", query=q, expect="library/sounds/freedesktop/bell.oga", via="sound"))
    if not synth.freedesktop_sounds():
        print("warning: sound-theme-freedesktop is not installed; no desktop sounds", file=sys.stderr)

    animals_dir = b.out / "library/sounds/animals"
    if download or any(animals_dir.glob("*.mp3")):
        try:
            before = set(animals_dir.glob("*")) if animals_dir.exists() else set()
            got = synth.fetch_ovos_animals(animals_dir, cache=b.out / ".cache")
            b.counts["animal sound"] += len(set(got) - before)
            b.counts["animal sound (skipped)"] += len(set(got) & before)
        except synth.SynthError as exc:
            print(f"warning: no ovos animal sounds ({exc}); continuing", file=sys.stderr)
    dog = animals_dir / "dog.mp3"
    if dog.exists():
        q = b.make(
            "queries/dog_clip.wav",
            lambda p: synth.convert_audio(dog, p, start=0.2, seconds=1.5, volume=0.7),
            "query file",
        )
        queries.append(dict(type="audio", query=q, expect="library/sounds/animals/dog.mp3", via="sound"))
        queries.append(
            dict(
                type="text",
                query="a dog barking",
                expect="library/sounds/animals/dog.mp3",
                via="sound_caption",
            )
        )


def build_query_media(b: Builder, queries: list[dict[str, Any]]) -> None:
    """Query files that are themselves media: spoken questions and a still frame."""
    q = b.make(
        "queries/spoken_train_question.wav",
        lambda p: synth.speech_wav(p, "When does the last train to the airport leave?", voice="en-gb"),
        "query file",
    )
    queries.append(dict(type="audio", query=q, expect="library/videos/v02_blue_box.mp4", via="speech"))
    q = b.make(
        "queries/red_circle.png",
        lambda p: synth.make_image(p, None, "black", shape="circle", shape_color="red"),
        "query file",
    )
    queries.append(dict(type="image", query=q, expect="library/videos/v01_red_circle.mp4", via="visual"))


def build_shared(b: Builder, queries: list[dict[str, Any]], shared: Path) -> None:
    """Copy the real clips from ../shared/media when that folder exists."""
    if not shared.is_dir():
        print(f"note: {shared} not found; no shared media", file=sys.stderr)
        return
    known = {
        "flipping_a_pancake.mkv": "a person flipping a pancake in a frying pan",
        "demo_no_audio.mp4": "two people arm wrestling at a table",
    }
    for src in sorted(shared.iterdir()):
        if src.is_file() and not src.name.startswith("."):
            rel = b.copy(src, f"library/shared/{src.name}", "shared media")
            if src.name in known:
                queries.append(dict(type="text", query=known[src.name], expect=rel, via="visual"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="folder of real clips to copy")
    ap.add_argument("--no-download", action="store_true", help="skip pip-downloading the ovos animal sounds")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    b, queries = Builder(out), []
    build_videos(b, queries)
    build_sounds(b, queries, download=not args.no_download)
    build_query_media(b, queries)
    build_shared(b, queries, args.shared)
    for i, q in enumerate(queries, 1):
        q["id"] = f"q{i:02d}"
    doc = {"library": "library", "queries": [{"id": q.pop("id"), **q} for q in queries]}
    (out / "queries.json").write_text(json.dumps(doc, indent=1) + "\n")
    files = [p for p in (out / "library").rglob("*") if p.is_file()]
    for kind, n in sorted(b.counts.items()):
        print(f"  {kind:28s} {n}")
    print(
        f"library: {len(files)} files in {out / 'library'}; {len(queries)} queries in {out / 'queries.json'}"
    )
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
