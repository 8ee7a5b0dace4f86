"""The loss ablation (L_A, +L_D, +L_T, all three) on the sound corpus, with a data-size curve.

Usage:
    python examples/sound_corpus/ablation.py --corpus runs/sound --cache DIR --out runs/sound-ablation \\
        [--seeds 0,1,2] [--steps 240] [--fractions 0.25,0.5,1.0] [--presets mean+target] [--variants L_A,...]
    python examples/sound_corpus/ablation.py --out runs/sound-ablation --merge DIR0,DIR1,DIR2 --fractions 1.0

For each preset of `omnisearch.train.fidelity.PRESETS` (the objective options; "mean+target" = the
heads trainer's default objective, `TrainConfig()`'s; "before" = its old one) and each fraction of the
TRAIN split, `omnisearch.train.ablation.run_ablation` trains the four variants x seeds for the same
number of steps on the cached features and scores the TEST split (disjoint: other source packages) in
the heads-only space. The fractions are nested (25 % within 50 %
within 100 %), taken by a hash of each item's id. Writes OUT/<preset>/<pct>/ablation.{md,json} and
OUT/summary.md: t2a, a2t and AVG-single R@1 per variant (mean ± std over seeds) and each variant minus
L_A, paired by seed (mean difference ± its paired standard error).

The corpus has audio and text only, so only t2a and a2t exist: the dual directions that the paper's
L_D and L_T target need three modalities and cannot be measured here (see docs/figures.md, issue 16).

Example:
    >>> [len(subset([f"id{i}" for i in range(8)], p)) for p in (0.25, 0.5, 1.0)]
    [2, 4, 8]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

COLUMNS = ("t2a", "a2t", "avg_single")


def subset(ids: Sequence[str], fraction: float) -> set[str]:
    """The first round(fraction * n) ids by sha256 (nested across fractions, independent of order)."""
    ranked = sorted(ids, key=lambda i: hashlib.sha256(i.encode()).hexdigest())
    return set(ranked[: max(1, round(fraction * len(ranked)))])


def column(runs: list[dict[str, Any]], key: str) -> list[float]:
    return [float(r["r1"][key] if key in r["r1"] else r[key]) for r in runs]


def mean_std(v: list[float]) -> tuple[float, float]:
    m = sum(v) / len(v)
    s = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, s


def paired(base: list[dict[str, Any]], other: list[dict[str, Any]], key: str) -> tuple[float, float, int]:
    """(mean of other - base, its paired standard error, seeds where other < base), runs matched by seed.

    >>> a = [{"seed": 0, "r1": {"t2a": 10.0}}, {"seed": 1, "r1": {"t2a": 12.0}}]
    >>> b = [{"seed": 1, "r1": {"t2a": 13.0}}, {"seed": 0, "r1": {"t2a": 13.0}}]
    >>> paired(a, b, "t2a")
    (2.0, 1.0, 0)
    """
    by_seed = {r["seed"]: r for r in base}
    diffs = [
        column([r], key)[0] - column([by_seed[r["seed"]]], key)[0] for r in other if r["seed"] in by_seed
    ]
    if not diffs:
        raise ValueError(f"no seed in common for {key}")
    m, s = mean_std(diffs)
    return m, s / math.sqrt(len(diffs)), sum(d < 0 for d in diffs)


def summary(reports: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per (preset, fraction, variant), and each variant minus L_A, paired by seed
    (difference / paired SE, seeds below L_A)."""
    head = "| preset | train items | variant | t2a R@1 | a2t R@1 | AVG-single | s/run |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    diffs = [
        "| preset | train items | variant - L_A | t2a (diff ± paired SE, seeds below) | a2t | AVG-single |",
        "|---|---|---|---|---|---|",
    ]
    for key, rep in reports.items():
        preset, n = key.split("/")[0], rep["setup"]["train_items"]
        for variant, runs in rep["runs"].items():
            cells = [f"{m:.1f} ± {s:.1f}" for m, s in (mean_std(column(runs, c)) for c in COLUMNS)]
            secs = sum(r["seconds"] for r in runs) / len(runs)
            lines.append(f"| {preset} | {n} | {variant} | " + " | ".join(cells) + f" | {secs:.0f} |")
        base = rep["runs"].get("L_A")
        for variant, runs in rep["runs"].items():
            if base is None or variant == "L_A":
                continue
            cells = []
            for c in COLUMNS:
                d, se, below = paired(base, runs, c)
                cells.append(f"{d:+.1f} ± {se:.1f} ({below}/{len(runs)})")
            diffs.append(f"| {preset} | {n} | {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + "\n".join(diffs) + "\n"


def merged(paths: Sequence[Path]) -> dict[str, Any]:
    """One report from several ablation.json files of the same setup: their runs joined per variant."""
    reports = [json.loads(p.read_text()) for p in paths if p.is_file()]
    runs: dict[str, list[dict[str, Any]]] = {}
    for r in reports:
        for variant, rs in r["runs"].items():
            runs.setdefault(variant, []).extend(rs)
    return {"setup": reports[0]["setup"], "runs": runs}


def main(argv: Sequence[str] | None = None) -> int:
    from omnisearch.eval.manifest import read_manifest
    from omnisearch.models.omni_lite import OmniLite
    from omnisearch.train.ablation import VARIANTS, run_ablation
    from omnisearch.train.features import extract_features
    from omnisearch.train.fidelity import BASE, config

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=Path("runs/sound"))
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "omnisearch" / "features")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=240)
    ap.add_argument("--fractions", default="0.25,0.5,1.0")
    ap.add_argument("--presets", default="mean+target", help="mean+target: the heads trainer's default")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="a subset of the four variants")
    ap.add_argument(
        "--merge",
        default="",
        help="comma-separated OUT folders of earlier runs (e.g. one per seed): only write OUT/summary.md",
    )
    args = ap.parse_args(argv)
    if args.merge:
        fracs = args.fractions.split(",")
        keys = [f"{p}/{round(100 * float(f))}" for p in args.presets.split(",") for f in fracs]
        reports = {k: merged([Path(d) / k / "ablation.json" for d in args.merge.split(",")]) for k in keys}
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "summary.md").write_text(summary(reports))
        print((args.out / "summary.md").read_text())
        return 0
    enc = OmniLite()
    train = extract_features(read_manifest(args.corpus / "train.jsonl"), enc, args.cache)
    test = extract_features(read_manifest(args.corpus / "test.jsonl"), enc, args.cache)
    seeds = [int(s) for s in args.seeds.split(",")]
    reports: dict[str, dict[str, Any]] = {}
    for preset in args.presets.split(","):
        for frac in (float(f) for f in args.fractions.split(",")):
            keep = subset([f.item.id for f in train], frac)
            part = [f for f in train if f.item.id in keep]
            key = f"{preset}/{round(100 * frac)}"
            rep = run_ablation(
                part,
                test,
                args.out / key,
                seeds,
                args.steps,
                config(preset, BASE),
                {v: VARIANTS[v] for v in args.variants.split(",")},
                on_run=lambda v, s, m, k=key: print(
                    f"{k} {v} seed {s}: t2a/a2t {m['r1']} ({m['seconds']} s)", flush=True
                ),
            )
            reports[key] = rep
            (args.out / "summary.md").write_text(summary(reports))
            (args.out / "summary.json").write_text(
                json.dumps({k: r["runs"] for k, r in reports.items()}) + "\n"
            )
    print((args.out / "summary.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
