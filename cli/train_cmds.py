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
from pathlib import Path
from typing import Any

import typer

from omnisearch.cli.guard import fail as _fail


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


def _encoder(model: str, device: str, heads_only: bool = False) -> Any:
    """`tasks.load_trainable`, its error shown as a one-line error."""
    from omnisearch.train.tasks import TrainError, load_trainable

    try:
        return load_trainable(model, device, heads_only=heads_only)
    except TrainError as e:
        _fail(str(e))


def _rows(task: str, manifest: Path, encoder: Any, cache_dir: Path | None) -> list[Any]:
    """`tasks.task_rows` of a manifest with a progress bar; reports the items whose media failed to
    decode (they score as misses)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from omnisearch.train.tasks import TrainError, read_items, task_rows

    try:
        items = read_items(manifest)
    except TrainError as e:
        _fail(str(e))
    label = "features" if task == "heads" else "media"
    cols = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*cols) as bar:
        job = bar.add_task(f"{label} {manifest.name}", total=len(items))
        out = task_rows(task, items, encoder, cache_dir, progress=lambda n: bar.advance(job, n))
    failed = [(x.item.id, x.failed) for x in out if x.failed]
    if failed:
        typer.echo(f"{len(failed)} item(s) failed to decode (scored as misses), e.g. {failed[0]}")
    return out


def _print_log(record: dict[str, Any]) -> None:
    from omnisearch.train.ablation import AVERAGES

    if "val" in record:
        v = {k: "-" if record["val"][k] is None else f"{record['val'][k]:.1f}" for k in AVERAGES}
        typer.echo(  # an average is "-" when the val set has none of its directions (e.g. audio-text only)
            f"epoch {record['epoch']:>3}  step {record['step']:>5}  val R@1 "
            f"AVG-single {v['avg_single']}  AVG-dual {v['avg_dual']}  AVG-all {v['avg_all']}"
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
    model: str = typer.Option(
        "omni-lite", "--model", help="omni-lite / clip-clap (heads), omniretriever-7b (LoRA): name or folder"
    ),
    val: Path = typer.Option(
        None, "--val", help="Validation manifest scored each epoch (R@1, 12 directions)."
    ),
    epochs: int = typer.Option(
        None, "--epochs", help="Passes over the tuples (heads 60, clip-clap --lora 10, 7B LoRA 1)."
    ),
    steps: int = typer.Option(None, "--steps", help="Stop after this many steps instead."),
    batch_size: int = typer.Option(None, "--batch-size", help="Tuples per step, per process (16, LoRA 8)."),
    lr: float = typer.Option(None, "--lr", help="Peak LR, AdamW + warmup + cosine (1e-4, LoRA 1e-5)."),
    seed: int = typer.Option(0, "--seed"),
    weights: str = typer.Option(
        "1,1,1", "--weights", help="w_A,w_D,w_T: pairwise, fusion-as-teacher, tuple."
    ),
    temperature: float = typer.Option(0.05, "--temperature", help="InfoNCE temperature (paper: 0.01)."),
    alpha: float = typer.Option(
        0.5, "--alpha", help="Heads: blend written to the model folder, share of the encoder's own space."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue a run from its newest checkpoint."),
    cache_dir: Path = typer.Option(
        None, "--cache-dir", help="Feature cache (default ~/.cache/omnisearch/features)."
    ),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda (towers and training)."),
    lora: bool = typer.Option(
        False, "--lora", help="clip-clap: also train LoRA on the CLIP / CLAP towers (decoded media, slower)."
    ),
    lora_rank: int = typer.Option(8, "--lora-rank", help="LoRA rank (omniretriever-7b, clip-clap --lora)."),
    gradient_checkpointing: bool = typer.Option(
        False, "--gradient-checkpointing", help="omniretriever-7b: trade compute for activation memory."
    ),
) -> None:
    """Train with the paper's objective; OUT becomes a model folder (--model OUT in index, search, eval).

    omni-lite / clip-clap: projection heads + fusion on cached frozen features (clip-clap --lora: with LoRA on its towers, over cached decoded media). omniretriever-7b: LoRA on the language model's attention (+ the embedding head) over cached decoded media; a GPU is expected.
    """  # noqa: E501 - one paragraph in --help
    from omnisearch.train.tasks import TrainError, TrainOptions, choose_task, run_task, task_config

    encoder = _encoder(model, device)
    loop = {"max_steps": steps, "seed": seed, "weights": parse_floats(weights)}
    loop.update(temperature=temperature, cpu=device == "cpu")
    for key, value in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr)):
        if value is not None:
            loop[key] = value
    opts = TrainOptions(loop, alpha, lora_rank, gradient_checkpointing)
    try:
        task = choose_task(encoder, lora)
        cfg = task_config(task, encoder, opts)
    except TrainError as e:
        _fail(str(e))
    rows = _rows(task, manifest, encoder, cache_dir)
    val_rows = _rows(task, val, encoder, cache_dir) if val else None
    try:
        result = run_task(task, encoder, rows, out, cfg, val_rows, resume, _print_log)
    except TrainError as e:
        _fail(str(e))
    what = "model folder" if task == "heads" else "LoRA model folder"
    speed = f"{result.samples_per_s:.1f}" if task == "heads" else f"{result.samples_per_s:.2f}"
    typer.echo(f"done: {result.steps} steps, {speed} samples/s; {what} {out} (use --model {out})")


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
    from omnisearch.train.tasks import ablation_config

    seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    encoder = _encoder(model, "cpu", heads_only=True)
    train_feats = _rows("heads", train_manifest, encoder, cache_dir)
    test_feats = _rows("heads", test_manifest, encoder, cache_dir)
    base = ablation_config(encoder, batch_size, lr, temperature)

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
