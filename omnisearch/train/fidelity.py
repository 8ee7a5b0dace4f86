"""The loss ablation before and after each method-fidelity fix (docs/method-fidelity.md).

Each preset is the heads trainer's config with one set of `ObjectiveConfig` options (and the fusion's
start); `run_presets` runs the 4-variant ablation (`ablation.run_ablation`) for each, on the same
TRAIN / TEST features and seeds. A variant whose weights switch off every term a preset changes (L_A
alone under "pair views", say) trains exactly as under the preset it derives from, so its runs are
taken from there instead of being trained again.

    python -m omnisearch.train.fidelity --dev /tmp/omni-dev --cache DIR --out runs/fidelity \
        --presets before,faithful,faithful+pairs --seeds 0,1,2,3,4 --steps 240

Example:
    >>> list(PRESETS)[:2]
    ['before', 'faithful']
    >>> PRESETS["faithful+pairs"].objective.tuple_views
    'full+pairs'
    >>> derives("faithful+pairs", "L_A+L_D")
    'faithful'
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from omnisearch.eval.directions import ALL
from omnisearch.train.ablation import AVERAGES, VARIANTS, markdown, run_ablation, summarize
from omnisearch.train.trainer import TrainConfig
from omnisearch.train.views import ObjectiveConfig

BASE = TrainConfig(batch_size=16, lr=1e-4, temperature=0.05)
FAITHFUL = ObjectiveConfig.faithful()


@dataclass(frozen=True)
class Preset:
    objective: ObjectiveConfig
    fusion_init: str = "identity"
    parent: str | None = None  # preset whose runs serve the variants this one does not change
    changes: tuple[str, ...] = ()  # terms this preset changes w.r.t. its parent ("align", "distill", "tuple")
    train_fusion: bool = True
    w_tuple: float = 1.0  # L_T's weight in the variants that have it


PRESETS: dict[str, Preset] = {
    "before": Preset(ObjectiveConfig()),  # ObjectiveConfig()'s defaults are the old trainer's
    "faithful": Preset(FAITHFUL),
    "faithful+pairs": Preset(
        replace(FAITHFUL, tuple_views="full+pairs"), parent="faithful", changes=("tuple",)
    ),
    "faithful+complement": Preset(
        replace(FAITHFUL, distill_anchor="complement"), parent="faithful", changes=("distill",)
    ),
    "all-fixes": Preset(
        replace(FAITHFUL, tuple_views="full+pairs", distill_anchor="complement"), fusion_init="mean"
    ),
    # the mean start changes every variant; L_D / L_T options do not change L_A alone
    "faithful+mean-init": Preset(FAITHFUL, "mean", parent="all-fixes", changes=("distill", "tuple")),
    # the ties of the fused space to the single space (section 6 of docs/method-fidelity.md), each on
    # top of the mean start; L_A alone never trains the fusion, so its runs are the parent's
    "mean+frozen": Preset(FAITHFUL, "mean", "faithful+mean-init", ("tuple",), train_fusion=False),
    "mean+gated": Preset(FAITHFUL, "gated", "faithful+mean-init", ("tuple",)),
    "mean+target": Preset(replace(FAITHFUL, tuple_target="mean"), "mean", "faithful+mean-init", ("tuple",)),
    "mean+distill-grad": Preset(
        replace(FAITHFUL, distill_grad=True), "mean", "faithful+mean-init", ("distill",)
    ),
    "mean+complement-grad": Preset(
        replace(FAITHFUL, distill_anchor="complement", distill_grad=True),
        "mean",
        "faithful+mean-init",
        ("distill",),
    ),
    "mean+wt0.3": Preset(FAITHFUL, "mean", "faithful+mean-init", ("tuple",), w_tuple=0.3),
    "mean+target+pairs": Preset(
        replace(FAITHFUL, tuple_target="mean", tuple_views="full+pairs"),
        "mean",
        "faithful+mean-init",
        ("tuple",),
    ),
    "mean+target+wt0.3": Preset(
        replace(FAITHFUL, tuple_target="mean"), "mean", "faithful+mean-init", ("tuple",), w_tuple=0.3
    ),
}


def derives(preset: str, variant: str) -> str | None:
    """The preset whose runs of `variant` are identical to this preset's (None: train them)."""
    p = PRESETS[preset]
    w_a, w_d, w_t = VARIANTS[variant]
    used = {"align": w_a > 0, "distill": w_d > 0, "tuple": w_t > 0}
    if p.parent is None or any(used[c] for c in p.changes):
        return None
    return p.parent


def config(preset: str, base: TrainConfig = BASE) -> TrainConfig:
    p = PRESETS[preset]
    heads = replace(base.heads, fusion_init=p.fusion_init, train_fusion=p.train_fusion)
    return replace(base, objective=p.objective, heads=heads)


def variants(preset: str) -> dict[str, tuple[float, float, float]]:
    """The ablation's variants under `preset` (its L_T weight in those that have L_T)."""
    w = PRESETS[preset].w_tuple
    return {v: (a, d, t * w) for v, (a, d, t) in VARIANTS.items()}


