"""Build the omnisearch demo library plus a list of example queries with their expected answers.

Usage:
    python examples/build_library.py OUT_DIR [--shared ../shared/media] [--no-download]

Writes OUT_DIR/library/{sounds,videos,images,shared}/..., OUT_DIR/queries/ (query media files) and
OUT_DIR/queries.json. Every path in queries.json is relative to OUT_DIR. Existing files are skipped,
so re-running is cheap. Media is never meant to be committed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sources
import synth

# the short generated videos: name, shape colour, shape, background, on-screen text, spoken sentence
# (say), the query that should find it (ask), tone [Hz, kind], sidecar kind, description
VIDEOS: list[dict[str, Any]] = json.loads(Path(__file__).with_name("demo_videos.json").read_text())
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
    for src in sources.freedesktop_sounds():
        b.copy(src, f"library/sounds/freedesktop/{src.name}", "freedesktop sound")
    bell = b.out / "library/sounds/freedesktop/bell.oga"
    if bell.exists():
        q = b.make("queries/bell_quiet.wav", lambda p: synth.convert_audio(bell, p, volume=0.5), "query file")
        queries.append(dict(type="audio", query=q, expect="library/sounds/freedesktop/bell.oga", via="sound"))
    if not sources.freedesktop_sounds():
        print("warning: sound-theme-freedesktop is not installed; no desktop sounds", file=sys.stderr)

    animals_dir = b.out / "library/sounds/animals"
    before = set(animals_dir.glob("*")) if animals_dir.exists() else set()
    got = set(sources.animal_sounds(animals_dir, cache=b.out / ".cache", download=download))
    b.counts["animal sound"] += len(got - before)
    b.counts["animal sound (skipped)"] += len(got & before)
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
    args = sources.builder_parser(__doc__).parse_args(argv)
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
