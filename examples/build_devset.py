"""Build a labelled dev benchmark in the manifest format of docs/benchmark-format.md.

Usage:
    python examples/build_devset.py OUT_DIR [--seed 0] [--n-synth 60] [--test-frac 0.3]
                                    [--shared ../shared/media] [--no-download]

Sources: the ovos CC0 animal sounds (audio + caption, group = animal), the freedesktop event sounds
(audio + caption from the file name), ../shared/media clips when present (video + caption) and a
generated tri-modal set (videos with a coloured shape, spoken words, on-screen text and a tone,
each captioned). Writes OUT_DIR/media/..., OUT_DIR/all.jsonl and a deterministic, disjoint split
into OUT_DIR/train.jsonl and OUT_DIR/test.jsonl. Paths are relative to OUT_DIR. Existing media
files are reused.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import sources
import synth

ANIMAL_CAPTIONS = {
    "cat": "a cat meowing",
    "cow": "a cow mooing",
    "dog": "a dog barking",
    "duck": "a duck quacking",
    "frog": "a frog croaking",
    "horse": "a horse neighing",
    "owl": "an owl hooting",
    "pig": "a pig oinking",
    "rooster": "a rooster crowing",
    "sheep": "a sheep bleating",
}
SHARED_CAPTIONS = {
    "flipping_a_pancake": "a person flipping a pancake in a frying pan",
    "demo_no_audio": "two people arm wrestling at a table",
}
FREEDESKTOP_CAPTIONS = {
    "complete": "a completion chime",
    "bell": "a bell ringing",
    "camera-shutter": "a camera shutter click",
}
COLORS = ("red", "blue", "green", "yellow", "purple", "orange", "white", "cyan")
NUMBERS = ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve")
NOUNS = (
    "apples",
    "candles",
    "horses",
    "pencils",
    "windows",
    "bottles",
    "rabbits",
    "tickets",
    "flowers",
    "boats",
    "chairs",
    "lemons",
    "guitars",
    "clocks",
    "spoons",
    "kites",
    "buses",
    "tigers",
    "books",
)
WORDS = (
    "PARIS",
    "TOKYO",
    "BERLIN",
    "OCEAN",
    "GUITAR",
    "ROCKET",
    "COFFEE",
    "MUSEUM",
    "FOREST",
    "DESERT",
    "CASTLE",
    "PIANO",
    "SUNSET",
    "WINTER",
    "GARDEN",
    "BRIDGE",
    "ISLAND",
    "ROBOT",
    "PLANET",
    "MARKET",
    "TIGER",
    "SCHOOL",
    "CAMERA",
    "DRAGON",
    "CANDLE",
    "TRAIN",
    "RIVER",
    "VALLEY",
    "HOTEL",
    "PIZZA",
)
TONES = ((None, ""), (220.0, "a low hum"), (440.0, "a steady beep"), (1000.0, "a high beep"))


def _copy(src: Path, dst: Path) -> None:
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)


def animal_items(out: Path, download: bool) -> list[dict[str, Any]]:
    """The ovos animal sounds: audio + two captions, grouped by animal."""
    dest = out / "media" / "animals"
    items = []
    for p in sources.animal_sounds(dest, cache=out / ".cache", download=download):
        name = p.stem
        caption = ANIMAL_CAPTIONS.get(name, f"a {name} sound")
        items.append(
            dict(
                id=f"animal_{name}",
                audio=f"media/animals/{p.name}",
                text=[caption, f"the sound of a {name}"],
                group=name,
            )
        )
    return items


def freedesktop_caption(stem: str) -> str:
    """A caption from a freedesktop sound's file name ("audio-channel-front-left" -> a voice says ...)."""
    if stem in FREEDESKTOP_CAPTIONS:
        return FREEDESKTOP_CAPTIONS[stem]
    if stem.startswith("audio-channel-"):
        return f"a voice says '{stem.removeprefix('audio-channel-').replace('-', ' ')}'"
    return f"the {stem.replace('-', ' ').replace('_', ' ')} sound"


def freedesktop_items(out: Path) -> list[dict[str, Any]]:
    """The 35 desktop event sounds: audio + a caption derived from the name."""
    items = []
    for src in sources.freedesktop_sounds():
        _copy(src, out / "media" / "freedesktop" / src.name)
        items.append(
            dict(
                id=f"fd_{src.stem.replace('-', '_')}",
                audio=f"media/freedesktop/{src.name}",
                text=freedesktop_caption(src.stem),
            )
        )
    return items


