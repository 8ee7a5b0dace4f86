"""`omnisearch eval` (score a model on a retrieval manifest) and `omnisearch convert` (public benchmark
-> manifest). Heavy libraries are imported inside the commands, so `omnisearch --help` stays fast.

Example:
    $ omnisearch convert clotho ~/data/clotho clotho.jsonl
    $ omnisearch eval clotho.jsonl --json clotho.json --directions t2a,a2t --markdown clotho.md
    $ omnisearch eval bench.jsonl --json out.json --plot out.png --model runs/ft1 --device cuda
    $ omnisearch eval bench.jsonl --json db.json --db /tmp/evaldb --store qdrant   # through an index
"""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from omnisearch.eval.core import EvalRun
    from omnisearch.eval.index_eval import IndexEvalResult

# kept literal (importing the converters pulls in numpy); tests check it against converters.FORMATS
FORMAT_NAMES = ("msrvtt", "msvd", "didemo", "vatex", "omnibench", "clotho", "audiocaps", "sounddescs")
MAX_LISTED_FAILURES = 10


class IndexStore(StrEnum):
    """Vector stores `eval --db` can score through (kept literal: see `indexers.STORES`)."""

    lancedb = "lancedb"
    qdrant = "qdrant"


def parse_directions(value: str | None) -> list[str] | None:
    """'t2a, a2t' -> ['t2a', 'a2t']; None or blank -> None (all 12). Unknown names raise ValueError.

    Example:
        >>> parse_directions("t2a,a2t"), parse_directions(None)
        (['t2a', 'a2t'], None)
    """
    if value is None or not value.strip():
        return None
    from omnisearch.eval.directions import resolve

    names = [n.strip().lower() for n in value.split(",") if n.strip()]
    resolve(names)
    return names


