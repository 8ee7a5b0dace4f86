"""Encoder figures on this CPU: load time, embeddings/s for text, 10 s audio and 8-frame video, peak RSS.

Each encoder runs in its own subprocess (peak RSS = that process's ru_maxrss). omni-lite runs on its
real shipped weights; clip-clap and omniretriever-7b run on TINY random checkpoints (built with
tests/tiny_checkpoints.py in a temp dir), so their figures show the pipeline's overhead
(preprocessing, padding, batching), not the cost of the real models (CLIP B/32 + CLAP htsat: ~0.35 B
params; OmniRetriever-7B: ~9.4 B, needs a GPU). "clip-clap@base" is clip-clap with random weights in the
real ViT-B/32 + htsat-unfused shapes: its speed is the real model's, except text, whose byte-level test
tokenizer makes ~4x more tokens than CLIP's / RoBERTa's BPE (so its text/s is pessimistic).

Inputs: 8 frames (360 px) and 10 s of audio from ../shared/media/flipping_a_pancake.mkv when present,
else synthetic frames and tones; captions of 8-12 words. "load" = building the encoder plus a first
encode of one text+video+audio item (lazy towers load there).

Example:
    $ OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_encoders.py --items 8
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")  # before torch is imported (see docs/environment.md)

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media" / "flipping_a_pancake.mkv"
ENCODERS = ["omni-lite", "clip-clap", "clip-clap@base", "omniretriever-7b"]
WORDS = "a person flips a golden pancake in a hot pan while a dog barks outside the kitchen".split()


def media() -> tuple[np.ndarray, np.ndarray, str]:
    """(8 frames, 10 s of 16 kHz audio, where they came from)."""
    if MEDIA.is_file():
        from omnisearch.media.audio import decode_audio
        from omnisearch.media.decode import decode_frames

        frames = decode_frames(str(MEDIA), list(np.linspace(0.2, 10.0, 8)), 360)
        audio = decode_audio(str(MEDIA), 0.0, 10.0)
        if len(audio) >= 16000 * 9:
            return frames, np.pad(audio, (0, max(0, 160000 - len(audio))))[:160000], MEDIA.name
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (8, 202, 360, 3), dtype=np.uint8)
    t = np.arange(160000) / 16000
    audio = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    return frames, audio, "synthetic"


def build(name: str, tmp: Path):
    from omnisearch.models.registry import load_encoder

    if name == "omni-lite":
        return load_encoder(name), "real (shipped packages)"
    sys.path.insert(0, str(ROOT / "tests"))
    import tiny_checkpoints as tc

    if name == "clip-clap":
        return load_encoder(str(tc.build_clip_clap(tmp / "cc"))), "TINY random CLIP+CLAP"
    if name == "clip-clap@base":
        enc = load_encoder(str(tc.build_clip_clap(tmp / "cc", size="base")))
        return enc, "random init, real shapes (ViT-B/32 + htsat-unfused)"
    return load_encoder(str(tc.build_omniretriever(tmp / "or"))), "TINY random Qwen2.5-Omni thinker"


def rate(enc, items, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        enc.encode(items)
        best = min(best, time.perf_counter() - t)
    return len(items) / best


def run_one(name: str, n: int) -> dict:
    from omnisearch.types import EncoderInput

    frames, audio, source = media()
    captions = [" ".join(WORDS[i % 5 : i % 5 + 8 + i % 5]) for i in range(max(n * 4, 16))]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        enc, weights = build(name, Path(tmp))
        enc.options.batch_size = 8
        enc.encode([EncoderInput(text=captions[0], frames=frames, audio=audio)])
        load = time.perf_counter() - t0
        text = rate(enc, [EncoderInput(text=c) for c in captions], repeat=2)
        aud = rate(enc, [EncoderInput(audio=audio.copy()) for _ in range(n)])
        vid = rate(enc, [EncoderInput(frames=frames.copy()) for _ in range(n)])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(encoder=name, weights=weights, dim=enc.dim, load_s=load, text_per_s=text, audio_per_s=aud,
                video_per_s=vid, peak_rss_mb=rss, media=source)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=8, help="audio / video items per measurement")
    ap.add_argument("--encoders", nargs="*", default=ENCODERS)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.items)))
        return
    rows = []
    for name in args.encoders:
        cmd = [sys.executable, __file__, "--one", name, "--items", str(args.items)]
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if res.returncode != 0:
            print(f"{name}: failed\n{res.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    threads, load = os.environ["OMP_NUM_THREADS"], os.getloadavg()[0]
    source = rows[0]["media"] if rows else "-"
    print(
        f"CPU: {os.cpu_count()} cores, OMP_NUM_THREADS={threads}, load average {load:.1f}; media: {source}\n"
    )
    head = "| encoder | weights | dim | load + first item (s) | text/s | 10 s audio/s | 8-frame video/s |"
    print(head + " peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['encoder']} | {r['weights']} | {r['dim']} | {r['load_s']:.1f} | {r['text_per_s']:.1f} | "
            f"{r['audio_per_s']:.2f} | {r['video_per_s']:.2f} | {r['peak_rss_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
