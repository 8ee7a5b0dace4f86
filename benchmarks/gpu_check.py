"""The GPU checks, in one short run: CUDA encode parity, then training and encoding speed on the GPU.

Sections (each one independent; a failing section prints its error and the rest still run):
- parity: tiny random clip-clap and omniretriever-7b checkpoints encode the same inputs on CPU (fp32)
  and on CUDA (fp32, then bf16 autocast): the smallest cosine between the two vectors of each
  (item, modality);
- heads: heads + fusion training over synthetic omni-lite-shaped and clip-clap@base-shaped features
  (the CPU-side batch building included), samples/s on CUDA beside the same run on the CPU;
- clipclap: clip-clap with random weights in the real ViT-B/32 + htsat shapes on CUDA (bf16): items/s
  for captions, 8-frame videos and 10 s sounds;
- lora: LoRA training steps of omniretriever-7b on a tiny random thinker, on CUDA (`bench_lora`);
- lora7b: the same, and encoding, on a RANDOM thinker in the real 7B shapes (bf16, built on the GPU);
- cclora: clip-clap --lora (LoRA on CLIP + CLAP and heads) in the real shapes, then its folder loads.

Prints one JSON object per section and writes them all to --out.

Example:
    $ OMP_NUM_THREADS=8 python benchmarks/gpu_check.py --out gpu.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "8")  # before torch is imported (see docs/environment.md)

import argparse
import json
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
GPU = "cuda"  # --gpu cpu: a dry run of the script on a machine without one


def _inputs(seed: int = 0, n: int = 3):
    from omnisearch.types import EncoderInput

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        frames = rng.integers(0, 255, (8, 96, 128, 3), dtype=np.uint8)
        audio = (rng.standard_normal(16000 * 4) * 0.1).astype(np.float32)
        out.append(EncoderInput(text=f"a red box and a bell number {i}", frames=frames, audio=audio))
    return out


def parity(tmp: Path) -> dict:
    """Smallest cosine between CPU fp32 and CUDA vectors of the same inputs, per encoder and dtype."""
    import tiny_checkpoints as tc

    from omnisearch.models import EncoderOptions, load_encoder

    folders = {
        "clip-clap": tc.build_clip_clap(tmp / "cc"),
        "omniretriever-7b": tc.build_omniretriever(tmp / "or"),
    }

    items = _inputs()
    out: dict = {}
    for name, folder in folders.items():
        ref = load_encoder(str(folder), EncoderOptions(device="cpu", dtype="float32")).encode(items)
        for dtype in ("float32", "bfloat16"):
            got = load_encoder(str(folder), EncoderOptions(device=GPU, dtype=dtype)).encode(items)
            cos = [
                float(a.vectors[m] @ b.vectors[m]) for a, b in zip(ref, got, strict=True) for m in a.vectors
            ]
            out[f"{name}/{dtype}"] = {"min_cosine": round(min(cos), 6), "vectors": len(cos)}
    return out


def _heads_rate(layout, device: str, rows: int, batch: int, steps: int) -> float:
    from omnisearch.models.heads import HeadsConfig
    from omnisearch.train.batches import Row
    from omnisearch.train.trainer import TrainConfig, train

    rng = np.random.default_rng(0)
    data = []
    for i in range(rows):
        feat: dict = {}
        if layout.name == "omni-lite":
            w = rng.normal(size=(6, 512)).astype(np.float32)
            feat.update(video_sem=rng.normal(size=384), video_frames=rng.random((8, 256)),
                        audio_sem=rng.normal(size=384), audio_windows=w,
                        audio_aud=w.mean(0) / np.linalg.norm(w.mean(0)))  # fmt: skip
        else:
            feat.update(video_frames=rng.normal(size=(8, layout.clip_dim)),
                        audio_windows=rng.normal(size=(2, layout.clap_dim)))  # fmt: skip
        feat = {k: np.asarray(v, np.float32) for k, v in feat.items()}
        data.append(Row(f"r{i}", feat, rng.normal(size=(2, layout.text_dim)).astype(np.float32)))
    heads = HeadsConfig() if layout.name == "omni-lite" else HeadsConfig.for_layout(layout)
    cfg = TrainConfig(
        max_steps=steps, batch_size=batch, heads=heads, cpu=device == "cpu", checkpoint=False, log_every=10**6
    )
    with tempfile.TemporaryDirectory() as tmp:
        return train(data, tmp, cfg, layout=layout).samples_per_s


def heads() -> dict:
    from omnisearch.models.feature_layout import ClipClapLayout, OmniLiteLayout

    out = {}
    for layout in (OmniLiteLayout(), ClipClapLayout(512, 512)):
        for batch in (256,):
            for device in (GPU, "cpu"):
                key = f"{layout.name}/batch{batch}/{device}"
                out[key] = round(_heads_rate(layout, device, rows=batch * 4, batch=batch, steps=30), 1)
    return out


def clipclap(tmp: Path) -> dict:
    import tiny_checkpoints as tc

    from omnisearch.models import EncoderOptions, load_encoder
    from omnisearch.types import EncoderInput

    enc = load_encoder(
        str(tc.build_clip_clap(tmp / "ccb", size="base")), EncoderOptions(device=GPU, batch_size=32)
    )
    items = _inputs(1, n=64)
    enc.encode(items[:2])  # load + warm-up
    out = {}
    for kind, batch in (
        ("text", [EncoderInput(text=it.text) for it in items]),
        ("video_8_frames", [EncoderInput(frames=it.frames) for it in items]),
        ("audio_10s", [EncoderInput(audio=np.tile(it.audio, 3)[: 16000 * 10]) for it in items]),
    ):
        t = time.perf_counter()
        enc.encode(batch)
        out[f"{kind}_per_s"] = round(len(batch) / (time.perf_counter() - t), 1)
    return out


def cclora(tmp: Path, size: str = "base") -> dict:
    """clip-clap --lora (LoRA on both towers + heads + fusion) in the real ViT-B/32 + HTSAT shapes:
    training samples/s, then the saved folder loads and encodes."""
    import tiny_checkpoints as tc
    from bench_lora import synthetic_rows

    from omnisearch.models import EncoderOptions, load_encoder
    from omnisearch.train.clip_clap_lora import ClipClapLoraConfig, train_clip_clap_lora

    folder = tc.build_clip_clap(tmp / f"cc_{size}", size=size)
    enc = load_encoder(str(folder), EncoderOptions(device=GPU))
    out: dict = {}
    for batch in (16, 32):
        stamps: list[float] = []
        cfg = ClipClapLoraConfig(max_steps=6, batch_size=batch, checkpoint=False, log_every=1)
        cfg = replace(cfg, cpu=GPU == "cpu")
        rows = synthetic_rows(batch * 6, seconds=8.0)
        stamp = stamps.append
        run = train_clip_clap_lora(
            rows, tmp / f"ccl{batch}", cfg, enc, on_log=lambda r, stamp=stamp: stamp(time.perf_counter())
        )
        per_step = (stamps[-1] - stamps[1]) / 4  # steps 3..6: after CUDA / allocator warm-up
        out[f"batch{batch}_samples_per_s"] = round(batch / per_step, 2)
        out[f"batch{batch}_steps"] = run.steps
    tuned = load_encoder(str(tmp / "ccl32"), EncoderOptions(device=GPU))
    e = tuned.encode(_inputs(3, n=2))
    out["loaded_dim"], out["loaded_keys"] = tuned.dim, sorted(m.value for m in e[0].vectors)
    return out


def lora(tmp: Path) -> dict:
    """LoRA training steps on a tiny random thinker (the pipeline's own cost)."""
    import tiny_checkpoints as tc
    from bench_lora import bench_lora

    model = str(tc.build_omniretriever(tmp / "lora_tiny", head="file"))
    return bench_lora(model, steps=6, warmup=2, batch_size=8, cpu=GPU == "cpu")


def lora7b(tmp: Path) -> dict:
    """LoRA training steps and encode speed of a RANDOM thinker in the real 7B shapes (bf16)."""
    import tiny_checkpoints as tc
    from bench_lora import bench_lora

    from omnisearch.models import EncoderOptions, load_encoder

    t = time.perf_counter()
    folder = tc.build_omniretriever_7b_shape(tmp / "or7b", device=GPU)
    out: dict = {"build_s": round(time.perf_counter() - t, 1)}
    for batch, ckpt in ((4, False), (8, True)):
        out[f"train_batch{batch}_gc{int(ckpt)}"] = bench_lora(
            str(folder), steps=4, warmup=1, batch_size=batch, gradient_checkpointing=ckpt
        )
    import torch

    torch.cuda.empty_cache()
    enc = load_encoder(str(folder), EncoderOptions(device=GPU, batch_size=8))
    items = _inputs(2, n=16)
    enc.encode(items[:2])
    t = time.perf_counter()
    enc.encode(items)
    out["encode_tva_items_per_s"] = round(len(items) / (time.perf_counter() - t), 2)
    out["encode_note"] = "each item: T, V, A passes + the fused TVA pass; 8 frames 96x128, 4 s audio"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("gpu.json"))
    sections = ["parity", "heads", "clipclap", "lora", "lora7b", "cclora"]
    ap.add_argument("--sections", nargs="*", default=sections)
    ap.add_argument("--gpu", default="cuda", help="device under test (cpu: a dry run)")
    args = ap.parse_args()
    global GPU
    GPU = args.gpu
    import torch

    report: dict = {"torch": torch.__version__, "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        report["gpu"] = torch.cuda.get_device_name(0)
    print(json.dumps(report), flush=True)
    fns = {
        "parity": parity,
        "heads": lambda tmp: heads(),
        "clipclap": clipclap,
        "lora": lora,
        "lora7b": lora7b,
        "cclora": cclora,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sections:
            t = time.perf_counter()
            try:
                report[name] = fns[name](Path(tmp))
            except Exception:  # noqa: BLE001 - report and go on with the other sections
                report[name] = {"error": traceback.format_exc(limit=6)}
            report[name + "_s"] = round(time.perf_counter() - t, 1)
            print(json.dumps({name: report[name], "seconds": report[name + "_s"]}), flush=True)
            args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
