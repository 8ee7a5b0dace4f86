"""doctor finds and fixes: a changed, a deleted, a never-indexed file, duplicated rows, a zero vector,
a garbled newest manifest and a deleted data file, a stale lock. export -> import is exact on LanceDB
and gives Qdrant the same top-k. Real pipeline and stores, the spectrum encoder of the runner."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from reliab_helpers import make_library, run_writer, write_wav
from reliab_runner import SpectrumEncoder

from omnisearch.config import SegmentConfig
from omnisearch.indexers import open_store
from omnisearch.indexers.transfer import TransferError, export_lines, import_lines
from omnisearch.ingest.doctor import diagnose, repair, vector_problem
from omnisearch.types import Modality

SEG = SegmentConfig(window=2.0, overlap=1.0)


@pytest.fixture
def indexed(tmp_path: Path):
    make_library(tmp_path / "lib", 4)
    db = tmp_path / "db"
    rc, out = run_writer(db, tmp_path / "lib")
    assert rc == 0, out
    return tmp_path / "lib", db


def _kinds(report) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in report.problems:
        out.setdefault(p.kind, []).append(os.path.basename(p.path))
    return out


def _fix(store) -> list[str]:
    return repair(store, diagnose(store), SpectrumEncoder, SEG)


def test_fresh_index_is_healthy_and_an_unindexable_file_is_a_note(indexed) -> None:
    lib, db = indexed
    (lib / "corrupt.wav").write_bytes(os.urandom(2048))  # index skips it too, with a reason
    report = diagnose(open_store("lancedb", str(db)))
    assert report.problems == [] and report.files == 4 and report.clips == 16
    assert len(report.notes) == 1 and "corrupt.wav: not indexable" in report.notes[0]


def test_changed_deleted_new_duplicated_zero_vector_found_and_fixed(indexed) -> None:
    lib, db = indexed
    store = open_store("lancedb", str(db))
    write_wav(lib / "s0.wav", 3333, 5.0)  # changed
    (lib / "s1.wav").unlink()  # deleted
    write_wav(lib / "fresh.wav", 777, 3.0)  # never indexed
    # every row of s2 twice (as two racing writers once did), a zero vector in one s3 row
    t = store._tbl
    s2 = t.search().where("`path` LIKE '%s2.wav'").limit(None).to_arrow()
    t.add(s2)
    s3 = t.search().where("`path` LIKE '%s3.wav'").limit(1).to_arrow().to_pylist()[0]
    s3["vec_audio"] = [0.0] * 16  # flagged as present (LanceDB itself refuses NaN vectors)
    t.delete(f"`clip_id` = '{s3['clip_id']}'")
    t.add(pa.Table.from_pylist([s3], schema=t.schema))
    report = diagnose(store)
    kinds = _kinds(report)
    assert kinds["changed"] == ["s0.wav"] and kinds["missing"] == ["s1.wav"]
    assert kinds["never_indexed"] == ["fresh.wav"] and kinds["bad_vector"] == ["s3.wav"]
    assert set(kinds["duplicate_id"]) == {"s2.wav"} and len(kinds["duplicate_id"]) == 4
    done = _fix(store)
    assert any("duplicate" in d for d in done) and any("missing" in d for d in done), done
    after = diagnose(store)
    assert after.problems == [], after.problems
    assert {os.path.basename(p) for p in store.files()} == {"s0.wav", "s2.wav", "s3.wav", "fresh.wav"}


def test_garbled_manifest_and_deleted_data_file_restored(indexed) -> None:
    lib, db = indexed
    write_wav(lib / "late.wav", 1234, 3.0)
    assert run_writer(db, lib)[0] == 0  # one more version holding late.wav
    data = sorted(glob.glob(str(db / "clips.lance" / "data" / "*.lance")), key=os.path.getmtime)
    os.remove(data[-1])  # the newest data file: late.wav's rows
    store = open_store("lancedb", str(db))
    assert _kinds(diagnose(store)).keys() == {"storage"}
    done = _fix(store)
    assert any(d.startswith("restored version") for d in done), done
    assert diagnose(store).problems == []
    assert "late.wav" in {os.path.basename(p) for p in store.files()}  # re-indexed after the restore
    newest = sorted(glob.glob(str(db / "clips.lance" / "_versions" / "*.manifest")))[0]
    Path(newest).write_bytes(b"not a manifest" * 10)
    store = open_store("lancedb", str(db))
    report = diagnose(store)
    assert report.problems[0].kind == "storage" and "unreadable" in report.problems[0].detail
    done = _fix(store)
    assert any("moved unreadable manifest" in d for d in done)
    assert diagnose(store).problems == [] and len(store.files()) == 5


def test_stale_lock_found_and_cleared(indexed) -> None:
    _, db = indexed
    hold = (
        "import sys, time; from omnisearch.indexers.lock import WriterLock as W; "
        "W(sys.argv[1]).acquire(); print(1, flush=True); time.sleep(60)"
    )
    p = subprocess.Popen([sys.executable, "-c", hold, str(db / ".omnisearch.lock")], stdout=subprocess.PIPE)
    p.stdout.readline()
    os.kill(p.pid, signal.SIGKILL)
    p.wait(10)
    store = open_store("lancedb", str(db))
    assert _kinds(diagnose(store)) == {"lock": [".omnisearch.lock"]}
    assert any(f"pid {p.pid}" in d for d in _fix(store))
    assert diagnose(store).problems == []


def test_vector_problem_reference() -> None:
    unit = np.zeros(4, np.float32)
    unit[0] = 1
    assert vector_problem(unit, 4) is None
    assert vector_problem(np.zeros(4, np.float32), 4) == "zero vector"
    assert vector_problem(np.array([1, 1e-45, 0, 0], np.float32), 4) == "denormal values"
    assert vector_problem(np.array([2, 0, 0, 0], np.float32), 4).startswith("not unit")
    assert vector_problem(unit, 8).startswith("dimension")


def test_export_import_round_trip_lancedb_exact_and_qdrant_same_topk(indexed, tmp_path: Path) -> None:
    _, db = indexed
    src = open_store("lancedb", str(db))
    lines = list(export_lines(src, vectors=True))
    assert len(lines) == 16 and all(json.loads(x)["spec"]["name"] == "spectrum-test" for x in lines)
    copy = open_store("lancedb", str(tmp_path / "copy"))
    assert import_lines(lines, copy) == 16
    assert list(export_lines(copy, vectors=True)) == lines  # bit-exact, spec included
    q = open_store("qdrant", str(tmp_path / "q"))
    assert import_lines(lines, q) == 16
    assert q.encoder() == src.encoder()
    assert src.spec() is not None and copy.spec() == src.spec() == q.spec()  # opens without --model
    for row in src.rows()[::3]:
        v = src.vectors([row["clip_id"]], Modality.AUDIO)[row["clip_id"]]
        top = [[h.row["clip_id"] for h in s.search(Modality.AUDIO, v, 5)] for s in (src, q)]
        assert top[0] == top[1]
    meta = [json.loads(x) for x in export_lines(src)]
    assert "vectors" not in meta[0] and {"id", "file", "start", "end", "hash", "text"} <= meta[0].keys()
    with pytest.raises(TransferError, match="no vectors"):
        import_lines([json.dumps(meta[0])], open_store("lancedb", str(tmp_path / "x")))


def test_stale_index_found_and_updated(indexed) -> None:
    from lancedb.index import BTree

    lib, db = indexed
    open_store("lancedb", str(db))._tbl.create_index("path", config=BTree())
    write_wav(lib / "late.wav", 1500, 3.0)
    assert run_writer(db, lib)[0] == 0  # rows added after the index was built
    store = open_store("lancedb", str(db))
    problems = diagnose(store).problems
    assert [p.kind for p in problems] == ["storage"] and "stale index" in problems[0].detail
    assert any("stale index" in d for d in _fix(store))
    assert diagnose(store).problems == []
