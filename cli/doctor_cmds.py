"""`omnisearch doctor`: check an index against the disk; `--fix` repairs it.

Example:
    $ omnisearch doctor --db ~/.omnisearch/db
    $ omnisearch doctor --db ~/.omnisearch/db --fix --json
"""

from __future__ import annotations

import typer

from omnisearch.cli import options as opt
from omnisearch.cli.guard import DEFAULT_DB, fail, open_checked, print_json


def doctor(
    db: opt.Db = DEFAULT_DB,
    store: opt.Store = opt.StoreKind.lancedb,
    qdrant_url: opt.QdrantUrl = None,
    qdrant_api_key: opt.QdrantKey = None,
    fix: bool = typer.Option(False, "--fix", help="Repair what was found, and say what was done."),
    model: str = typer.Option(None, "--model", help="Encoder for re-indexing (default: the index's own)."),
    device: opt.Device = "cpu",
    window: float = typer.Option(
        None, "--window", help="Clip length for re-indexed files of an index that recorded none (default 10)."
    ),
    overlap: float = typer.Option(None, "--overlap", help="Their overlap (default 5), likewise."),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON (alone on stdout)."),
) -> None:
    """Check an index: missing, changed, unreadable and never-indexed files, bad vectors, duplicates, damaged versions, stale indexes and locks. Exit 0 when healthy, 1 when problems remain."""  # noqa: E501
    from omnisearch.ingest.doctor import diagnose, repair
    from omnisearch.spec import settle

    opt.require_index(db, qdrant_url)
    st = open_checked(store, db, qdrant_url, qdrant_api_key)
    try:
        report = diagnose(st)
        if fix and report.problems:
            seg = settle(None, window=window, overlap=overlap).segment
            fixed = repair(st, report, lambda: _encoder(st, model, device), seg)
            report = diagnose(st)
            report.fixed = fixed
    finally:
        st.close()
    if as_json:
        print_json(report.to_dict())
    else:
        _print(report, db)
    raise typer.Exit(1 if report.problems else 0)


def _encoder(st, model: str | None, device: str):
    from omnisearch.indexers import EncoderMismatchError
    from omnisearch.models import EncoderOptions, encoder_for_index

    try:
        return encoder_for_index(st.spec(), st.encoder(), model, EncoderOptions(device=device))
    except EncoderMismatchError as e:
        fail(str(e))
    except (ValueError, RuntimeError) as e:
        fail(f"cannot load the encoder to re-index: {e}. Pass --model NAME or a model folder")


def _print(report, db: str) -> None:
    from rich.console import Console

    out = Console(highlight=False, soft_wrap=True)
    for line in report.notes:
        out.print(f"[cyan]note[/] {line}")
    for line in report.fixed:
        out.print(f"[green]fixed[/] {line}")
    for p in report.problems:
        out.print(f"[yellow]{p.kind}[/] {p.path}: {p.detail}")
    state = "healthy" if not report.problems else f"{len(report.problems)} problem(s)"
    hint = (
        f"; `omnisearch doctor --db {db} --fix` repairs them" if report.problems and not report.fixed else ""
    )
    out.print(f"{report.files} files, {report.clips} clips: {state}{hint}")


def register(app: typer.Typer) -> None:
    app.command()(doctor)
