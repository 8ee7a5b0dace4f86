"""`omnisearch export` (clips as JSON lines on stdout) and `omnisearch import` (into any store,
without re-embedding).

Example:
    $ omnisearch export --db db --vectors > clips.jsonl
    $ omnisearch import clips.jsonl --db qdb --store qdrant
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from omnisearch.cli import options as opt
from omnisearch.cli.guard import DEFAULT_DB, fail, note, open_checked, store_errors, writer_section


def export(
    db: opt.Db = DEFAULT_DB,
    store: opt.Store = opt.StoreKind.lancedb,
    qdrant_url: opt.QdrantUrl = None,
    qdrant_api_key: opt.QdrantKey = None,
    vectors: bool = typer.Option(False, "--vectors", help="Include the vectors (needed by import)."),
) -> None:
    """Write every clip as one JSON line on stdout: id, file, start, end, hash, words, the spec."""
    from omnisearch.indexers.transfer import export_lines

    opt.require_index(db, qdrant_url)
    st = open_checked(store, db, qdrant_url, qdrant_api_key)
    n = 0
    with store_errors(db):
        for line in export_lines(st, vectors=vectors):
            sys.stdout.write(line + "\n")
            n += 1
    st.close()
    note(f"exported {n} clips{' with vectors' if vectors else ''}")


def import_(
    source: Path = typer.Argument(..., help="A JSON lines file written by `omnisearch export --vectors`."),
    db: opt.Db = DEFAULT_DB,
    store: opt.Store = opt.StoreKind.lancedb,
    qdrant_url: opt.QdrantUrl = None,
    qdrant_api_key: opt.QdrantKey = None,
    wait: opt.Wait = True,
) -> None:
    """Import exported clips (with their vectors and spec) into an index."""
    from omnisearch.indexers import EncoderMismatchError
    from omnisearch.indexers.transfer import TransferError, import_lines

    if not source.is_file():
        fail(f"{source} is not a file")
    with writer_section(db, qdrant_url, wait):
        st = open_checked(store, db, qdrant_url, qdrant_api_key, wait=wait)
        try:
            with open(source, encoding="utf-8") as f, store_errors(db):
                n = import_lines(f, st)
        except (TransferError, EncoderMismatchError, UnicodeDecodeError) as e:
            fail(f"{source}: {e}")
        finally:
            st.close()
    note(f"imported {n} clips into {qdrant_url or db}")


def register(app: typer.Typer) -> None:
    app.command()(export)
    app.command("import")(import_)
