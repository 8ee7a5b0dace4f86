"""`omnisearch mcp`: the index as an MCP tool server over stdio (see omnisearch.integrations.mcp_server).

Example:
    $ omnisearch mcp --db ~/.omnisearch/db
"""

from __future__ import annotations

from pathlib import Path

import typer

from omnisearch.cli.guard import DEFAULT_DB, fail


def mcp(
    db: str = typer.Option(DEFAULT_DB, "--db", help="Index folder (LanceDB) or Qdrant local path."),
    store: str = typer.Option("lancedb", "--store", help="lancedb | qdrant"),
    qdrant_url: str = typer.Option(None, "--qdrant-url"),
    qdrant_api_key: str = typer.Option(None, "--qdrant-api-key", envvar="QDRANT_API_KEY"),
    device: str = typer.Option("cpu", "--device", help="auto | cpu | cuda | cuda:N"),
) -> None:
    """Serve the index to an LLM client as MCP tools (search, clip) over stdin/stdout."""
    from omnisearch.api import Index, OpenOptions

    if store not in ("lancedb", "qdrant"):
        fail(f"--store {store!r}: use lancedb or qdrant")
    if not qdrant_url and not Path(db).is_dir():
        fail(f"no index at {db}: run `omnisearch index PATH --db {db}` first")
    from omnisearch.integrations.mcp_server import serve_stdio  # MissingExtra('mcp') without mcp

    opts = OpenOptions(
        store=store, qdrant_url=qdrant_url, qdrant_api_key=qdrant_api_key, device=device, read_only=True
    )
    with Index(db, opts) as idx:
        serve_stdio(idx)


def register(app: typer.Typer) -> None:
    app.command()(mcp)
