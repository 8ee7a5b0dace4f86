"""kill -9 at random moments of an ingest (some right inside the commit of a re-indexed file), files
changed between rounds, a long-lived reader searching all along; then one full run must equal an
uninterrupted index of the same library: 0 lost, 0 duplicated, 0 extra, 0 failed searches.
A few rounds run by default; `-m slow` runs 24."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from reliab_helpers import clip_keys, compare, make_library, run_writer, start_writer, write_wav

from omnisearch.indexers import open_store
from omnisearch.types import Modality


def _search_all(reader, failures: list[str]) -> None:
    try:
        reader.search(Modality.AUDIO, np.ones(16, np.float32), k=5)
        reader.files()
    except Exception as e:  # any failure of a reader during ingest counts
        failures.append(f"{type(e).__name__}: {e}")


def _kill_round(db: Path, lib: Path, rng: random.Random, reader, failures: list[str]) -> str:
    """One writer killed by SIGKILL: inside a commit (after its COMMIT line) or at a random time."""
    p = start_writer(db, lib, extra=("--delay", "0.05", "--signal"))
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(p.stdout), daemon=True).start()
    in_commit = rng.random() < 0.5
    commits_to_skip = rng.randrange(0, 2)
    deadline = time.monotonic() + rng.uniform(1.0, 9.0)
    how = "finished"
    while p.poll() is None:
        _search_all(reader, failures)
        if in_commit and sum(line.startswith("COMMIT") for line in lines) > commits_to_skip:
            time.sleep(rng.uniform(0.0, 0.03))  # inside merge_insert (it takes tens of ms)
            how = "in commit"
            break
        if not in_commit and time.monotonic() > deadline:
            how = "random"
            break
        time.sleep(0.01)
    if p.poll() is None:
        os.kill(p.pid, signal.SIGKILL)
    if p.wait(30) == 0:  # it finished before the kill landed
        how = "finished"
    else:
        assert p.returncode == -signal.SIGKILL
    p.stderr.close()
    return how


def _mutate(lib: Path, rng: random.Random, round_no: int) -> None:
    """Change one or two files (so the next run re-indexes them), sometimes add or delete one."""
    files = sorted(lib.glob("*.wav"))
    for f in rng.sample(files, k=min(len(files), rng.randint(1, 2))):
        write_wav(f, rng.uniform(150, 4000), rng.choice([3.0, 4.0, 5.0]), seed=round_no)
    if rng.random() < 0.25 and len(files) > 3:
        rng.choice(files).unlink()
    elif rng.random() < 0.25:
        write_wav(lib / f"new{round_no}.wav", rng.uniform(150, 4000), 3.0, seed=round_no)


def kill_loop(tmp_path: Path, rounds: int, seed: int) -> dict:
    rng = random.Random(seed)
    lib = tmp_path / "lib"
    make_library(lib, 5)
    db = tmp_path / "dbk"
    reader = open_store("lancedb", str(db))  # long-lived, opened before the table exists
    failures: list[str] = []
    kinds = []
    for r in range(rounds):
        if r % 2 == 1:
            _mutate(lib, rng, r)
        kinds.append(_kill_round(db, lib, rng, reader, failures))
    rc, out = run_writer(db, lib)
    assert rc == 0, out
    clean = tmp_path / "dbc"
    rc, out = run_writer(clean, lib)
    assert rc == 0, out
    got, want = clip_keys(reader), clip_keys(open_store("lancedb", str(clean)))
    result = compare(got, want)
    result.update(rounds=rounds, clips=sum(got.values()), want=sum(want.values()), search_failures=failures)
    result["in_commit"] = kinds.count("in commit")
    return result


def _check(result: dict) -> None:
    assert (result["lost"], result["duplicated"], result["extra"]) == (0, 0, 0), result
    assert result["search_failures"] == [], result
    assert result["clips"] == result["want"] > 0


def test_kill9_rounds_then_one_run_equals_uninterrupted(tmp_path: Path) -> None:
    result = kill_loop(tmp_path, rounds=4, seed=1)
    _check(result)


@pytest.mark.slow
def test_kill9_24_rounds(tmp_path: Path) -> None:
    result = kill_loop(tmp_path, rounds=24, seed=7)
    print(result)
    _check(result)
    assert result["in_commit"] >= 5  # the commit of a (re-indexed) file was hit several times