def run_presets(
    train_feats: Sequence[Any],
    test_feats: Sequence[Any],
    out: Path,
    presets: Sequence[str],
    seeds: Sequence[int],
    steps: int,
    base: TrainConfig = BASE,
    only: Sequence[str] | None = None,
) -> dict[str, Any]:
    """{preset: ablation report}; each report also in OUT/<preset>/ablation.{md,json}. `only`: the
    variants to train (None: all); a variant outside it is still reported when its runs can be taken
    from the parent preset. A wanted variant whose parent has not run (in `reports` or OUT) trains."""
    reports: dict[str, Any] = {}

    def inherited(name: str, v: str) -> list[dict[str, Any]] | None:
        parent = derives(name, v)
        if parent is None:
            return None
        return reports[parent]["runs"].get(v) if parent in reports else _load(out, parent, v, False)

    for name in presets:
        wanted = set(only or VARIANTS)
        todo = {v: w for v, w in variants(name).items() if v in wanted and inherited(name, v) is None}
        cfg = config(name, base)
        report = (
            run_ablation(
                train_feats,
                test_feats,
                out / name,
                seeds,
                steps,
                cfg,
                todo,
                on_run=lambda v, s, m, n=name: print(f"{n} {v} seed {s}: {_averages(m)}", flush=True),
            )
            if todo
            else {"runs": {}}
        )
        runs = dict(report["runs"])
        for v in VARIANTS:
            if v not in runs and (got := inherited(name, v)) is not None:
                runs[v] = got
        runs = {v: runs[v] for v in VARIANTS if v in runs}
        report = summarize(runs, len(train_feats), len(test_feats), steps, cfg)
        report["setup"]["preset"] = {
            "name": name,
            "objective": vars(PRESETS[name].objective),
            "fusion_init": PRESETS[name].fusion_init,
            "train_fusion": PRESETS[name].train_fusion,
            "w_tuple": PRESETS[name].w_tuple,
        }
        (out / name).mkdir(parents=True, exist_ok=True)
        (out / name / "ablation.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / name / "ablation.md").write_text(f"## preset `{name}`\n\n" + markdown(report))
        reports[name] = report
    return reports


def claim_rows(
    report: dict[str, Any], a: str = "L_A", b: str = "L_A+L_D+L_T"
) -> dict[str, tuple[float, float]]:
    """{column: (mean of b - mean of a, that over its standard error)} for every direction and average."""
    ta, tb = report["table"][a], report["table"][b]
    na, nb = len(report["runs"][a]), len(report["runs"][b])
    out = {}
    for col in (*ALL, *AVERAGES):
        d = tb[col]["mean"] - ta[col]["mean"]
        se = math.sqrt(tb[col]["std"] ** 2 / nb + ta[col]["std"] ** 2 / na)
        out[col] = (d, d / se if se > 0 else math.copysign(math.inf, d) if d else 0.0)
    return out


def claim_markdown(reports: dict[str, Any], b: str = "L_A+L_D+L_T") -> str:
    """One row per preset: `b` minus L_A per direction and average, R@1 points (difference / SE)."""
    cols = [*ALL, *AVERAGES]
    lines = [
        "| preset | " + " | ".join(c.replace("avg_", "AVG-") for c in cols) + " |",
        "|" + "---|" * (len(cols) + 1),
    ]
    for name, r in reports.items():
        rows = claim_rows(r, b=b)
        lines.append(
            f"| {name} | " + " | ".join(f"{rows[c][0]:+.1f} ({rows[c][1]:+.1f})" for c in cols) + " |"
        )
    return "\n".join(lines) + "\n"


def _averages(metrics: dict[str, Any]) -> str:
    """'AVG-single 44.6 AVG-dual 60.0 AVG-all 52.3', leaving out the averages a split has no query for
    (a text + audio corpus has no dual direction)."""
    return " ".join(
        f"{k.replace('avg_', 'AVG-')} {metrics[k]:.1f}" for k in AVERAGES if metrics.get(k) is not None
    )


def _load(out: Path, preset: str | None, variant: str, required: bool = True) -> list[dict[str, Any]] | None:
    """The parent's runs of `variant` from OUT/<preset>/ablation.json (None when absent, not required)."""
    path = out / str(preset) / "ablation.json"
    runs = json.loads(path.read_text())["runs"] if path.is_file() else {}
    if variant not in runs and required:
        raise FileNotFoundError(f"preset {preset!r} must run first (its {variant} runs are reused): {path}")
    return runs.get(variant)


def main(argv: Sequence[str] | None = None) -> int:
    from omnisearch.eval.manifest import read_manifest
    from omnisearch.models.omni_lite import OmniLite
    from omnisearch.train.features import extract_features

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dev", type=Path, default=Path("/tmp/omni-dev"))
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "omnisearch" / "features")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--presets", default=",".join(PRESETS))
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--steps", type=int, default=240)
    ap.add_argument("--temperature", type=float, default=BASE.temperature)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="variants to train (others: reused)")
    args = ap.parse_args(argv)
    enc = OmniLite()
    train_feats = extract_features(read_manifest(args.dev / "train.jsonl"), enc, args.cache)
    test_feats = extract_features(read_manifest(args.dev / "test.jsonl"), enc, args.cache)
    base = replace(BASE, temperature=args.temperature)
    seeds = [int(s) for s in args.seeds.split(",")]
    presets, only = args.presets.split(","), args.variants.split(",")
    reports = run_presets(train_feats, test_feats, args.out, presets, seeds, args.steps, base, only)
    for name, r in reports.items():
        print(f"{name}: {r['verdict']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
