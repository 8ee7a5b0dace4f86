"""`index --segment shots` end to end: clips follow the cuts, the index records the mode and min/max
lengths, a re-run follows them, a conflicting `--segment` fails naming them; bad engine/segment flags."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import synth
from test_cli_errors import _one_line_error, omni

pytestmark = pytest.mark.skipif(not synth.have_tools("ffmpeg", "espeak-ng"), reason="needs ffmpeg, espeak-ng")


def two_shots(path: Path) -> None:
    """3 s of red, then 4 s of blue: one hard cut at 3 s."""
    src = [
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=160x96:r=25:d=3",
        "-f",
        "lavfi",
        "-i",
        "color=c=blue:s=160x96:r=25:d=4",
    ]
    graph = "[0:v][1:v]concat=n=2:v=1[v]"
    cmd = ["ffmpeg", "-v", "error", "-y", *src, "-filter_complex", graph, "-map", "[v]", "-c:v", "libx264"]
    subprocess.run([*cmd, "-pix_fmt", "yuv420p", str(path)], check=True)


@pytest.mark.slow  # three CLI runs that load the encoder: 2.5 min on the loaded 2-core build machine
def test_shots_index_records_its_segmentation(tmp_path: Path) -> None:
    lib, db = tmp_path / "lib", tmp_path / "db"
    lib.mkdir()
    two_shots(lib / "cut.mp4")
    r = omni("index", str(lib), "--db", str(db), "--segment", "shots", "--min-len", "1.5", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(omni("info", "--db", str(db)).stdout)
    seg = info["spec"]["segment"]
    assert (seg["mode"], seg["min_len"], seg["max_len"]) == ("shots", 1.5, 20.0)
    r = omni("export", "--db", str(db))
    spans = sorted((round(c["start"], 1), round(c["end"], 1)) for c in map(json.loads, r.stdout.splitlines()))
    assert spans == [(0.0, 3.0), (3.0, 7.0)]
    line = _one_line_error(omni("index", str(lib), "--db", str(db), "--segment", "fixed"))
    assert "--segment shots" in line and "--min-len 1.5" in line
    r = omni("index", str(lib), "--db", str(db), "--json")  # no options: the index's own settings
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["files_unchanged"] == 1


def test_bad_segment_and_engine_flags(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(b"")
    line = _one_line_error(omni("index", str(tmp_path), "--db", str(tmp_path / "db"), "--segment", "scenes"))
    assert "fixed, shots, speech" in line
    line = _one_line_error(omni("index", str(tmp_path), "--db", str(tmp_path / "db"), "--engine", "spark"))
    assert "local or ray" in line
    line = _one_line_error(
        omni("index", str(tmp_path), "--db", str(tmp_path / "db"), "--ray-address", "auto")
    )
    assert "--engine ray" in line
