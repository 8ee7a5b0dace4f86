"""Diagnosis of the objective: how pair-fused embeddings drift from the tuple's, and what the dual
directions score, every epoch (a few steps), under each loss variant.

For every complete tuple of a validation split it tracks
- `cos_<pair>`: cosine between the fusion of a pair (tv, ta, av) and the fusion of the full tuple;
- `dual_<m>`: cosine between single m and the fusion of the other two (the positive pair of the dual
  directions m -> rest and rest -> m);
and the R@1 of every direction (heads-only space), as `HeadsTask.validate` scores it.

`python -m omnisearch.train.diagnose --dev /tmp/omni-dev --cache DIR --out docs/method-fidelity`
trains the four loss variants on 3/4 of the dev TRAIN split (whole groups) and validates on the
held-out quarter; the TEST split is not read. It writes diagnosis.json, a table of the curves and,
when matplotlib is installed, diagnosis.png.

Example:
    >>> round(mean_cos(np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32)), 3)
    1.0
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from omnisearch.models.feature_layout import MODALITIES, head_inputs
from omnisearch.train.ablation import VARIANTS
from omnisearch.train.loop import evaluating, run_loop
from omnisearch.train.trainer import HeadsTask, TrainConfig, omni_lite_base
from omnisearch.train.views import PAIR_VIEWS, restrict

PAIR_NAMES = {("text", "video"): "tv", ("text", "audio"): "ta", ("video", "audio"): "av"}
CURVES = ("cos_tv", "cos_ta", "cos_av", "dual_text", "dual_video", "dual_audio", "avg_single", "avg_dual")


def mean_cos(a: np.ndarray, b: np.ndarray) -> float:
    """Mean row-wise cosine of two (N, d) arrays of unit rows."""
    return float(np.mean(np.sum(a * b, axis=1)))


@torch.no_grad()
def subset_cosines(heads: Any, feats: Sequence[Any], layout: Any) -> dict[str, float]:
    """cos_<pair> and dual_<m> (module docstring) over the complete tuples of `feats` (`ItemFeatures`)."""
    dicts = [f.unit("tva") for f in feats if all(f.has(m) for m in MODALITIES)]
    dicts = [d for d in dicts if d is not None]
    if not dicts:
        return {}
    inputs, masks = head_inputs(dicts, layout)
    with evaluating(heads):
        p = next(heads.parameters())
        t = {m: torch.as_tensor(inputs[m], dtype=p.dtype) for m in MODALITIES}
        k = {m: torch.as_tensor(masks[m]) for m in MODALITIES}
        singles = heads.singles(t, k)
        full = heads.fuse(singles, k).numpy()
        out = {}
        for pair in PAIR_VIEWS:
            fused = heads.fuse(singles, restrict(k, pair)).numpy()
            out[f"cos_{PAIR_NAMES[pair]}"] = round(mean_cos(fused, full), 4)
            (m,) = [x for x in MODALITIES if x not in pair]
            out[f"dual_{m}"] = round(mean_cos(singles[m].numpy(), fused), 4)
    return out


class DiagnosticTask(HeadsTask):
    """`HeadsTask` whose validation (every `every`-th epoch) adds the subset cosines to the R@1 summary."""

    every: int = 1
    _calls: int = 0

    def validate(self, module: torch.nn.Module) -> dict[str, Any] | None:
        self._calls += 1
        if (self._calls - 1) % self.every:
            return None
        scores = super().validate(module)
        if scores is None:
            return None
        return {**scores, **subset_cosines(module.heads, self.val or [], self.layout)}


def curves(
    fit: Sequence[Any],
    val: Sequence[Any],
    cfg: TrainConfig,
    variants: dict[str, tuple[float, float, float]] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    on_run: Callable[[str, int], None] | None = None,
    every: int = 1,
) -> dict[str, list[list[dict[str, Any]]]]:
    """{variant: [history per seed]}: each history a list of {"step", "r1", "avg_*", "cos_*", "dual_*"}."""
    from accelerate.utils import set_seed

    from omnisearch.train.batches import rows_from_features

    base = omni_lite_base
    layout = base().feature_layout
    rows = rows_from_features(fit)
    out: dict[str, list[list[dict[str, Any]]]] = {}
    work = Path(tempfile.mkdtemp(prefix="omni-diagnose-"))
    try:
        for name, weights in (variants or VARIANTS).items():
            for seed in seeds:
                run_cfg = replace(cfg, weights=weights, seed=seed, alpha=0.0, checkpoint=False)

                def task(world: int, c: TrainConfig = run_cfg) -> DiagnosticTask:
                    t = DiagnosticTask(c, world, layout, val, base, {})
                    t.every = every
                    return t

                set_seed(seed)  # what run_loop does first: the same initial weights, scored at step 0
                start = task(1)
                first = {"epoch": -1, "step": 0, **(start.validate(start.module) or {})}
                res = run_loop(task, rows, work / f"{name}-{seed}", run_cfg)
                out.setdefault(name, []).append([first, *res.history])
                if on_run:
                    on_run(name, seed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def summary(runs: dict[str, list[list[dict[str, Any]]]], at: Sequence[int]) -> list[dict[str, Any]]:
    """Mean over seeds of every curve at the validation closest to each step in `at`."""
    table = []
    for name, histories in runs.items():
        for step in at:
            picks = [min(h, key=lambda r: abs(r["step"] - step)) for h in histories]
            row = {"variant": name, "step": picks[0]["step"]}
            for c in CURVES:
                vals = [p[c] for p in picks if c in p]
                row[c] = round(float(np.mean(vals)), 3) if vals else float("nan")
            table.append(row)
    return table


def markdown(table: list[dict[str, Any]], title: str) -> str:
    lines = [
        f"### {title}",
        "",
        "| variant | step | " + " | ".join(CURVES) + " |",
        "|" + "---|" * (2 + len(CURVES)),
    ]
    for r in table:
        lines.append(f"| {r['variant']} | {r['step']} | " + " | ".join(f"{r[c]:.3f}" for c in CURVES) + " |")
    return "\n".join(lines) + "\n"


def plot(runs_by_objective: dict[str, dict[str, list[list[dict[str, Any]]]]], path: Path) -> bool:
    """One row of panels per objective: mean pair-vs-tuple cosine, mean dual cosine, AVG-dual R@1."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    panels = (
        ("pair-fused vs tuple-fused cosine", ("cos_tv", "cos_ta", "cos_av")),
        ("single vs fused(other two) cosine", ("dual_text", "dual_video", "dual_audio")),
        ("AVG-dual R@1 (val)", ("avg_dual",)),
    )
    fig, axes = plt.subplots(
        len(runs_by_objective), 3, figsize=(15, 4 * len(runs_by_objective)), squeeze=False
    )
    for row, (objective, runs) in enumerate(runs_by_objective.items()):
        for col, (title, keys) in enumerate(panels):
            ax = axes[row][col]
            for name, histories in runs.items():
                steps = [r["step"] for r in histories[0]]
                vals = np.mean([[np.mean([r[k] for k in keys]) for r in h] for h in histories], axis=0)
                ax.plot(steps, vals, label=name)
            ax.set_title(f"{objective}: {title}", fontsize=9)
            ax.set_xlabel("step")
        axes[row][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    from omnisearch.eval.manifest import read_manifest
    from omnisearch.models.omni_lite import OmniLite
    from omnisearch.train.features import extract_features
    from omnisearch.train.fidelity import config, variants

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dev", type=Path, default=Path("/tmp/omni-dev"))
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "omnisearch" / "features")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=240)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--every", type=int, default=4, help="validate every N-th epoch")
    ap.add_argument("--presets", default="before,all-fixes", help="objective presets (train.fidelity)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="loss variants (train.ablation)")
    args = ap.parse_args(argv)
    feats = extract_features(read_manifest(args.dev / "train.jsonl"), OmniLite(), args.cache)

    def fold(f: Any) -> int:
        return int(hashlib.sha256((f.item.group or f.item.id).encode()).hexdigest()[:8], 16) % 4

    fit, val = [f for f in feats if fold(f) != 0], [f for f in feats if fold(f) == 0]
    seeds = [int(s) for s in args.seeds.split(",")]
    objectives = {name: replace(config(name), max_steps=args.steps) for name in args.presets.split(",")}
    args.out.mkdir(parents=True, exist_ok=True)
    all_runs, text = {}, [f"{len(fit)} fit / {len(val)} val items (dev TRAIN, whole groups), seeds {seeds}\n"]
    at = sorted({0, args.steps // 8, args.steps // 4, args.steps // 2, args.steps})
    for label, cfg in objectives.items():
        todo = {v: w for v, w in variants(label).items() if v in args.variants.split(",")}
        runs = curves(
            fit,
            val,
            cfg,
            todo,
            seeds,
            on_run=lambda n, s, p=label: print(p, n, s, flush=True),
            every=args.every,
        )
        all_runs[label] = runs
        text.append(markdown(summary(runs, at), label))
    (args.out / "diagnosis.json").write_text(json.dumps(all_runs) + "\n")
    (args.out / "diagnosis.md").write_text("\n".join(text))
    plot(all_runs, args.out / "diagnosis.png")
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
