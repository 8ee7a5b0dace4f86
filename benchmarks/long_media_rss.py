"""Peak RSS of ingesting a 10-minute and a 2-hour video (640x360, 5 fps, H.264 + AAC): the real
pipeline (probe, chunked audio decode, 8 frames per clip, one commit per file) and a real LanceDB
store, with the cheap spectrum encoder of `tests/reliab_runner.py` (so the figure is the pipeline's,
not a model's: omni-lite adds its fixed model memory on top). Needs ffmpeg.

    python benchmarks/long_media_rss.py [WORKDIR]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNNER = Path(__file__).resolve().parent.parent / "tests" / "reliab_runner.py"
sys.path.insert(0, str(RUNNER.parent.parent / "examples"))  # synth: the media generator
import synth  # noqa: E402


def make_video(path: Path, seconds: int) -> None:
    if path.exists():
        return
    picture = ["-f", "lavfi", "-i", f"testsrc=duration={seconds}:size=640x360:rate=5"]
    tone = ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    codecs = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "250", "-c:a", "aac", "-shortest"]
    synth.ffmpeg([*picture, *tone, *codecs], path)


def ingest(video: Path, db: Path) -> tuple[float, float, str]:
    env = dict(os.environ, OMP_NUM_THREADS="2")
    t = time.perf_counter()
    r = subprocess.run(
        ["/usr/bin/time", "-f", "%M", sys.executable, str(RUNNER), str(db), str(video), "--window", "10"],
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.perf_counter() - t
    assert r.returncode == 0, r.stderr[-2000:]
    return int(r.stderr.strip().splitlines()[-1]) / 1024, wall, r.stdout.strip().splitlines()[-1]


def main(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    print("| file | clips | peak RSS | wall |")
    print("|---|---|---|---|")
    for name, seconds in (("10min.mp4", 600), ("2h.mp4", 7200)):
        video = work / name
        make_video(video, seconds)
        rss, wall, report = ingest(video, work / f"db-{name}")
        clips = report.split('"clips": ')[1].split(",")[0]
        print(f"| {name} ({os.path.getsize(video) / 1e6:.0f} MB) | {clips} | {rss:.0f} MB | {wall:.0f} s |")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="longrss-")))
