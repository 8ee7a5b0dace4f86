"""Shared by the reliability tests: WAV fixtures, starting writer processes, comparing indexes."""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
RUNNER = HERE / "reliab_runner.py"


def write_wav(path: Path, freq: float, seconds: float = 5.0, seed: int = 0, rate: int = 16000) -> Path:
    """A tone plus a little seeded noise, 16-bit mono."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    x = 0.5 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def make_library(root: Path, n: int, seconds: float = 5.0, prefix: str = "s") -> list[Path]:
    return [write_wav(root / f"{prefix}{i}.wav", 200 + 97 * i, seconds, seed=i) for i in range(n)]


def env() -> dict:
    e = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(HERE))
    return e


def start_writer(
    db: Path, *libs: Path, extra: tuple[str, ...] = (), prefix: tuple[str, ...] = (), **kw
) -> subprocess.Popen:
    cmd = [*prefix, sys.executable, str(RUNNER), str(db), *map(str, libs), *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), **kw)


def run_writer(db: Path, *libs: Path, extra: tuple[str, ...] = (), timeout: float = 300) -> tuple[int, str]:
    p = start_writer(db, *libs, extra=extra)
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out + err


def clip_keys(store) -> Counter:
    """(file name, start, end, content hash) of every row, counted (a count > 1 is a duplicate)."""
    return Counter(
        (os.path.basename(r["path"]), round(r["start"], 3), round(r["end"], 3), r["file_hash"])
        for r in store.scan()
    )


def compare(got: Counter, want: Counter) -> dict:
    return {
        "lost": len(set(want) - set(got)),
        "duplicated": sum(v - 1 for v in got.values() if v > 1),
        "extra": len(set(got) - set(want)),
    }
