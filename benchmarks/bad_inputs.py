"""Bad input everywhere, through the real CLI: prints a markdown table of each case, the exit code and
the first line the user sees (stderr), plus peak RSS of decoding a huge image. Needs ffmpeg.

    python benchmarks/bad_inputs.py [WORKDIR]

The index runs use omni-lite (its packaged weights); expect a few minutes on 2 cores.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent / "examples"))  # synth: the media generator

import synth  # noqa: E402
from reliab_helpers import run_writer, write_wav  # noqa: E402
from test_cli_errors import huge_png  # noqa: E402

ENV = dict(os.environ, OMP_NUM_THREADS="2", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
OMNI = [sys.executable, "-m", "omnisearch.cli.main"]
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []


def run(args: list[str], prefix: list[str] | None = None) -> tuple[int, str, str]:
    r = subprocess.run([*(prefix or []), *OMNI, *args], capture_output=True, text=True, env=ENV, timeout=1800)
    lines = [x for x in r.stderr.splitlines() if x.strip() and "Loading weights" not in x]
    return r.returncode, lines[0] if lines else "", r.stdout


def peak_rss_mb(code: str) -> float:
    r = subprocess.run(
        ["/usr/bin/time", "-f", "%M", sys.executable, "-c", code], capture_output=True, text=True
    )
    return int(r.stderr.strip().splitlines()[-1]) / 1024


def main(work: Path) -> None:
    rows: list[tuple[str, str, int, str]] = []

    def case(label: str, args: list[str], prefix: list[str] | None = None) -> tuple[int, str, str]:
        rc, line, out = run(args, prefix)
        rows.append((label, " ".join(a if len(a) < 40 else "…" + a[-30:] for a in args[:4]), rc, line))
        return rc, line, out

    lib, db = work / "lib", work / "db"
    write_wav(lib / "good.wav", 440, 3.0)
    write_wav(lib / "sub" / "inner.wav", 660, 3.0)
    write_wav(lib / "side.wav", 880, 2.0)
    (lib / "side.txt").write_bytes(bytes(range(256)) * 4096)
    write_wav(lib / "big.wav", 990, 2.0)
    (lib / "big.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n\n" * 150_000)
    (lib / "broken.mp4").write_bytes(os.urandom(4096))
    (lib / "empty.mp3").write_bytes(b"")
    huge_png(lib / "huge.png", 12000, 12000)
    synth.ffmpeg(
        ["-f", "lavfi", "-i", "testsrc=s=8000x8000", "-frames:v", "1", "-q:v", "5"], lib / "huge.jpg"
    )
    notdir = work / "file"
    notdir.write_text("x")

    rc, _, out = case(
        "binary .txt sidecar, 5.8 MB .srt, corrupt mp4, empty mp3, 12000x12000 PNG, 8000x8000 JPEG (--json)",
        ["index", str(lib), "--db", str(db), "--json"],
    )
    summary = json.loads(out)
    for f in summary["failed"] + summary["warnings"]:
        rows.append(("  ↳ " + os.path.basename(f["file"]), "(in the JSON)", rc, f["reason"]))
    rows.append(("  ↳ indexed", "(in the JSON)", rc, f"{summary['files_indexed']} files, stdout = JSON only"))
    case("same, --strict", ["index", str(lib), "--db", str(db), "--json", "--strict"])
    if NO_DAC or os.geteuid() != 0:
        os.chmod(lib / "sub", 0)
        rc, line, out = case(
            "unreadable sub-folder (its file indexed before)",
            ["index", str(lib), "--db", str(db), "--json"],
            NO_DAC,
        )
        s = json.loads(out)
        rows.append(("  ↳ kept", "(in the JSON)", rc, f"removed {s['files_removed']}; kept: {s['kept']}"))
        os.chmod(lib / "sub", 0o755)
    for label, args in [
        ("--db is a file: search", ["search", "x", "--db", str(notdir)]),
        ("--db is a file: info", ["info", "--db", str(notdir)]),
        ("--db is a file: index", ["index", str(lib), "--db", str(notdir)]),
        ("--audio DIR", ["search", "--audio", str(lib), "--db", str(db)]),
        ("--audio missing file", ["search", "--audio", str(work / "nope.wav"), "--db", str(db)]),
        ("--span 9-3", ["search", "--audio", str(lib / "good.wav"), "--span", "9-3", "--db", str(db)]),
        ("empty query", ["search", "--db", str(db)]),
        ("--window 0", ["index", str(lib), "--db", str(db), "--window", "0"]),
        ("no index at --db", ["search", "x", "--db", str(work / "none")]),
        ("import a garbage file", ["import", str(notdir), "--db", str(work / "imp")]),
    ]:
        case(label, args)
    meta = work / "meta.jsonl"
    meta.write_text(run(["export", "--db", str(db)])[2])
    case("import an export without --vectors", ["import", str(meta), "--db", str(work / "imp")])
    other = work / "other"
    run_writer(other, lib / "good.wav")
    full = work / "full.jsonl"
    full.write_text(run(["export", "--db", str(db), "--vectors"])[2])
    case("import into an index of another encoder", ["import", str(full), "--db", str(other)])

    from qdrant_client import QdrantClient

    from omnisearch.indexers import WriterLock, lock_path_for

    with WriterLock(lock_path_for(str(db))).hold(wait=False):
        case("index --no-wait while another writer runs", ["index", str(lib), "--db", str(db), "--no-wait"])
    (work / "q").mkdir()
    client = QdrantClient(path=str(work / "q"))
    case(
        "Qdrant local folder open elsewhere: search",
        ["search", "x", "--db", str(work / "q"), "--store", "qdrant"],
    )
    case(
        "Qdrant local folder open elsewhere: index --no-wait",
        ["index", str(lib), "--db", str(work / "q"), "--store", "qdrant", "--no-wait"],
    )
    client.close()
    data = sorted(glob.glob(str(db / "clips.lance" / "data" / "*.lance")), key=os.path.getmtime)
    broken = work / "broken_db"
    shutil.copytree(db, broken)
    os.remove(broken / "clips.lance" / "data" / os.path.basename(data[-1]))
    case("deleted data file: export", ["export", "--db", str(broken)])
    case("deleted data file: doctor", ["doctor", "--db", str(broken)])
    case("deleted data file: doctor --fix", ["doctor", "--db", str(broken), "--fix"])
    garbled = work / "garbled_db"
    shutil.copytree(db, garbled)
    newest = sorted(glob.glob(str(garbled / "clips.lance" / "_versions" / "*.manifest")))[0]
    Path(newest).write_bytes(b"garbage" * 20)
    case("garbled newest manifest: info", ["info", "--db", str(garbled)])
    case("garbled newest manifest: doctor --fix", ["doctor", "--db", str(garbled), "--fix"])

    print("| bad input | command | exit | what the user sees (first stderr line) |")
    print("|---|---|---|---|")
    for label, cmd, rc, line in rows:
        print(f"| {label} | `{cmd}` | {rc} | {line.replace('|', '/')[:230]} |")
    jpg, png = str(lib / "huge.jpg"), str(lib / "huge.png")
    ours = "from omnisearch.media.decode import _load_image as f\ntry:\n f({!r}, 224)\nexcept Exception:\n 0"
    pil = "from PIL import Image; Image.open({!r}).convert('RGB').load()"
    rss = {
        (k, n): peak_rss_mb(code.format(p))
        for k, code in (("ours", ours), ("pil", pil))
        for n, p in (("jpg", jpg), ("png", png))
    }
    print(
        f"\npeak RSS decoding to a 224 px frame: 8000x8000 JPEG {rss['ours', 'jpg']:.0f} MB (PIL full decode"
    )
    print(
        f"decode {rss['pil', 'jpg']:.0f} MB); 12000x12000 PNG, refused at its header: "
        f"{rss['ours', 'png']:.0f} MB"
    )
    print(f"(PIL full decode {rss['pil', 'png']:.0f} MB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="badin-")))