def _run_eval(
    manifest: Path,
    encoder,
    names: list[str] | None,
    model: str,
    use_cache: bool,
    db: Path | None = None,
    store: str = "lancedb",
) -> tuple[EvalRun, IndexEvalResult | None]:
    """The in-memory run and, with `db`, the same scored through `store` stores under db."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from omnisearch.eval.evaluator import evaluate

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("embedding", total=None)

    def embedding(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        if db is None:
            run = evaluate(
                manifest, encoder, directions=names, progress=embedding, use_cache=use_cache, model_name=model
            )
            return run, None
        from omnisearch.eval.index_eval import evaluate_via_index

        searching = bar.add_task("searching", total=None)
        return evaluate_via_index(
            manifest,
            encoder,
            db,
            store,
            directions=names,
            progress=embedding,
            use_cache=use_cache,
            model_name=model,
            search_progress=lambda done, total: bar.update(searching, completed=done, total=total),
        )


def eval_command(
    manifest: Path = typer.Argument(..., help="Retrieval manifest (JSONL; see docs/benchmark-format.md)."),
    json_out: Path = typer.Option(..., "--json", help="Write the scores here as JSON."),
    model: str = typer.Option("omni-lite", "--model", help="Encoder name or model folder."),
    directions: str = typer.Option(
        None, "--directions", help="Comma-separated, e.g. t2a,a2t (default: all 12)."
    ),
    markdown: Path = typer.Option(None, "--markdown", help="Also write a Markdown report here."),
    plot_png: Path = typer.Option(None, "--plot", help="Also draw R@1 per direction into this PNG."),
    device: str = typer.Option("cpu", "--device", help="auto | cpu | cuda | cuda:N"),
    batch_size: int = typer.Option(16, "--batch-size", help="Inputs per encoder call."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the embedding cache."),
    db: Path = typer.Option(
        None,
        "--db",
        help="Also score through a vector index built here (new folder; one store per target side) "
        "with the real query planner; --json then holds the index figures.",
    ),
    store: IndexStore = typer.Option(IndexStore.lancedb, "--store", help="Vector store for --db."),
) -> None:
    """Score a model on a manifest: R@1/5/10 of the 12 directions and their averages."""
    from rich.console import Console

    from omnisearch.cli.guard import fail as _fail
    from omnisearch.cli.main import _load_model
    from omnisearch.eval.manifest import ManifestError
    from omnisearch.eval.report import rich_table, write_reports
    from omnisearch.extras import require

    if not manifest.is_file():
        _fail(f"manifest not found: {manifest}")
    if plot_png is not None:
        require("plot", "--plot")  # before the evaluation, not after it
    try:
        names = parse_directions(directions)
    except ValueError as e:
        _fail(str(e))
    enc = _load_model(model, device, batch_size)
    t0 = time.perf_counter()
    try:
        run, via = _run_eval(manifest, enc, names, model, not no_cache, db, store.value)
    except (ManifestError, FileExistsError) as e:
        _fail(str(e))
    seconds = time.perf_counter() - t0
    err = Console(stderr=True, soft_wrap=True)
    for item_id, reason in list(run.failed.items())[:MAX_LISTED_FAILURES]:
        err.print(f"[yellow]failed[/] {item_id}: {reason}", highlight=False)
    if len(run.failed) > MAX_LISTED_FAILURES:
        err.print(f"[yellow]... and {len(run.failed) - MAX_LISTED_FAILURES} more failed item(s)[/]")
    data = write_reports(run, json_out, markdown, plot_png, via, store.value, db)
    Console().print(rich_table(run if via is None else via))
    if via is not None:
        _print_index(err, data["index"])
    s = run.stats
    err.print(
        f"{s.items} items, {s.units} units: {s.cached} from cache, {s.embedded} embedded, "
        f"{len(run.failed)} failed; {seconds:.1f} s (decode {s.decode_s:.1f} s, encode {s.encode_s:.1f} s)",
        highlight=False,
    )
    if not run.directions:
        _fail("no direction could be scored (see the skipped reasons)", code=1)


def _print_index(err: Any, info: dict[str, Any]) -> None:
    """One line on how the index was searched, then whether its figures equal the in-memory ones."""
    rows = sum(s["rows"] for s in info["stores"].values())
    err.print(
        f"through the index: {info['store']} at {info['db']}, {len(info['stores'])} store(s), {rows} rows; "
        f"planner k={info['k']}, prefetch={info['prefetch']}; build {info['build_s']:.1f} s, "
        f"search {info['search_s']:.1f} s",
        highlight=False,
    )
    if not info["differences"]:
        err.print("[green]same R@1/5/10 as the in-memory evaluation in every direction[/]")
    for line in info["differences"]:
        err.print(f"[yellow]differs from in-memory[/] {line}", highlight=False)
    for name, entry in info["store_order"].items():
        figures = ", ".join(f"{k} {v:.2f}" for k, v in entry.items() if k.startswith("R@"))
        err.print(
            f"ties: {name} has {entry['tied_queries']} queries tied with non-relevant hits; "
            f"in the store's order (ties by clip id) it would read {figures}",
            highlight=False,
        )


def convert_command(
    fmt: str = typer.Argument(..., help=f"Dataset format: {', '.join(FORMAT_NAMES)}."),
    src: Path = typer.Argument(..., help="Folder holding the dataset as released."),
    out: Path = typer.Argument(..., help="Manifest to write (JSONL)."),
    annotations: Path = typer.Option(None, "--annotations", help="Caption file (default: found under SRC)."),
    media_dir: Path = typer.Option(None, "--media-dir", help="Where the media files are (default: SRC)."),
    split_file: Path = typer.Option(None, "--split-file", help="A list of ids to keep (one per line)."),
    cut: bool = typer.Option(False, "--cut", help="audiocaps / omnibench: add start/end for uncut sources."),
) -> None:
    """Convert a public retrieval benchmark into a manifest and print what was written or skipped."""
    from omnisearch.cli.guard import fail as _fail
    from omnisearch.eval.converters import convert

    options = {"cut": True} if cut else {}
    try:
        summary = convert(
            fmt, src, out, annotations=annotations, media_dir=media_dir, split_file=split_file, **options
        )
    except (ValueError, TypeError, FileNotFoundError) as e:
        _fail(str(e))
    typer.echo(str(summary))
    if summary.written == 0:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the evaluation commands to the app."""
    app.command("eval")(eval_command)
    app.command("convert")(convert_command)
