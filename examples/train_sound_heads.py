"""Choose, score and ship the words-to-sound heads (`omni-lite-sound`) trained on the sound corpus.

Usage:
    omnisearch train runs/sound/train.jsonl --out runs/sound-heads --val runs/sound/val.jsonl --epochs 20
    python examples/train_sound_heads.py [--corpus runs/sound] [--heads runs/sound-heads]
                                         [--cache ~/.cache/omnisearch/features] [--ship]

The heads are trained by `omnisearch train` (the paper's objective, seed 0, its defaults otherwise;
deterministic: a re-run gives the same test figures). This script (the TEST split is scored only after
the choice, never used to make it):
1. reads the frozen omni-lite features of train / val / test (cached; build the corpus first with
   `python examples/build_sound_corpus.py runs/sound` when it is missing);
2. scores VAL in the blend with omni-lite's blocks for each alpha of ALPHAS (alpha = 0: heads only);
   the alpha with the highest mean of t2a and a2t R@1 on VAL wins (ties: the larger alpha, i.e. more of
   omni-lite kept);
   the chosen blend is compared on VAL with the shipped `omni-lite-sound` (better: a higher mean);
3. scores omni-lite, omni-lite-tuned, the shipped omni-lite-sound and the chosen blend on TEST (t2a /
   a2t R@1/5/10, zero-shot accuracy) into HEADS/comparison.json;
4. with --ship, and only when the chosen blend beats the shipped heads on VAL, writes the heads
   (float16) with the chosen alpha as omnisearch/models/weights/omni-lite-sound.{json,safetensors}
   (the registry entry `omni-lite-sound`).

Example:
    $ python examples/build_sound_corpus.py runs/sound
    $ omnisearch train runs/sound/train.jsonl --out runs/sound-heads --val runs/sound/val.jsonl --epochs 20
    $ python examples/train_sound_heads.py --corpus runs/sound --heads runs/sound-heads --ship
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sound_corpus.score import chance, zero_shot

from omnisearch.eval.manifest import read_manifest
from omnisearch.models import load_encoder
from omnisearch.models.heads import HeadsBlend, load_heads, save_heads
from omnisearch.models.omni_lite import OmniLite
from omnisearch.train.features import extract_features, score_features

ROOT = Path(__file__).resolve().parents[1]
SHIP_DIR = ROOT / "omnisearch" / "models" / "weights"  # omni-lite-sound.json + .safetensors
STEM = "omni-lite-sound"
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
    ap.add_argument("--heads", type=Path, default=Path("runs/sound-heads"), help="omnisearch train's --out")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "omnisearch" / "features")
    ap.add_argument("--ship", action="store_true", help="write the heads into the package")
    args = ap.parse_args()
    if not (args.corpus / "train.jsonl").is_file():
        print(f"no corpus at {args.corpus}: run python examples/build_sound_corpus.py {args.corpus}")
        return 2
    t0 = time.perf_counter()
    enc = OmniLite()
    feats = {s: extract_features(read_manifest(args.corpus / f"{s}.jsonl"), enc, args.cache) for s in
             ("train", "val", "test")}  # fmt: skip
    print(f"features: { ({s: len(f) for s, f in feats.items()}) } ({time.perf_counter() - t0:.0f} s)")
    heads, cfg = load_heads(args.heads)
    by_alpha = {a: recall(feats["val"], blended(heads, a)) for a in ALPHAS}
    by_alpha[1.0] = recall(feats["val"], enc)  # plain omni-lite, for reference (never chosen)
    alpha = max(ALPHAS, key=lambda a: (val_score(by_alpha[a]), a))
    for a, r in by_alpha.items():
        print(f"VAL alpha {a}: {r}" + ("  <- chosen" if a == alpha else ""))
    shipped_val = recall(feats["val"], load_encoder(STEM))
    better = val_score(by_alpha[alpha]) > val_score(shipped_val)
    print(f"VAL shipped {STEM}: {shipped_val}; the new heads are {'better' if better else 'not better'}")
    seen = {c for f in feats["train"] for c in f.item.texts}
    test = {
        "omni-lite": test_row(feats["test"], enc, seen),
        "omni-lite-tuned": test_row(feats["test"], load_encoder("omni-lite-tuned"), seen),
        f"{STEM} (shipped)": test_row(feats["test"], load_encoder(STEM), seen),
        f"heads, alpha {alpha}": test_row(feats["test"], blended(heads, alpha), seen),
        "chance": chance(feats["test"]),
    }
    trained = cfg.train or {}  # the folder's omnisearch.json "train" record
    keys = ("epochs", "steps", "seed", "lr", "batch_size", "temperature", "weights", "objective")
    train_info = {k: trained[k] for k in keys if k in trained}
    choice = {"alpha": alpha, "val_by_alpha": {str(a): r for a, r in by_alpha.items()}, "train": train_info,
              "val_shipped": shipped_val, "better_than_shipped_on_val": better}  # fmt: skip
    report = {"choice": choice, "test": test}
    (args.heads / "comparison.json").write_text(json.dumps(report, indent=1) + "\n")
    for name, row in test.items():
        print(f"TEST {name:<18} {json.dumps(row)}")
    if args.ship and not better:
        print(f"not shipped: the new heads do not beat the shipped {STEM} on VAL")
    elif args.ship:
        meta = {"name": STEM, "trained_on": f"{args.corpus.name}/train.jsonl (sound corpus, issue 16)"}
        save_heads(SHIP_DIR, heads, alpha, dtype="float16", stem=STEM, **meta, **report)
        shipped = recall(feats["test"], load_encoder(STEM))
        print(f"shipped to {SHIP_DIR}/{STEM}.* (float16); TEST {shipped}")
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
