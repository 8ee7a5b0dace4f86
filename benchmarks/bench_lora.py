"""LoRA training throughput of omniretriever-7b: samples/s of `train_lora` steps on synthetic rows.

Rows are complete (text, video, audio) tuples: 8 noise frames of 224 px, `--seconds` of tone + noise,
an 8-word caption; each step embeds text, video, audio and 3 x batch fused tuples (clean, augmented,
hard negative) with gradients. The first `--warmup` steps (CUDA init, allocator) and the model load are
not timed; no checkpoints, no validation. `--tiny` builds a tiny random thinker (tests/tiny_checkpoints)
to check the pipeline on a CPU. Prints one JSON line: samples/s, s/step, peak GPU memory.

Example:
    $ .venv/bin/python benchmarks/bench_lora.py /models/qwen2.5-omni-7b-thinker --steps 10 --batch-size 4
    $ OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_lora.py --tiny --steps 3 --batch-size 2 --cpu
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORDS = "a person flips a golden pancake in a hot pan while a dog barks outside".split()


def synthetic_rows(n: int, seconds: float = 8.0, frames: int = 8, size: int = 224, seed: int = 0) -> list:
    """n complete tuples of random frames, a tone plus noise and a caption."""
    from omnisearch.train.media import MediaRow

    g = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    rows = []
    for i in range(n):
        video = g.integers(0, 255, (frames, size, size, 3), dtype=np.uint8)
        audio = (0.3 * np.sin(2 * np.pi * (200 + 10 * i) * t) + 0.05 * g.standard_normal(t.size)).astype(
            np.float32
        )
        rows.append(MediaRow.from_arrays(f"s{i}", [" ".join(g.choice(WORDS, 8))], video, audio))
    return rows


def bench_lora(model: str, steps: int = 10, warmup: int = 2, batch_size: int = 4, seconds: float = 8.0,
               cpu: bool = False, gradient_checkpointing: bool = False) -> dict:  # fmt: skip
    """Time `steps` training steps after `warmup` untimed ones; returns the figures."""
    import torch

    from omnisearch.train.lora import LoraTrainConfig, train_lora

    total = steps + warmup
    if torch.cuda.is_available() and not cpu:
        torch.cuda.reset_peak_memory_stats()  # this run's peak, not an earlier one's in the process
    cfg = LoraTrainConfig(max_steps=total, batch_size=batch_size, checkpoint=False, log_every=1, cpu=cpu,
                          warmup_steps=1, lr=1e-5, gradient_checkpointing=gradient_checkpointing)  # fmt: skip
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        result = train_lora(synthetic_rows(batch_size * total, seconds), out, cfg, model,
                            on_log=lambda rec: stamps.append(time.perf_counter()))  # fmt: skip
        wall = time.perf_counter() - t0
    per_step = (stamps[-1] - stamps[warmup - 1]) / steps
    gpu = torch.cuda.is_available() and not cpu
    return {
        "samples_per_s": round(batch_size / per_step, 2),
        "s_per_step": round(per_step, 3),
        "batch_size": batch_size,
        "audio_s": seconds,
        "steps": result.steps,
        "gradient_checkpointing": gradient_checkpointing,
        "mixed_precision": "bf16" if gpu else "no",  # what "auto" resolves to
        "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if gpu else None,
        "device": torch.cuda.get_device_name() if gpu else "cpu",
        "wall_s_incl_load": round(wall, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", help="thinker (or omniretriever adapter) folder")
    ap.add_argument("--tiny", action="store_true", help="a tiny random thinker instead (pipeline check)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=8.0, help="audio length per clip")
    ap.add_argument("--cpu", action="store_true")
    ap.add_argument("--gradient-checkpointing", action="store_true")
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        model = a.model
        if a.tiny:
            sys.path.insert(0, str(ROOT / "tests"))
            from tiny_checkpoints import build_omniretriever

            model = str(build_omniretriever(Path(tmp) / "tiny", head="file"))
        if not model:
            ap.error("give a model folder or --tiny")
        figures = bench_lora(
            model, a.steps, a.warmup, a.batch_size, a.seconds, a.cpu, a.gradient_checkpointing
        )
        print(json.dumps({"model": "tiny" if a.tiny else model, **figures}))


if __name__ == "__main__":
    main()
