"""`omnisearch train` and `omnisearch ablation`: heads over an encoder's frozen features (omni-lite,
clip-clap), or LoRA on omniretriever-7b.

Torch, accelerate and the towers are imported inside the commands, so `omnisearch --help` stays fast.

Example:
    $ omnisearch train dev/train.jsonl --out runs/heads --val dev/test.jsonl --epochs 40
    $ omnisearch search "a dog barking" --model runs/heads --db lib-tuned
    $ omnisearch ablation dev/train.jsonl dev/test.jsonl --out runs/ablation --seeds 0,1,2 --steps 240
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer


def _fail(msg: str) -> None:
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {msg}", highlight=False)
    raise typer.Exit(2)


def default_feature_cache() -> Path:
    """$OMNISEARCH_CACHE/features, else ~/.cache/omnisearch/features."""
    env = os.environ.get("OMNISEARCH_CACHE")
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "omnisearch") / "features"


def parse_floats(value: str, n: int = 3) -> tuple[float, ...]:
    """'1,1,0' -> (1.0, 1.0, 0.0); exactly `n` numbers.

    Example:
        >>> parse_floats("1,0.5,0")
        (1.0, 0.5, 0.0)
    """
    try:
        out = tuple(float(x) for x in value.split(","))
    except ValueError:
        out = ()
    if len(out) != n:
        raise typer.BadParameter(f"expected {n} comma-separated numbers, got {value!r}")
    return out


def _encoder(model: str, device: str) -> Any:
    """The encoder whose frozen features heads are trained on (one with `feature_layout`)."""
    from omnisearch.models import EncoderOptions, load_encoder

    try:
        encoder = load_encoder(model, EncoderOptions(device=device))
    except (ValueError, RuntimeError) as e:
        _fail(str(e))
    if not hasattr(encoder, "feature_layout"):
        _fail(f"model {model!r} has no frozen features to train heads on (omni-lite and clip-clap do)")
    return encoder


def _heads_setup(encoder: Any) -> tuple[Any, dict[str, Any]]:
    """(HeadsConfig for the encoder's features, what the model folder must record to rebuild it)."""
    from omnisearch.models.heads import HeadsConfig

    layout = encoder.feature_layout
    if layout.name == "omni-lite":
        return HeadsConfig(), {}
    meta = {"clip": str(Path(encoder.clip_path).resolve()), "clap": str(Path(encoder.clap_path).resolve())}
    return HeadsConfig.for_layout(layout), meta


def _features(manifest: Path, encoder: Any, cache_dir: Path | None) -> list[Any]:
    """Read the manifest and extract (or load) the frozen features of every item, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from omnisearch.eval.manifest import ManifestError, read_manifest
    from omnisearch.train.features import extract_features

    try:
        items = read_manifest(manifest)
    except (ManifestError, OSError) as e:
        _fail(str(e))
    cols = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*cols) as bar:
        task = bar.add_task(f"features {manifest.name}", total=len(items))
        feats = extract_features(
            items, encoder, cache_dir or default_feature_cache(), progress=lambda n: bar.advance(task, n)
        )
    failed = {f.item.id: f.failed for f in feats if f.failed}
    if failed:
        typer.echo(
            f"{len(failed)} item(s) failed to decode (scored as misses), e.g. {next(iter(failed.items()))}"
        )
    return feats


def _print_log(record: dict[str, Any]) -> None:
    if "val" in record:
        v = record["val"]
        typer.echo(
            f"epoch {record['epoch']:>3}  step {record['step']:>5}  val R@1 "
            f"AVG-single {v['avg_single']:.1f}  AVG-dual {v['avg_dual']:.1f}  AVG-all {v['avg_all']:.1f}"
        )
    else:
        parts = "  ".join(
            f"{k[5:] if k.startswith('loss_') else k} {v:.4g}"
            for k, v in record.items()
            if k not in ("step", "epoch")
        )
        typer.echo(f"step {record['step']:>5}  {parts}")


def train_command(
    manifest: Path = typer.Argument(..., help="Training manifest (JSONL; see docs/benchmark-format.md)."),
    out: Path = typer.Option(..., "--out", help="Run folder: checkpoints, log.jsonl and the model folder."),
    model: str = typer.Option("omni-lite", "--model", help="Base encoder (its frozen features are cached)."),
    val: Path = typer.Option(
        None, "--val", help="Validation manifest scored each epoch (R@1, 12 directions)."
    ),
    epochs: int = typer.Option(60, "--epochs", help="Passes over the training tuples."),
    steps: int = typer.Option(None, "--steps", help="Stop after this many steps instead."),
    batch_size: int = typer.Option(16, "--batch-size", help="Tuples per step (per process)."),
    lr: float = typer.Option(1e-4, "--lr", help="Peak learning rate (AdamW, warmup + cosine)."),
    seed: int = typer.Option(0, "--seed"),
    weights: str = typer.Option(
        "1,1,1", "--weights", help="w_A,w_D,w_T: pairwise, fusion-as-teacher, tuple."
    ),
    temperature: float = typer.Option(0.05, "--temperature", help="InfoNCE temperature (paper: 0.01)."),
    alpha: float = typer.Option(
        0.5, "--alpha", help="Blend written to the model folder: share of omni-lite's block space."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue an interrupted run from the newest checkpoint in --out (same options).",
    ),
    cache_dir: Path = typer.Option(
        None, "--cache-dir", help="Feature cache (default ~/.cache/omnisearch/features)."
    ),
    device: str = typer.Option("cpu", "--device", help="Device of the frozen towers: auto | cpu | cuda."),
) -> None:
    """Train projection heads + fusion on cached frozen features; OUT becomes a model folder (--model OUT)."""
    from omnisearch.train.batches import rows_from_features
    from omnisearch.train.trainer import TrainConfig, train

    w = parse_floats(weights)
    encoder = _encoder(model, device)
    heads_cfg, folder_meta = _heads_setup(encoder)
    feats = _features(manifest, encoder, cache_dir)
    val_feats = _features(val, encoder, cache_dir) if val else None
    cfg = TrainConfig(
        heads=heads_cfg,
        epochs=epochs,
        max_steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        weights=w,
        temperature=temperature,
        alpha=alpha,
    )
    try:
        result = train(
            rows_from_features(feats),
            out,
            cfg,
            val=val_feats,
            resume=resume,
            on_log=_print_log,
            layout=encoder.feature_layout,
            base=encoder.plain_copy,
            folder_meta=folder_meta,
        )
    except ValueError as e:
        _fail(str(e))
    typer.echo(
        f"done: {result.steps} steps, {result.samples_per_s:.1f} samples/s; model folder {out} "
        f"(use --model {out})"
    )


def ablation_command(
    train_manifest: Path = typer.Argument(..., help="Training manifest."),
    test_manifest: Path = typer.Argument(..., help="Test manifest (disjoint from training)."),
    out: Path = typer.Option(..., "--out", help="Writes ablation.md and ablation.json here."),
    seeds: str = typer.Option("0,1,2", "--seeds", help="Comma-separated seeds (>= 3 for a std)."),
    steps: int = typer.Option(240, "--steps", help="Training steps of every run."),
    model: str = typer.Option("omni-lite", "--model", help="Base encoder."),
    batch_size: int = typer.Option(16, "--batch-size"),
    lr: float = typer.Option(1e-4, "--lr"),
    temperature: float = typer.Option(0.05, "--temperature"),
    cache_dir: Path = typer.Option(
        None, "--cache-dir", help="Feature cache (default ~/.cache/omnisearch/features)."
    ),
) -> None:
    """L_A vs L_A+L_D vs L_A+L_T vs all three, same data and steps, several seeds, scored on TEST."""
    from omnisearch.train.ablation import run_ablation
    from omnisearch.train.trainer import TrainConfig

    seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    encoder = _encoder(model, "cpu")
    heads_cfg, _ = _heads_setup(encoder)
    train_feats = _features(train_manifest, encoder, cache_dir)
    test_feats = _features(test_manifest, encoder, cache_dir)
    base = TrainConfig(batch_size=batch_size, lr=lr, temperature=temperature, heads=heads_cfg)

    def show(name: str, seed: int, m: dict[str, Any]) -> None:
        typer.echo(
            f"{name:<12} seed {seed}: AVG-single {m['avg_single']:.1f}  "
            f"AVG-dual {m['avg_dual']:.1f}  AVG-all {m['avg_all']:.1f}"
        )

    try:
        report = run_ablation(
            train_feats, test_feats, out, seed_list, steps, base, on_run=show, encoder=encoder
        )
    except ValueError as e:
        _fail(str(e))
    typer.echo((out / "ablation.md").read_text())
    typer.echo(json.dumps({"verdict": report["verdict"]}))


def register(app: typer.Typer) -> None:
    """Add the training commands to the app."""
    app.command("train")(train_command)
    app.command("ablation")(ablation_command)
