"""Ingest speed of whole `omnisearch index` processes (model load included), on three generated
libraries, beside a full ffmpeg decode of the same files and the project's decode-only pass (same
frames and audio, no model). Prints a markdown table; not part of the tests. Needs ffmpeg, espeak-ng.

    python benchmarks/bench_ingest.py [--work DIR] [--only talk,sounds,music]
                                      [--before OTHER_CHECKOUT/.venv/bin/omnisearch]

Libraries (as /work/shared/checks/lib/media.sh makes them):
- talk: one 10-min 640x360 H.264+AAC testsrc video (moving picture, a second counter) with an
  on-screen title and continuous espeak-ng speech;
- sounds: 60 short non-speech sounds (1-3 s: sines, pink noise, amplitude-modulated tones);
- music: one 10-min 640x360 video of a still title card with a chord melody and no speech.
`--before` runs another checkout's CLI on the same libraries in the same session (the old path).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ENV = dict(os.environ, OMP_NUM_THREADS="2", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
TALK = (
    "Welcome to the quarterly review. Today we discuss the budget for the new warehouse in Lisbon, the "
    "hiring plan for the support team, and the marketing campaign for the spring launch."
)
# a chord (root, major third, fifth) stepping up a semitone every half second, 8 steps, repeated
MELODY = "0.15*(sin(2*PI*t*F)+sin(2*PI*t*F*1.26)+sin(2*PI*t*F*1.5))".replace(
    "F", r"220*pow(2\,floor(mod(t*2\,8))/12)"
)
FF = ["ffmpeg", "-loglevel", "error", "-y"]
MAP = ["-map", "[v]", "-map", "1:a"]
CODECS = ["-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac"]


def sh(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def make_talk(d: Path, secs: int = 600) -> list[Path]:
    out = d / "talk.mp4"
    if not out.exists():
        d.mkdir(parents=True, exist_ok=True)
        sh(["espeak-ng", "-w", str(d / ".speech.wav"), TALK])
        video = f"testsrc=duration={secs}:size=640x360:rate=25"
        title = "[0:v]drawtext=text='QUARTERLY REVIEW':fontsize=40:x=50:y=50:fontcolor=white[v]"
        sh([*FF, "-f", "lavfi", "-i", video, "-stream_loop", "-1", "-i", str(d / ".speech.wav"),
            "-filter_complex", title, *MAP, "-t", str(secs), *CODECS, str(out)])  # fmt: skip
        (d / ".speech.wav").unlink()
    return [out]


def make_sounds(d: Path, n: int = 60) -> list[Path]:
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(1, n + 1):
        f, dur, p = 200 + 37 * i, 1 + i % 3, d / f"s{i}.wav"
        src = [f"sine=frequency={f}:duration={dur}", f"anoisesrc=d={dur}:c=pink:seed={i}",
               f"aevalsrc=sin({f}*2*PI*t)*sin(3*2*PI*t):d={dur}"][i % 3]  # fmt: skip
        if not p.exists():
            sh(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", src, "-ar", "22050", str(p)])
        out.append(p)
    return out


def make_music(d: Path, secs: int = 600) -> list[Path]:
    out = d / "music.mp4"
    if not out.exists():
        d.mkdir(parents=True, exist_ok=True)
        video = f"color=c=navy:size=640x360:rate=25:d={secs}"
        title = "[0:v]drawtext=text='SPRING CONCERT':fontsize=40:x=50:y=50:fontcolor=white[v]"
        sh([*FF, "-f", "lavfi", "-i", video, "-f", "lavfi", "-i", f"aevalsrc={MELODY}:d={secs}:s=44100",
            "-filter_complex", title, *MAP, "-t", str(secs), *CODECS, str(out)])  # fmt: skip
    return [out]


def timed(cmd: list[str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS MB of the largest process, stdout) of a command run under /usr/bin/time."""
    t = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "RSS %M", *cmd], capture_output=True, text=True, env=ENV)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({r.returncode}): {r.stderr[-2000:]}")
    rss = [int(x.split()[1]) for x in r.stderr.splitlines() if x.startswith("RSS ")]
    return wall, (rss[-1] // 1024 if rss else 0), r.stdout


def ffmpeg_decode(files: list[Path]) -> float:
    t = time.perf_counter()
    for f in files:
        sh(["ffmpeg", "-loglevel", "error", "-threads", "2", "-i", str(f), "-map", "0", "-f", "null", "-"])
    return time.perf_counter() - t


DECODE_ONLY = """
import sys, time
t = time.perf_counter()
from omnisearch.config import DecodeConfig, SegmentConfig
from omnisearch.ingest.stages.items import Clips, FileTask
from omnisearch.ingest.stages.reader import read_file
from omnisearch.media.walk import find_media
found, _ = find_media(sys.argv[1:])
n = sum(len(m.jobs) for f in found for m in read_file(FileTask(f, ""), SegmentConfig(), DecodeConfig())
        if isinstance(m, Clips))
print(n, time.perf_counter() - t)
"""


def index_run(cli: str, folder: Path, db: Path) -> dict:
    shutil.rmtree(db, ignore_errors=True)
    wall, rss, out = timed([cli, "index", str(folder), "--db", str(db), "--json"])
    rep = json.loads(out)
    stages = rep.get("stage_seconds", {})
    return {"wall": wall, "rss": rss, "clips": rep["clips_written"], "media": rep["media_seconds"],
            "stages": stages, "busiest": rep.get("busiest_stage", "")}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/omni-bench-ingest")
    ap.add_argument("--before", default=None, help="another checkout's omnisearch CLI (the old path)")
    ap.add_argument("--only", default="talk,sounds,music")
    a = ap.parse_args()
    work = Path(a.work)
    cli = str(Path(sys.executable).parent / "omnisearch")
    libs = {"talk": make_talk, "sounds": make_sounds, "music": make_music}
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2-core machine: figures are noisy when > 0)")
    print("| library | run | wall s | clips | clips/s | realtime x | stages (s) | busiest | peak RSS MB "
          "| ffmpeg decode s | decode-only s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in a.only.split(","):
        files = libs[name](work / name)
        ff = ffmpeg_decode(files)
        dwall, _, dout = timed([sys.executable, "-c", DECODE_ONLY, *map(str, files)])
        runs = [("now", cli)] + ([("before", a.before)] if a.before else [])
        for label, exe in runs:
            r = index_run(exe, work / name, work / f"db-{name}-{label}")
            st = ", ".join(f"{k} {v:.1f}" for k, v in r["stages"].items())
            print(f"| {name} | {label} | {r['wall']:.1f} | {r['clips']} | {r['clips'] / r['wall']:.2f} | "
                  f"{r['media'] / r['wall']:.1f} | {st} | {r['busiest'] or '-'} | {r['rss']} | {ff:.1f} | "
                  f"{dwall:.1f} ({dout.split()[0]} clips) |", flush=True)  # fmt: skip
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
