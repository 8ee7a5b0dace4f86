"""Cost of omni-lite's visual towers per frame, on this machine's CPU (or --device cuda).

    python benchmarks/bench_visual.py [--frames 64] [--device cpu]

Frames are 320x180 (the default decode size of a 16:9 video). Prints ms per frame for the
EfficientNet-Lite variants (batched), BlazeFace, the old colour/layout descriptor, and the whole
`VisualConcepts.describe_clips` path on 8-frame clips, cold (new frames) and warm (frames seen before,
as when windows overlap).
"""

from __future__ import annotations

import argparse
import time

from omnisearch.config import set_thread_env

set_thread_env()

import numpy as np  # noqa: E402


def _timed(fn, reps: int = 1) -> float:
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    from omnisearch.models.concepts import ConceptTower, VisualConcepts
    from omnisearch.models.people import PeopleDetector
    from omnisearch.models.text_minilm import MiniLMText
    from omnisearch.models.visual import describe

    g = np.random.default_rng(0)
    frames = g.integers(0, 256, size=(args.frames, 180, 320, 3), dtype=np.uint8)
    n = len(frames)
    print(f"| what ({n} frames 320x180, {args.device}) | ms per frame |")
    print("|---|---|")
    for v in ("lite0", "lite1", "lite2"):
        tower = ConceptTower(v, args.device)
        tower.classify(frames[:4])  # warm-up
        print(
            f"| EfficientNet-{v} (batch 16) | {1000 * _timed(lambda t=tower: t.classify(frames)) / n:.1f} |"
        )
    det = PeopleDetector()
    det.detect(frames[:2])
    print(f"| BlazeFace full-range | {1000 * _timed(lambda: det.detect(frames)) / n:.1f} |")
    ms = 1000 * _timed(lambda: [describe(f[None]) for f in frames]) / n
    print(f"| colour/layout descriptor (v3 look) | {ms:.2f} |")
    text = MiniLMText(device=args.device)
    vc = VisualConcepts(text.embed, device=args.device)
    clips = [frames[i : i + 8] for i in range(0, n - 7, 8)]
    cold = _timed(lambda: vc.describe_clips(clips))
    warm = _timed(lambda: vc.describe_clips(clips))
    print(
        f"| describe_clips, new frames (tower + faces + class names) | {1000 * cold / (8 * len(clips)):.1f} |"
    )
    print(f"| describe_clips, frames seen before | {1000 * warm / (8 * len(clips)):.2f} |")


if __name__ == "__main__":
    main()
