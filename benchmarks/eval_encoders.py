"""Score every registered encoder on one retrieval manifest and print them side by side with chance.

omni-lite runs on its real shipped weights; clip-clap and omniretriever-7b run on TINY random-init
checkpoints (tests/tiny_checkpoints.py, built into OUT/models/ with save_pretrained), so their scores
must sit near chance: this checks the plumbing (model folder -> load_encoder -> evaluator -> report),
not the models. For each encoder it writes OUT/<name>.json, OUT/<name>.md and OUT/<name>.png (the same
files as `omnisearch eval --json --markdown --plot`), then prints one table: R@1 per direction,
AVG-single / AVG-dual / AVG-all, and wall seconds per 100 manifest items (load + evaluate, cached units
included: see the "cached" column), plus

- CHANCE: the expected R@1 of a random ranking, per direction: the mean over queries of
  min(1, #relevant targets / #targets) * 100, from the manifest's relevance structure (same items,
  units, groups and skip rule as the evaluator);
- chance sd: the standard deviation of that R@1 over random rankings (queries independent), the yard
  stick for "near chance" (the verdict allows 2 sd per direction and on AVG-all).

The summary also goes to OUT/summary.md and OUT/summary.json. Vectors are cached as usual (default
eval cache, see omnisearch.eval.evaluator); the tiny folders are rebuilt only when missing (their
seeds are fixed, so cached vectors stay valid), --rebuild forces it, --no-cache times a fresh run.

Example:
    $ OMP_NUM_THREADS=2 .venv/bin/python benchmarks/eval_encoders.py /tmp/omni-dev/test.jsonl /tmp/eval-enc
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")  # before torch is imported (see docs/environment.md)

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ENCODERS = ("omni-lite", "clip-clap", "omniretriever-7b")
WEIGHTS = {
    "omni-lite": "real (shipped packages)",
    "clip-clap": "TINY random CLIP + CLAP",
    "omniretriever-7b": "TINY random Qwen2.5-Omni thinker, random head",
}
Z_NEAR = 2.0  # "near chance": within this many chance sds


def build_models(out: Path, rebuild: bool = False) -> dict[str, str]:
    """Model folders of the tiny random backends under out/models (name -> folder); omni-lite by name."""
    sys.path.insert(0, str(ROOT / "tests"))
    import tiny_checkpoints as tc

    models = {"omni-lite": "omni-lite"}
    for name, builder in (("clip-clap", tc.build_clip_clap), ("omniretriever-7b", tc.build_omniretriever)):
        folder = out / "models" / name
        if rebuild and folder.exists():
            shutil.rmtree(folder)
        if not (folder / "omnisearch.json").is_file():
            t0 = time.perf_counter()
            builder(folder)
            print(f"built {name} in {folder} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
        models[name] = str(folder)
    return models


def chance(manifest: str | os.PathLike[str], min_items: int = 2) -> dict[str, tuple[float, float]]:
    """Direction -> (expected R@1 of a random ranking, its sd), both in percent, for the directions the
    evaluator would score on this manifest."""
    from omnisearch.eval.directions import SIDES, eligible_items, resolve, side_name, side_units
    from omnisearch.eval.manifest import item_modalities, read_manifest
    from omnisearch.eval.metrics import build_relevance

    items = read_manifest(manifest, on_missing="ignore")
    mods = item_modalities(items)
    labels = [("group", it.group) if it.group is not None else ("item", it.id) for it in items]  # as metrics
    out: dict[str, tuple[float, float]] = {}
    for d in resolve(None):
        idx = eligible_items(mods, d)
        if len(idx) < min_items:
            continue
        sides = []
        for side in (d.query, d.target):
            units = side_units(items, SIDES[side_name(side)], idx)
            sides.append([{labels[o] for o in u.owners} for u in units])
        rel = build_relevance(*sides)
        p = np.minimum(1.0, np.diff(rel.indptr) / rel.n_targets)
        out[d.name] = (float(100 * p.mean()), float(100 * np.sqrt((p * (1 - p)).sum()) / len(p)))
    return out


def run_one(name: str, model: str, manifest: str, out: Path, args: argparse.Namespace) -> dict:
    """Load, evaluate, write OUT/<name>.json/.md/.png; returns the summary row."""
    from omnisearch.eval.evaluator import evaluate
    from omnisearch.eval.report import failures_markdown, plot, to_json, to_markdown
    from omnisearch.models import EncoderOptions, load_encoder

    t0 = time.perf_counter()
    enc = load_encoder(model, EncoderOptions(device=args.device, batch_size=args.batch_size))
    load_s = time.perf_counter() - t0
    run = evaluate(manifest, enc, use_cache=not args.no_cache, model_name=name)
    wall = time.perf_counter() - t0
    s = run.stats
    data = to_json(run)
    per_100 = round(100 * wall / max(1, s.items), 2)
    data["run"] = dict(weights=WEIGHTS[name], model=model, items=s.items, units=s.units, cached=s.cached,
                       embedded=s.embedded, failed=len(run.failed), load_s=round(load_s, 2),
                       decode_s=round(s.decode_s, 2), encode_s=round(s.encode_s, 2),
                       wall_s=round(wall, 2), wall_per_100_items_s=per_100)  # fmt: skip
    (out / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    (out / f"{name}.md").write_text(to_markdown(run) + failures_markdown(run.failed))
    plot(run, out / f"{name}.png")
    print(
        f"{name}: {s.items} items, {s.units} units ({s.cached} cached, {s.embedded} embedded, "
        f"{len(run.failed)} failed); load {load_s:.1f} s, total {wall:.1f} s",
        file=sys.stderr,
    )
    return data


def _cell(x: float | None) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.1f}"


def summary_table(rows: dict[str, dict], odds: dict[str, tuple[float, float]]) -> str:
    """Markdown: one row per encoder, CHANCE and chance sd; columns = directions, averages, timing."""
    from omnisearch.eval.directions import ALL
    from omnisearch.eval.metrics import summarize

    names = [n for n in ALL if n in odds or any(n in r["directions"] for r in rows.values())]
    head = ["encoder", *names, "AVG-single", "AVG-dual", "AVG-all", "s / 100 items", "cached"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for name, data in rows.items():
        r1 = [data["directions"].get(n, {}).get("R@1") for n in names]
        avg = [data["avg_single"], data["avg_dual"], data["avg_all"]]
        run = data["run"]
        timing = [f"{run['wall_per_100_items_s']:.1f}", f"{run['cached']}/{run['units']}"]
        cells = [*map(_cell, r1 + avg), *timing]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    mean = {n: odds[n][0] for n in names if n in odds}
    avg = summarize(mean)
    cells = map(_cell, [mean.get(n) for n in names] + list(avg))
    lines.append("| CHANCE | " + " | ".join(cells) + " | - | - |")
    sd = [odds[n][1] if n in odds else None for n in names]
    lines.append("| chance sd | " + " | ".join(map(_cell, sd + [None, None, avg_sd(odds)])) + " | - | - |")
    return "\n".join(lines) + "\n"


def avg_sd(odds: dict[str, tuple[float, float]]) -> float | None:
    """sd of AVG-all under random rankings, treating directions as independent (a rough yard stick)."""
    from omnisearch.eval.directions import DUAL, SINGLE

    groups = [[odds[n][1] for n in kind if n in odds] for kind in (SINGLE, DUAL)]
    groups = [g for g in groups if g]
    if not groups:
        return None
    var = sum(sum(x * x for x in g) / len(g) ** 2 for g in groups) / len(groups) ** 2
    return float(np.sqrt(var))


def verdict(name: str, data: dict, odds: dict[str, tuple[float, float]]) -> str:
    """One line: is this encoder within Z_NEAR chance sds, per direction and on AVG-all?"""
    from omnisearch.eval.metrics import summarize

    z = {}
    for n, (m, sd) in odds.items():
        r1 = data["directions"].get(n, {}).get("R@1")
        if r1 is not None:
            z[n] = (r1 - m) / sd if sd > 0 else 0.0
    chance_all = summarize({n: m for n, (m, _) in odds.items()}).avg_all
    sd_all = avg_sd(odds)
    z_all = (data["avg_all"] - chance_all) / sd_all if sd_all and data["avg_all"] is not None else 0.0
    off = {n: v for n, v in z.items() if abs(v) > Z_NEAR}
    near = not off and abs(z_all) <= Z_NEAR
    detail = ", ".join(f"{n} {v:+.1f} sd" for n, v in off.items()) or "none"
    return (
        f"- {name}: AVG-all {data['avg_all']:.1f} vs chance {chance_all:.1f} ({z_all:+.1f} sd); "
        f"directions beyond {Z_NEAR:g} sd: {detail} -> {'NEAR chance' if near else 'NOT near chance'}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("manifest", help="retrieval manifest (JSONL)")
    ap.add_argument("out", type=Path, help="output folder")
    ap.add_argument("--encoders", nargs="*", default=list(ENCODERS), choices=ENCODERS)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--no-cache", action="store_true", help="neither read nor write the eval cache")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the tiny model folders")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    models = build_models(args.out, args.rebuild)
    odds = chance(args.manifest)
    rows = {name: run_one(name, models[name], args.manifest, args.out, args) for name in args.encoders}
    table = summary_table(rows, odds)
    lines = [f"# R@1 on {args.manifest} (percent; ties count against the query)", "", table]
    lines += ["Near chance (tiny random backends):"]
    lines += [verdict(n, rows[n], odds) for n in rows if n != "omni-lite"]
    lines += ["", "Weights: " + "; ".join(f"{n}: {WEIGHTS[n]}" for n in rows)]
    threads = os.environ["OMP_NUM_THREADS"]
    lines += [
        f"Timing: wall s per 100 items = 100 * (load + evaluate) / items, OMP_NUM_THREADS={threads}, "
        f"device {args.device}; units read from the cache cost ~nothing (see 'cached')."
    ]
    text = "\n".join(lines) + "\n"
    (args.out / "summary.md").write_text(text)
    odds_json = {n: {"R@1": m, "sd": sd} for n, (m, sd) in odds.items()}
    summary = {"manifest": str(args.manifest), "chance": odds_json, "encoders": rows}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
