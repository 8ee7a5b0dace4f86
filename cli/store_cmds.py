"""`omnisearch optimize`: compact an index, prune old versions, build or refresh its indexes, and
print what it did with the figures before and after.

Example:
    $ omnisearch optimize --db ~/.omnisearch/db
    $ omnisearch optimize --db ~/.omnisearch/db --keep 600 --rebuild --json
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from omnisearch.cli.guard import DEFAULT_DB


def disk_mb(path: str) -> float:
    """Bytes under a folder, in MB (0 for a missing one)."""
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return round(total / 1e6, 2)


def _brief(stats: dict, db: str) -> dict:
    keys = ("rows", "fragments", "small_fragments", "versions", "segments")
    out = {k: stats[k] for k in keys if k in stats}
    out["indexes"] = [ix.get("name") or ix.get("field") or ix.get("type") for ix in stats.get("indexes", [])]
    out["disk_mb"] = disk_mb(db)
    return out


def optimize(
    db: str = typer.Option(DEFAULT_DB, "--db", help="Index folder (LanceDB) or Qdrant local path."),
    store: str = typer.Option("lancedb", "--store", help="lancedb | qdrant"),
    qdrant_url: str = typer.Option(None, "--qdrant-url"),
    keep: float = typer.Option(
        0.0, "--keep", help="Keep versions newer than KEEP seconds (for readers still on them)."
    ),
    rebuild: bool = typer.Option(False, "--rebuild", help="Retrain the vector indexes from scratch."),
    as_json: bool = typer.Option(False, "--json", help="Print what it did as JSON."),
) -> None:
    """Compact fragments, prune old versions, build or refresh the vector and full-text indexes."""
    from datetime import timedelta

    from omnisearch.indexers import open_store

    if store == "lancedb" and not Path(db).exists():
        from omnisearch.cli.guard import fail as _fail

        _fail(f"no index at {db}")
    from omnisearch.cli.guard import writer_section

    with writer_section(db, qdrant_url, wait=True):  # optimize writes: one writer per index
        st = open_store(store, db, url=qdrant_url)
        try:
            before = _brief(st.stats(), db)
            done = st.optimize(keep=timedelta(seconds=max(0.0, keep)), rebuild=rebuild)
            after = _brief(st.stats(), db)
        finally:
            st.close()
    if as_json:
        print(json.dumps({"before": before, "after": after, "done": done}, indent=2))
        return
    for line in done:
        print(line)
    for name, figs in (("before", before), ("after", after)):
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in figs.items()))


def register(app: typer.Typer) -> None:
    app.command()(optimize)
