"""Reproduce the shipped words-to-sound heads (`omni-lite-sound`) from the sound corpus, in one command.

Usage:
    python examples/train_sound_heads.py [--corpus runs/sound] [--out runs/sound-heads]
                                         [--cache ~/.cache/omnisearch/features] [--seed 0] [--ship]

Steps (the TEST split is scored only after the choice, never used to make it):
1. frozen omni-lite features of the corpus's train / val / test manifests (cached; build the corpus
   first with `python examples/build_sound_corpus.py runs/sound` when it is missing);
2. heads trained on TRAIN with the paper's objective for each (epochs, temperature) of GRID (seed
   --seed, everything else as `omnisearch train`'s defaults);
3. each run scored on VAL in the blend with omni-lite's blocks for each alpha of ALPHAS (alpha = 0:
   heads only); the (run, alpha) with the highest mean of t2a and a2t R@1 on VAL wins (ties: the
   earlier in GRID, then the larger alpha, i.e. more of omni-lite kept);
4. the winner is written as a model folder to --out, and omni-lite, omni-lite-tuned and the winner are
   scored on TEST (t2a / a2t R@1/5/10, zero-shot accuracy), into --out/comparison.json;
5. with --ship the winner's heads are written (float16) as
   omnisearch/models/weights/omni-lite-sound.{json,safetensors} (the registry entry `omni-lite-sound`).

Example:
    $ python examples/build_sound_corpus.py runs/sound
    $ python examples/train_sound_heads.py --corpus runs/sound --ship
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sound_corpus.score import chance, zero_shot

from omnisearch.eval.manifest import read_manifest
from omnisearch.models import load_encoder
from omnisearch.models.heads import HeadsBlend, save_heads
from omnisearch.models.omni_lite import OmniLite
from omnisearch.train.batches import rows_from_features
from omnisearch.train.features import extract_features, score_features
from omnisearch.train.trainer import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
SHIP_DIR = ROOT / "omnisearch" / "models" / "weights"  # omni-lite-sound.json + .safetensors
STEM = "omni-lite-sound"
BASE = TrainConfig(batch_size=16, lr=1e-4, weights=(1.0, 1.0, 1.0), checkpoint=False)
GRID = ((20, 0.05), (40, 0.05), (20, 0.1), (60, 0.05))  # (epochs, temperature); the first: issue 16's run
ALPHAS = (0.75, 0.5, 0.25, 0.0)
DIRECTIONS = ["t2a", "a2t"]


def blended(heads: Any, alpha: float) -> OmniLite:
    enc = OmniLite()
    enc.attach_heads(HeadsBlend(heads, alpha))
    return enc


def recall(feats: list, enc: Any) -> dict[str, dict[str, float]]:
    """{direction: {"r1", "r5", "r10"}} of t2a and a2t over cached features."""
    r = score_features(feats, enc, directions=DIRECTIONS)
    return {d: {f"r{k}": round(v.recall[k], 2) for k in (1, 5, 10)} for d, v in r.directions.items()}


def val_score(r: dict[str, dict[str, float]]) -> float:
    return (r["t2a"]["r1"] + r["a2t"]["r1"]) / 2


def test_row(feats: list, enc: Any, seen: set[str]) -> dict[str, Any]:
    zs = zero_shot(feats, enc, seen)
    return recall(feats, enc) | {"zero_shot": {k: round(v, 2) for k, v in zs.items()}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=Path("runs/sound"))
    ap.add_argument("--out", type=Path, default=Path("runs/sound-heads"))
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "omnisearch" / "features")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ship", action="store_true", help="write the winner into the package")
    args = ap.parse_args()
    if not (args.corpus / "train.jsonl").is_file():
        print(f"no corpus at {args.corpus}: run python examples/build_sound_corpus.py {args.corpus}")
        return 2
    t0 = time.perf_counter()
    enc = OmniLite()
    feats = {s: extract_features(read_manifest(args.corpus / f"{s}.jsonl"), enc, args.cache) for s in
             ("train", "val", "test")}  # fmt: skip
    print(f"features: { ({s: len(f) for s, f in feats.items()}) } ({time.perf_counter() - t0:.0f} s)")
    rows = rows_from_features(feats["train"])
    search: list[dict[str, Any]] = []
    best: tuple[float, Any, dict[str, Any]] | None = None
    for epochs, temperature in GRID:
        cfg = replace(BASE, epochs=epochs, temperature=temperature, seed=args.seed)
        run = train(rows, args.out / "grid", cfg)
        for alpha in ALPHAS:
            r = recall(feats["val"], blended(run.heads, alpha))
            rec = {"epochs": epochs, "temperature": temperature, "alpha": alpha, "val": r,
                   "steps": run.steps, "samples_per_s": round(run.samples_per_s, 1)}  # fmt: skip
            search.append(rec)
            print(f"VAL epochs {epochs} T {temperature} alpha {alpha}: {r}", flush=True)
            if best is None or val_score(r) > best[0]:
                best = (val_score(r), run.heads, rec)
    shutil.rmtree(args.out / "grid", ignore_errors=True)
    assert best is not None
    _, heads, choice = best
    alpha = choice["alpha"]
    print(f"chosen on VAL: {choice}")
    seen = {c for f in feats["train"] for c in f.item.texts}
    test = {
        "omni-lite": test_row(feats["test"], enc, seen),
        "omni-lite-tuned": test_row(feats["test"], load_encoder("omni-lite-tuned"), seen),
        "new heads": test_row(feats["test"], blended(heads, alpha), seen),
        "chance": chance(feats["test"]),
    }
    report = {
        "choice": choice,
        "val_search": search,
        "test": test,
        "seconds": round(time.perf_counter() - t0),
    }
    meta = {"name": STEM, "trained_on": f"{args.corpus.name}/train.jsonl (sound corpus, issue 16)"}
    save_heads(args.out, heads, alpha, **meta)
    (args.out / "comparison.json").write_text(json.dumps(report, indent=1) + "\n")
    for name, row in test.items():
        print(f"TEST {name:<16} {json.dumps(row)}")
    if args.ship:
        ship_meta = meta | {"choice": choice, "test": test}
        save_heads(SHIP_DIR, heads, alpha, dtype="float16", stem=STEM, **ship_meta)
        shipped = recall(feats["test"], load_encoder(STEM))
        print(f"shipped to {SHIP_DIR}/{STEM}.* (float16); TEST {shipped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
