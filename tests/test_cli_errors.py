"""Bad input through the real CLI: one-line errors and exit codes (no tracebacks), busy indexes
refused before any model loads, `--json` stdout holding only JSON, `--strict`."""

from __future__ import annotations

import glob
import json
import os
import socket
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import synth
from reliab_helpers import make_library, run_writer, write_wav


def omni(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="2", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cmd = [sys.executable, "-m", "omnisearch.cli.main", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def _one_line_error(r: subprocess.CompletedProcess, code: int = 2) -> str:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Loading weights" not in r.stderr, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    return lines[0]


def huge_png(path: Path, width: int, height: int) -> Path:
    """A black PNG of width x height written row by row (never held in memory)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    comp, row, idat = zlib.compressobj(9), b"\0" * (1 + 3 * width), []
    for _ in range(height):
        idat.append(comp.compress(row))
    idat.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(idat)) + chunk(b"IEND", b"")
    )
    return path


def test_db_pointing_at_a_file(tmp_path: Path) -> None:
    f = tmp_path / "notadir"
    f.write_text("x")
    make_library(tmp_path / "lib", 1)
    for args in (
        ("search", "x", "--db", str(f)),
        ("info", "--db", str(f)),
        ("index", str(tmp_path / "lib"), "--db", str(f)),
        ("doctor", "--db", str(f)),
        ("export", "--db", str(f)),
    ):
        assert "is a file, not an index folder" in _one_line_error(omni(*args)), args


def test_busy_index_no_wait_exits_2_before_loading_a_model(tmp_path: Path) -> None:
    from omnisearch.indexers import WriterLock, lock_path_for

    make_library(tmp_path / "lib", 1)
    db = tmp_path / "db"
    with WriterLock(lock_path_for(str(db))).hold(wait=False):
        line = _one_line_error(omni("index", str(tmp_path / "lib"), "--db", str(db), "--no-wait"))
    assert f"index busy: held by pid {os.getpid()} on {socket.gethostname()}" in line


def test_qdrant_local_in_use_is_a_clear_message(tmp_path: Path) -> None:
    from qdrant_client import QdrantClient

    make_library(tmp_path / "lib", 1)
    q = tmp_path / "q"
    q.mkdir()
    client = QdrantClient(path=str(q))  # another client holds the folder (local mode: one per folder)
    try:
        line = _one_line_error(omni("search", "x", "--db", str(q), "--store", "qdrant"))
        assert "index busy" in line and "one client per folder" in line
        line = _one_line_error(
            omni("index", str(tmp_path / "lib"), "--db", str(q), "--store", "qdrant", "--no-wait")
        )
        assert "index busy" in line
    finally:
        client.close()


def test_damaged_table_gives_one_line_with_a_recovery_hint(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 2)
    db = tmp_path / "db"
    assert run_writer(db, tmp_path / "lib")[0] == 0
    write_wav(tmp_path / "lib" / "late.wav", 999, 3.0)
    assert run_writer(db, tmp_path / "lib")[0] == 0
    data = sorted(glob.glob(str(db / "clips.lance" / "data" / "*.lance")), key=os.path.getmtime)
    os.remove(data[-1])
    line = _one_line_error(omni("export", "--db", str(db)))
    assert "cannot read the index" in line and "doctor --db" in line and "/rustc/" not in line
    newest = sorted(glob.glob(str(db / "clips.lance" / "_versions" / "*.manifest")))[0]
    Path(newest).write_bytes(b"garbage" * 20)
    line = _one_line_error(omni("info", "--db", str(db)))
    assert "cannot read the index" in line and "--fix" in line


def test_query_file_options_reject_folders(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 1)
    assert run_writer(tmp_path / "db", tmp_path / "lib")[0] == 0
    line = _one_line_error(omni("search", "--audio", str(tmp_path / "lib"), "--db", str(tmp_path / "db")))
    assert "is a folder" in line


@pytest.mark.skipif(not synth.have_tools("ffmpeg"), reason="needs Debian ffmpeg")
def test_index_json_with_bad_inputs_is_pure_json_and_strict_fails(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    write_wav(lib / "good.wav", 440, 2.0)
    write_wav(lib / "sidecar.wav", 880, 2.0)
    (lib / "sidecar.txt").write_bytes(bytes(range(256)) * 4096)  # 1 MB of binary: not a description
    synth.corrupt_file(lib / "broken.mp4")
    (lib / "empty.mp3").write_bytes(b"")
    huge_png(lib / "huge.png", 12000, 12000)
    r = omni("index", str(lib), "--db", str(tmp_path / "db"), "--json", "--strict")
    assert r.returncode == 1, r.stderr  # --strict: skipped files fail the run
    summary = json.loads(r.stdout)  # stdout is the JSON alone
    failed = {os.path.basename(f["file"]): f["reason"] for f in summary["failed"]}
    assert set(failed) == {"broken.mp4", "empty.mp3", "huge.png"}, failed
    assert "too large" in failed["huge.png"]
    assert summary["files_indexed"] == 2
    warned = {os.path.basename(f["file"]): f["reason"] for f in summary["warnings"]}
    assert "binary content" in warned["sidecar.txt"]
    assert "skipped" in r.stderr  # progress messages went to stderr
