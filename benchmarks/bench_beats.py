"""omniretriever-7b with and without WAVE's BEATs branch, on this CPU: items/s side by side.

Two TINY random checkpoints built with tests/tiny_checkpoints.py (same thinker and head seeds), one
with the BEATs branch (tiny BEATs: 2 layers, 32-d) and one without (Whisper-only, N audio slots
instead of 2N). Their figures show the pipeline's cost (fbank, BEATs per wave, pooling, interleaving,
twice the audio slots), not the real models'. `--real-beats` also times the BEATs encoder alone in its
real shapes (iter3+: 12 layers, 768-d, ~90 M parameters, random weights) on one clip.

Example:
    $ OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_beats.py --items 8 --real-beats
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")  # before torch is imported (see docs/environment.md)

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def items(kind: str, n: int, seconds: float):
    from omnisearch.types import EncoderInput

    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        audio = (rng.standard_normal(int(16000 * seconds)) * 0.1).astype(np.float32)
        frames = rng.integers(0, 255, (8, 202, 360, 3), dtype=np.uint8) if kind == "av" else None
        out.append(EncoderInput(audio=audio, frames=frames, text="a dog barks" if kind == "av" else None))
    return out


def rates(encs: dict, batch, rounds: int = 4) -> dict[str, tuple[float, float]]:
    """(items/s of wall time, CPU ms per item) per encoder, best of `rounds`, the encoders alternating
    (shared cores drift; CPU time is less sensitive to other processes than wall time)."""
    for enc in encs.values():
        enc.encode(batch[:1])  # warm-up
    wall = dict.fromkeys(encs, float("inf"))
    cpu = dict.fromkeys(encs, float("inf"))
    for _ in range(rounds):
        for name, enc in encs.items():
            t, c = time.perf_counter(), time.process_time()
            enc.encode(batch)
            wall[name] = min(wall[name], time.perf_counter() - t)
            cpu[name] = min(cpu[name], time.process_time() - c)
    return {name: (len(batch) / wall[name], 1000 * cpu[name] / len(batch)) for name in encs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--real-beats", action="store_true")
    args = ap.parse_args()

    import torch
    from tiny_checkpoints import build_omniretriever

    from omnisearch.models.registry import load_encoder

    print(f"torch threads {torch.get_num_threads()}, {args.items} items of {args.seconds:g} s audio")
    with tempfile.TemporaryDirectory() as tmp:
        encs = {
            "BEATs on": load_encoder(str(build_omniretriever(Path(tmp) / "on", beats=True))).load(),
            "BEATs off": load_encoder(str(build_omniretriever(Path(tmp) / "off"))).load(),
        }
        print(
            "| input | BEATs on: items/s, CPU ms/item | BEATs off: items/s, CPU ms/item | on / off (wall) |"
        )
        print("|---|---|---|---|")
        for kind, label in (("a", "audio only"), ("av", "text+video+audio (4 passes)")):
            r = rates(encs, items(kind, args.items, args.seconds))
            (on, on_cpu), (off, off_cpu) = r["BEATs on"], r["BEATs off"]
            print(f"| {label} | {on:.2f}, {on_cpu:.0f} | {off:.2f}, {off_cpu:.0f} | {on / off:.2f} |")
    if args.real_beats:
        from omnisearch.models.beats import Beats, BeatsConfig

        torch.manual_seed(0)
        beats = Beats(BeatsConfig(predictor_class=527)).eval()
        wave = torch.from_numpy(items("a", 1, 10.0)[0].audio)
        with torch.inference_mode():
            beats.extract(wave)
            t = time.perf_counter()
            out = beats.extract(wave)
            dt = time.perf_counter() - t
        print(f"real-shape BEATs (random weights), one 10 s clip: {dt:.2f} s -> {tuple(out.shape)} features")


if __name__ == "__main__":
    main()
