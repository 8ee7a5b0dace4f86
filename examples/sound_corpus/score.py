"""Score encoders on a sound corpus split: text->audio and audio->text R@1/5/10 and zero-shot accuracy.

Usage:
    python examples/sound_corpus/score.py runs/sound/test.jsonl --cache runs/sound-feats \\
        --models omni-lite,omni-lite-tuned,runs/sound-heads [--json out.json]

R@K comes from `omnisearch.train.features.score_features` over the cached frozen features (the same
numbers as `omnisearch eval`, without decoding again; ties count against the query). Zero-shot
classification: every test sound against every test category's caption; a sound is right only when its
own category's caption scores strictly above all the others (a tie is wrong, so a constant model scores
0, not 1/N). `zero_shot_accuracy` is pure numpy, tested on its own.

Example:
    >>> import numpy as np
    >>> zero_shot_accuracy(np.eye(3, dtype=np.float32), [0, 1, 2])
    1.0
    >>> zero_shot_accuracy(np.zeros((3, 3), np.float32), [0, 1, 2])
    0.0
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def zero_shot_accuracy(scores: np.ndarray, truth: Sequence[int]) -> float:
    """Share of rows whose true column scores strictly above every other column."""
    scores = np.nan_to_num(np.asarray(scores, np.float64), nan=-np.inf)
    idx = np.arange(len(truth))
    own = scores[idx, list(truth)]
    others = scores.copy()
    others[idx, list(truth)] = -np.inf
    return float(np.mean(own > others.max(axis=1))) if len(truth) else 0.0


def chance_recall(relevant: Sequence[int], n_targets: int, k: int) -> float:
    """Expected R@k (percent) of a random ranking: per query, P(one of its `relevant` targets in the top k).

    Example:
        >>> round(chance_recall([1, 1], 4, 2), 1)
        50.0
    """
    out = []
    for r in relevant:
        miss = 1.0
        for i in range(min(k, n_targets)):
            miss *= max(0, n_targets - r - i) / (n_targets - i)
        out.append(1.0 - miss)
    return 100 * float(np.mean(out)) if out else 0.0


def chance(feats: Sequence[Any]) -> dict[str, dict[str, float]]:
    """Random-ranking R@1/5/10 of t2a (a caption vs every sound) and a2t (a sound vs every caption)."""
    sizes: dict[str, int] = {}
    for f in feats:
        sizes[f.item.texts[0]] = sizes.get(f.item.texts[0], 0) + 1
    t2a = {f"r{k}": round(chance_recall(list(sizes.values()), len(feats), k), 2) for k in (1, 5, 10)}
    a2t = {f"r{k}": round(chance_recall([1] * len(feats), len(sizes), k), 2) for k in (1, 5, 10)}
    return {"t2a": t2a, "a2t": a2t, "zero_shot": {"accuracy": round(100 / max(1, len(sizes)), 2)}}


def zero_shot(feats: Sequence[Any], encoder: Any, seen: set[str] | None = None) -> dict[str, float]:
    """Zero-shot accuracy of `encoder` over cached features: each sound vs each category's caption;
    with `seen` (the training captions) also the accuracy over sounds whose caption is / is not in it."""
    captions = sorted({f.item.texts[0] for f in feats})
    by_caption = {f.item.texts[0]: f for f in feats}
    text_units = [by_caption[c].unit("t", c) for c in captions]
    keep = [f for f in feats if f.has("audio")]
    audio_units = [f.unit("a") for f in keep]
    tv = np.stack([e.vectors["text"] for e in encoder.project(text_units)])
    av = np.stack([e.vectors["audio"] for e in encoder.project(audio_units)])
    truth = [captions.index(f.item.texts[0]) for f in keep]
    scores = av @ tv.T
    out = {"accuracy": 100 * zero_shot_accuracy(scores, truth), "classes": len(captions), "sounds": len(keep)}
    if seen is not None:
        for name, want in (("seen", True), ("unseen", False)):
            rows = [i for i, f in enumerate(keep) if (f.item.texts[0] in seen) == want]
            out[f"{name}_sounds"] = len(rows)
            out[f"{name}_accuracy"] = 100 * zero_shot_accuracy(scores[rows], [truth[i] for i in rows])
    return out


def main(argv: list[str] | None = None) -> int:
    from omnisearch.eval.manifest import read_manifest
    from omnisearch.models import load_encoder
    from omnisearch.train.features import extract_features, score_features

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest", type=Path)
    ap.add_argument("--cache", type=Path, required=True, help="feature cache (as --cache-dir of train)")
    ap.add_argument("--models", default="omni-lite,omni-lite-tuned")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--train", type=Path, default=None, help="training manifest: split zero-shot by seen labels"
    )
    args = ap.parse_args(argv)
    items = read_manifest(args.manifest)
    seen = {c for it in read_manifest(args.train) for c in it.texts} if args.train else None
    out: dict[str, Any] = {}
    feats = None
    for name in args.models.split(","):
        enc = load_encoder(name)
        if feats is None:
            feats = extract_features(items, enc, args.cache)
        r = score_features(feats, enc, directions=["t2a", "a2t"])
        row: dict[str, Any] = {
            d: {f"r{k}": round(v.recall[k], 2) for k in (1, 5, 10)}
            | {"queries": v.queries, "targets": v.targets}
            for d, v in r.directions.items()
        }
        row["zero_shot"] = zero_shot(feats, enc, seen)
        out[name] = row
        zs = row["zero_shot"]
        t2a, a2t = (" ".join(f"{row[d][f'r{k}']:5.1f}" for k in (1, 5, 10)) for d in ("t2a", "a2t"))
        print(
            f"{name:<28} t2a R@1/5/10 {t2a}  a2t {a2t}"
            f"  zero-shot {zs['accuracy']:5.1f} % ({zs['classes']} classes, {zs['sounds']} sounds)"
        )
        if seen is not None:
            seen_s = f"{zs['seen_accuracy']:5.1f} % ({zs['seen_sounds']} sounds)"
            print(
                f"{'':<28} zero-shot on labels seen in train {seen_s}, unseen {zs['unseen_accuracy']:5.1f} %"
            )
    out["chance"] = chance(feats or [])
    c = out["chance"]
    t2a, a2t = (" ".join(f"{c[d][f'r{k}']:5.1f}" for k in (1, 5, 10)) for d in ("t2a", "a2t"))
    print(f"{'chance':<28} t2a R@1/5/10 {t2a}  a2t {a2t}  zero-shot {c['zero_shot']['accuracy']:5.1f} %")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