def shared_items(out: Path, shared: Path) -> list[dict[str, Any]]:
    """Real clips from ../shared/media (video + caption), when that folder exists."""
    if not shared.is_dir():
        print(f"note: {shared} not found; no shared media", file=sys.stderr)
        return []
    items = []
    for src in sorted(shared.iterdir()):
        if src.is_file() and src.suffix.lower() in (".mp4", ".mkv", ".webm", ".mov", ".avi"):
            _copy(src, out / "media" / "shared" / src.name)
            caption = SHARED_CAPTIONS.get(src.stem, src.stem.replace("_", " ").replace("-", " "))
            items.append(dict(id=f"shared_{src.stem}", video=f"media/shared/{src.name}", text=caption))
    return items


def synth_specs(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` distinct tri-modal clip descriptions drawn with a seeded RNG."""
    rng = random.Random(seed)
    phrases = [f"{a} {b}" for a in NUMBERS for b in NOUNS]
    rng.shuffle(phrases)
    words = list(WORDS)
    rng.shuffle(words)
    if n > len(phrases):
        raise ValueError(f"--n-synth must be <= {len(phrases)}")
    specs = []
    for i in range(n):
        tone_hz, tone_desc = rng.choice(TONES)
        spec = dict(
            i=i,
            color=rng.choice(COLORS),
            shape=rng.choice(synth.SHAPES),
            say=phrases[i],
            word=words[i % len(words)],
            tone_hz=tone_hz,
            tone_desc=tone_desc,
            moving=rng.random() < 0.7,
            bg="black" if rng.random() < 0.8 else "gray",
        )
        shape = "square" if spec["shape"] == "box" else spec["shape"]
        motion = "moving" if spec["moving"] else "standing still"
        caption = f"a {spec['color']} {shape} {motion}, a voice says '{spec['say']}'"
        caption += f", the screen shows '{spec['word']}'"
        spec["caption"] = caption + (f", with {tone_desc}" if tone_desc else "")
        specs.append(spec)
    return specs


def synth_items(out: Path, n: int, seed: int) -> list[dict[str, Any]]:
    """Generate (or reuse) the tri-modal videos and return their manifest rows."""
    items = []
    for spec in synth_specs(n, seed):
        rel = f"media/synth/s{seed}_{spec['i']:03d}.mp4"
        dst = out / rel
        if not dst.exists():
            tmp = dst.with_name(f".tmp-{dst.name}")
            synth.make_video(
                tmp,
                3.0,
                color=spec["color"],
                shape=spec["shape"],
                onscreen_text=spec["word"],
                speech=spec["say"],
                tone_hz=spec["tone_hz"],
                moving=spec["moving"],
                background=spec["bg"],
            )
            os.replace(tmp, dst)
        items.append(dict(id=f"synth_{seed}_{spec['i']:03d}", video=rel, text=spec["caption"]))
    return items


def split(
    items_by_source: dict[str, list[dict[str, Any]]], test_frac: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per source: shuffle with ``seed`` and send round(test_frac * n) items (>= 1 when n >= 2) to test."""
    rng = random.Random(seed)
    train, test = [], []
    for source in sorted(items_by_source):
        items = sorted(items_by_source[source], key=lambda r: r["id"])
        rng.shuffle(items)
        k = round(test_frac * len(items))
        k = min(max(k, 1 if len(items) >= 2 else 0), len(items) - 1) if items else 0
        test += items[:k]
        train += items[k:]
    return sorted(train, key=lambda r: r["id"]), sorted(test, key=lambda r: r["id"])


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = sources.builder_parser(__doc__)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-synth", type=int, default=60, help="number of generated tri-modal videos")
    ap.add_argument("--test-frac", type=float, default=0.3)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    by_source = {
        "animal": animal_items(out, download=not args.no_download),
        "freedesktop": freedesktop_items(out),
        "shared": shared_items(out, args.shared),
        "synth": synth_items(out, args.n_synth, args.seed),
    }
    train, test = split(by_source, args.test_frac, args.seed)
    every = sorted(train + test, key=lambda r: r["id"])
    assert len({r["id"] for r in every}) == len(every), "duplicate ids"
    write_jsonl(out / "all.jsonl", every)
    write_jsonl(out / "train.jsonl", train)
    write_jsonl(out / "test.jsonl", test)
    split_of = {r["id"]: "train" for r in train} | {r["id"]: "test" for r in test}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for source, rows in by_source.items():
        for r in rows:
            counts[source][split_of[r["id"]]] += 1
    for source in by_source:
        c = counts[source]
        print(f"  {source:12s} {c['train'] + c['test']:4d} items  (train {c['train']}, test {c['test']})")
    print(f"wrote {out / 'all.jsonl'} ({len(every)}), train.jsonl ({len(train)}), test.jsonl ({len(test)})")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
