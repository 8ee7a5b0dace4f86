"""Writers racing on one index (first-time and existing table, LanceDB and Qdrant local), a long-lived
reader seeing new commits, one-commit re-indexing, and an unreadable folder keeping its rows. Real
ingest pipeline and stores; the writers use the small spectrum encoder of `reliab_runner.py`."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from reliab_helpers import clip_keys, make_library, run_writer, start_writer, write_wav

from omnisearch.indexers import open_store
from omnisearch.types import Modality


def _report(out: str) -> dict:
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


@pytest.mark.parametrize("kind", ["lancedb", "qdrant"])
def test_two_first_time_writers_on_one_new_index(tmp_path: Path, kind: str) -> None:
    make_library(tmp_path / "a", 3, prefix="a")
    make_library(tmp_path / "b", 3, prefix="b")
    db = tmp_path / "db"
    extra = ("--store", kind)
    p1 = start_writer(db, tmp_path / "a", extra=extra)
    p2 = start_writer(db, tmp_path / "b", extra=extra)
    outs = [p.communicate(timeout=300) for p in (p1, p2)]
    assert (p1.returncode, p2.returncode) == (0, 0), outs
    assert any("WAITING" in o for o, _ in outs)  # one of them waited for the other
    assert "Traceback" not in "".join(e for _, e in outs)
    store = open_store(kind, str(db))
    keys = clip_keys(store)
    assert len({k[0] for k in keys}) == 6 and max(keys.values()) == 1
    store.close()


def test_two_writers_on_the_same_folder_store_no_duplicates(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 4)
    db = tmp_path / "db"
    assert run_writer(db, tmp_path / "lib")[0] == 0  # existing table
    for f in (tmp_path / "lib").glob("*.wav"):  # every file changed: both writers would re-index all
        write_wav(f, 150 + 31 * int(f.stem[1:]), 4.0, seed=7)
    p1, p2 = (start_writer(db, tmp_path / "lib", extra=("--delay", "0.05")) for _ in range(2))
    reports = [_report(p.communicate(timeout=300)[0]) for p in (p1, p2)]
    assert sorted(r["indexed"] for r in reports) == [0, 4]  # the second found the first's work done
    store = open_store("lancedb", str(db))
    keys = clip_keys(store)
    assert max(keys.values()) == 1 and len({k[0] for k in keys}) == 4
    assert len({k[3] for k in keys}) == 4  # only the new content's rows
    store.close()


def test_no_wait_writer_exits_busy_naming_the_holder(tmp_path: Path) -> None:
    from omnisearch.indexers import WriterLock, lock_path_for

    make_library(tmp_path / "lib", 1)
    db = tmp_path / "db"
    with WriterLock(lock_path_for(str(db))).hold(wait=False):
        rc, out = run_writer(db, tmp_path / "lib", extra=("--no-wait",))
    assert rc == 2 and f"index busy: held by pid {os.getpid()}" in out


def test_long_lived_reader_sees_commits_of_another_process(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 2)
    db = tmp_path / "db"
    reader = open_store("lancedb", str(db))  # opened before the table exists
    assert reader.count() == 0
    assert run_writer(db, tmp_path / "lib")[0] == 0
    n = reader.count()
    assert n > 0 and len(reader.search(Modality.AUDIO, np.ones(16, np.float32), k=50)) == n  # cached
    write_wav(tmp_path / "lib" / "late.wav", 3000, 3.0)
    assert run_writer(db, tmp_path / "lib")[0] == 0
    assert reader.count() > n and "late.wav" in {os.path.basename(p) for p in reader.files()}
    hits = reader.search(Modality.AUDIO, np.ones(16, np.float32), k=50)
    assert len(hits) == reader.count() and "late.wav" in {os.path.basename(h.row["path"]) for h in hits}


def test_reindex_replaces_rows_in_one_commit(tmp_path: Path) -> None:
    """The changed file's new rows and the deletion of its old ones are one table version."""
    make_library(tmp_path / "lib", 2)
    db = tmp_path / "db"
    assert run_writer(db, tmp_path / "lib")[0] == 0
    store = open_store("lancedb", str(db))
    before = store._tbl.version
    write_wav(tmp_path / "lib" / "s0.wav", 999, 3.0)
    assert run_writer(db, tmp_path / "lib")[0] == 0
    assert store._tbl.version == before + 1
    assert len({r["file_hash"] for r in store.scan() if r["path"].endswith("s0.wav")}) == 1


# root reads anything: its writers run without the capabilities that bypass file permissions
NO_DAC = ("setpriv", "--bounding-set=-dac_override,-dac_read_search")


@pytest.mark.skipif(sys.platform != "linux", reason="needs POSIX permissions")
def test_unreadable_folder_keeps_its_rows_and_is_reported(tmp_path: Path) -> None:
    """A folder made unreadable is reported and its files' rows kept; a deleted file's rows go."""
    root = tmp_path / "w"
    make_library(root / "lib" / "one", 2, prefix="o")
    make_library(root / "lib" / "two", 2, prefix="t")
    db = root / "db"
    prefix = NO_DAC if os.geteuid() == 0 else ()
    if prefix and not shutil.which(prefix[0]):
        pytest.skip("running as root without setpriv (util-linux)")

    def run() -> tuple[int, dict, str]:
        p = start_writer(db, root / "lib", prefix=prefix)
        out, err = p.communicate(timeout=300)
        return p.returncode, _report(out) if "{" in out else {}, err

    rc, rep, err = run()
    assert rc == 0 and rep["indexed"] == 4, err
    per_file = open_store("lancedb", str(db)).count() // 4  # 4 equal-length files
    os.chmod(root / "lib" / "two", 0)
    (root / "lib" / "one" / "o1.wav").unlink()
    try:
        rc, rep, err = run()
    finally:
        os.chmod(root / "lib" / "two", 0o777)
    assert rc == 0, err
    assert rep["removed"] == 1  # the deleted file
    assert [os.path.basename(f[0]) for f in rep["failed"]] == ["two"]
    assert "Permission denied" in rep["failed"][0][1]
    assert sorted(os.path.basename(k[0]) for k in rep["kept"]) == ["t0.wav", "t1.wav"]
    store = open_store("lancedb", str(db))
    assert store.count() == 3 * per_file and {os.path.basename(p) for p in store.files()} == {
        "o0.wav",
        "t0.wav",
        "t1.wav",
    }
