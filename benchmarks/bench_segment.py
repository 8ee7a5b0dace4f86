"""Hit quality of `--segment fixed|shots|speech` on two generated videos.

"shots": the video is SHOTS concatenated: each shot has its own background colour (a hard cut), shape,
on-screen word and one spoken sentence (espeak-ng), and lasts 4-15 s; there is a pause in the speech
at every cut. Each shot has two text queries (its spoken topic and its on-screen word). The same
video is indexed with each segmentation (default encoder, LanceDB) and each query's top hit is scored:

- `inside`: the hit's clip span lies inside the query's shot (0.25 s of slack at either end);
- `right`: most of the hit's clip span lies in the query's shot;
- `purity`: the share of the hit's clip span that lies in the query's shot (mean over queries);
- `covers`: the hit's clip span holds most of the query's shot (a long clip can cover it and still
  be impure).

"talk": one continuous shot (no cut) in which the same sentences are spoken one after another with
1.2 s pauses; one query per sentence (its topic), scored the same way against the sentence's spoken
interval (slack: half a pause).

Example:
    $ OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_segment.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from omnisearch.config import SegmentConfig
from omnisearch.indexers import open_store
from omnisearch.ingest.pipeline import index_paths
from omnisearch.models import EncoderOptions, load_encoder
from omnisearch.retrieval.planner import SearchOptions, search
from omnisearch.retrieval.query import Query

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))  # synth: the media generator
import synth  # noqa: E402

# (seconds, colour, shape, on-screen word, sentence, spoken-topic query)
SHOTS = [
    (6.0, "red", "circle", "LISBON", "The new warehouse in Lisbon opens next spring.", "warehouse in Lisbon"),
    (
        9.0,
        "blue",
        "box",
        "HIRING",
        "We plan to hire twelve engineers for the support team.",
        "hiring engineers",
    ),
    (4.5, "green", "triangle", "BUDGET", "The budget grew by ten percent.", "budget growth"),
    (12.0, "yellow", "star", "GARDEN", "Our rooftop garden grows tomatoes and basil.", "rooftop garden"),
    (5.0, "purple", "diamond", "PIANO", "A piano concert closes the evening.", "piano concert"),
    (14.0, "orange", "cross", "TRAINS", "The night train to Madrid leaves at ten.", "night train to Madrid"),
    (7.0, "cyan", "circle", "COFFEE", "Fresh coffee is served in the lobby.", "coffee in the lobby"),
    (8.0, "white", "box", "SOCCER", "The soccer final was played in the rain.", "soccer final"),
]
SLACK = 0.25
COLUMNS = ("inside", "right", "purity", "covers")
PAUSE = 1.2  # the talk: silence between sentences
LIGHT = ("yellow", "cyan", "white", "orange", "green")
MODES = {
    "fixed": SegmentConfig(),
    "shots": SegmentConfig(mode="shots"),
    "speech": SegmentConfig(mode="speech"),
}


def make_library(root: Path) -> tuple[Path, list[tuple[float, float]]]:
    """The shots video and each shot's (start, end)."""
    parts, bounds, t = [], [], 0.0
    for i, (secs, color, shape, word, sentence, _) in enumerate(SHOTS):
        part = root / f"shot{i}.mp4"
        synth.make_video(part, secs, color="black" if color in LIGHT else "white", shape=shape,
                         onscreen_text=word, speech=[(0.5, sentence)], size=(320, 240), moving=False,
                         background=color)  # fmt: skip
        parts.append(part)
        bounds.append((t, t + secs))
        t += secs
    listing = root / "parts.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    video = root / "lib" / "shots.mp4"
    video.parent.mkdir()
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy"]
    subprocess.run([*cmd, str(video)], check=True)
    return video, bounds


def make_talk(root: Path) -> tuple[Path, list[tuple[float, float]]]:
    """One continuous shot (no cut) in which the SHOTS sentences are spoken one after another with
    PAUSE s between them; returns the video and each sentence's spoken (start, end)."""
    speech, regions, t = [], [], 0.5
    for shot in SHOTS:
        secs = synth.speech_seconds(shot[4])
        speech.append((t, shot[4]))
        regions.append((t, t + secs))
        t += secs + PAUSE
    video = root / "talk" / "talk.mp4"
    video.parent.mkdir()
    synth.make_video(video, None, color="white", shape="circle", onscreen_text="QUARTERLY REVIEW",
                     speech=speech, size=(320, 240), background="navy")  # fmt: skip
    return video, regions


def overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def score(video: Path, regions: list, queries: list, mode: str, enc, db: Path, slack: float) -> str:
    """Index `video` with `mode` and score each query's top hit against its region."""
    store = open_store("lancedb", str(db))
    t = time.perf_counter()
    report = index_paths([str(video.parent)], store, enc, MODES[mode])
    wall = time.perf_counter() - t
    inside = right = covers = 0
    purity = 0.0
    for q, i in queries:
        hit = search(store, enc, Query(text=q), SearchOptions(k=1)).hits[0]
        span, target = (hit.start, hit.end), regions[i]
        inside += target[0] - slack <= span[0] and span[1] <= target[1] + slack
        share = overlap(span, target) / max(span[1] - span[0], 1e-9)
        right += share > 0.5
        purity += share
        covers += overlap(span, target) / (target[1] - target[0]) > 0.5
    store.close()
    n = len(queries)
    rates = " ".join(f"{x / n:7.2f}" for x in (inside, right, purity, covers))
    return f"{mode:8} {report.clips_written:5d} {wall:8.1f} {rates}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modes", nargs="+", default=list(MODES))
    args = ap.parse_args()
    enc = load_encoder("omni-lite", EncoderOptions(device="cpu"))
    with tempfile.TemporaryDirectory(prefix="bench-segment-") as tmp:
        root = Path(tmp)
        shots, bounds = make_library(root)
        talk, regions = make_talk(root)
        libraries = [
            (
                "shots",
                shots,
                bounds,
                [(q, i) for i, s in enumerate(SHOTS) for q in (s[5], s[3].lower())],
                SLACK,
            ),
            ("talk", talk, regions, [(s[5], i) for i, s in enumerate(SHOTS)], PAUSE / 2),
        ]
        for name, video, targets, queries, slack in libraries:
            print(f"\n{name}: {targets[-1][1]:.1f} s, {len(targets)} targets, {len(queries)} queries (top-1)")
            print(f"{'mode':8} {'clips':>5} {'index s':>8} " + " ".join(f"{c:>7}" for c in COLUMNS))
            for mode in args.modes:
                print(
                    score(video, targets, queries, mode, enc, root / f"db-{name}-{mode}", slack), flush=True
                )


if __name__ == "__main__":
    main()
