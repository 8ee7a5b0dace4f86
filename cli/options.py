"""The options every index command shares, defined once, and the one check that an index is there.

Example:
    def info(db: opt.Db = DEFAULT_DB, store: opt.Store = opt.StoreKind.lancedb) -> None:
        opt.require_index(db)
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from omnisearch.cli.guard import fail


class StoreKind(StrEnum):
    lancedb = "lancedb"
    qdrant = "qdrant"


Db = Annotated[str, typer.Option("--db", help="Index folder (LanceDB) or Qdrant local path.")]
Store = Annotated[StoreKind, typer.Option("--store", help="Vector store.")]
QdrantUrl = Annotated[
    str | None, typer.Option("--qdrant-url", help="Qdrant server URL (with --store qdrant).")
]
QdrantKey = Annotated[str | None, typer.Option("--qdrant-api-key", envvar="QDRANT_API_KEY")]
Device = Annotated[str, typer.Option("--device", help="auto | cpu | cuda | cuda:N")]
Wait = Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for another writer, or exit 2 at once.")]


def require_index(db: str, qdrant_url: str | None = None) -> None:
    """Exit 2 with one line unless `db` is an index folder (a Qdrant server by URL is not checked)."""
    if qdrant_url:
        return
    path = Path(db)
    if path.exists() and not path.is_dir():
        fail(f"--db {db} is a file, not an index folder")
    if not path.exists():
        fail(f"no index at {db}: run `omnisearch index PATH --db {db}` first")
