"""The paper's loss ablation on our data: L_A only, L_A + L_D, L_A + L_T, all three; several seeds each.

Every variant trains on the same cached TRAIN features for the same number of steps with the same
config (only the loss weights change), then scores the TEST split in the heads-only space (alpha = 0,
so the effect of the loss is not hidden by omni-lite's fixed blocks). The result is R@1 per direction
and AVG-single / AVG-dual / AVG-all as mean +- std over seeds, written as OUT/ablation.md and
OUT/ablation.json, with a verdict on the paper's claim (all three terms beat pairwise-only, most on the
dual directions).

Example:
    >>> VARIANTS["L_A+L_D+L_T"]
    (1.0, 1.0, 1.0)
    >>> fmt(np.array([40.0, 42.0]))
    '41.0 ± 1.4'
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from omnisearch.eval.directions import ALL
from omnisearch.train.trainer import TrainConfig

VARIANTS: dict[str, tuple[float, float, float]] = {
    "L_A": (1.0, 0.0, 0.0),
    "L_A+L_D": (1.0, 1.0, 0.0),
    "L_A+L_T": (1.0, 0.0, 1.0),
    "L_A+L_D+L_T": (1.0, 1.0, 1.0),
}
AVERAGES = ("avg_single", "avg_dual", "avg_all")


def fmt(values: np.ndarray) -> str:
    """'mean ± sample std' with one decimal ('mean' alone for one value)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return f"{v.mean():.1f}"
    return f"{v.mean():.1f} ± {v.std(ddof=1):.1f}"


def run_ablation(
    train_feats: Sequence[Any],
    test_feats: Sequence[Any],
    out: str | Path,
    seeds: Sequence[int] = (0, 1, 2),
    steps: int = 200,
    base: TrainConfig | None = None,
    variants: dict[str, tuple[float, float, float]] | None = None,
    on_run: Callable[[str, int, dict[str, Any]], None] | None = None,
    encoder: Any = None,
) -> dict[str, Any]:
    """Train every variant x seed for `steps` steps, score TEST, write the table; returns the JSON dict.
    `encoder`: the one the features come from (a `HeadsHost`; omni-lite when None)."""
    from omnisearch.train.batches import rows_from_features
    from omnisearch.train.trainer import omni_lite_base, train, validate

    train_ids = {f.item.id for f in train_feats}
    overlap = sorted(train_ids & {f.item.id for f in test_feats})
    if overlap:
        raise ValueError(f"train and test share {len(overlap)} item(s), e.g. {overlap[:3]}")
    base = base or TrainConfig()
    variants = variants or VARIANTS
    rows = rows_from_features(train_feats)
    base_enc = encoder.plain_copy if encoder is not None else omni_lite_base
    layout = base_enc().feature_layout
    runs: dict[str, list[dict[str, Any]]] = {}
    work = Path(tempfile.mkdtemp(prefix="omni-ablation-"))
    try:
        for name, weights in variants.items():
            for seed in seeds:
                cfg = replace(base, weights=weights, seed=seed, max_steps=steps, alpha=0.0, checkpoint=False)
                t0 = time.perf_counter()
                result = train(rows, work / f"{name}-{seed}", cfg, layout=layout, base=base_enc)
                metrics = validate(result.heads, test_feats, alpha=0.0, base=base_enc)
                metrics.update(seed=seed, samples_per_s=round(result.samples_per_s, 1))
                metrics["seconds"] = round(time.perf_counter() - t0, 1)
                runs.setdefault(name, []).append(metrics)
                if on_run:
                    on_run(name, seed, metrics)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = summarize(runs, len(train_feats), len(test_feats), steps, base)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "ablation.md").write_text(markdown(report))
    return report


def _column(runs: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([r["r1"].get(key, np.nan) if key in ALL else r[key] for r in runs], dtype=float)


def summarize(
    runs: dict[str, list[dict[str, Any]]], n_train: int, n_test: int, steps: int, base: TrainConfig
) -> dict[str, Any]:
    """Means / stds per variant and column, and the verdict on the paper's claim."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for name, rs in runs.items():
        table[name] = {}
        for key in (*ALL, *AVERAGES):
            v = _column(rs, key)
            table[name][key] = {
                "mean": float(np.nanmean(v)),
                "std": float(np.nanstd(v, ddof=1)) if len(v) > 1 else 0.0,
            }
    verdict = claim_verdict(table, runs) if "L_A" in table and "L_A+L_D+L_T" in table else ""
    return {
        "setup": {
            "train_items": n_train,
            "test_items": n_test,
            "steps": steps,
            "space": "heads only (alpha=0)",
            "config": {"batch_size": base.batch_size, "lr": base.lr, "temperature": base.temperature},
        },
        "runs": runs,
        "table": table,
        "verdict": verdict,
    }


def claim_verdict(table: dict[str, Any], runs: dict[str, list[Any]]) -> str:
    """All three terms vs L_A only: the differences of the averages, each over its standard error."""
    a, full = table["L_A"], table["L_A+L_D+L_T"]
    n_a, n_f = len(runs["L_A"]), len(runs["L_A+L_D+L_T"])
    d = {k: full[k]["mean"] - a[k]["mean"] for k in AVERAGES}
    se = {k: math.sqrt(full[k]["std"] ** 2 / n_f + a[k]["std"] ** 2 / n_a) for k in AVERAGES}
    z = {k: d[k] / se[k] if se[k] > 0 else math.copysign(math.inf, d[k]) for k in AVERAGES}
    holds = d["avg_all"] > 0 and d["avg_dual"] > d["avg_single"]
    if not holds:
        how = "does not hold here"
    elif z["avg_all"] >= 2:
        how = "holds here, by at least 2 standard errors"
    else:
        how = (
            "holds in direction here, but within noise (< 2 standard errors; more seeds / test items needed)"
        )
    return (
        f"All three vs L_A only: AVG-single {d['avg_single']:+.1f}, AVG-dual {d['avg_dual']:+.1f}, "
        f"AVG-all {d['avg_all']:+.1f} R@1 points (difference / standard error "
        f"{z['avg_single']:.1f}, {z['avg_dual']:.1f}, {z['avg_all']:.1f}). "
        f"The paper's claim (AVG-all up, the dual directions gaining most) {how}."
    )


def markdown(report: dict[str, Any]) -> str:
    """The table: one row per variant, R@1 per direction and the averages, mean ± std over seeds."""
    s = report["setup"]
    seeds = len(next(iter(report["runs"].values())))
    cols = [*ALL, *AVERAGES]
    heads = ["variant", *cols]
    lines = [
        "# Loss ablation (R@1 %, TEST split, mean ± std over seeds)",
        "",
        f"{s['train_items']} train / {s['test_items']} test items, {s['steps']} steps, {seeds} seeds, "
        f"space: {s['space']}; config {s['config']}. Ties count against the query.",
        "",
        "| " + " | ".join(h.replace("avg_", "AVG-") for h in heads) + " |",
        "|" + "---|" * len(heads),
    ]
    for name, row in report["table"].items():
        cells = [f"{row[c]['mean']:.1f} ± {row[c]['std']:.1f}" for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if report["verdict"]:
        lines += ["", report["verdict"]]
    return "\n".join(lines) + "\n"
