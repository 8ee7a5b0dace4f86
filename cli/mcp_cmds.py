"""`omnisearch mcp`: the index as an MCP tool server over stdio (see omnisearch.integrations.mcp_server).

Example:
    $ omnisearch mcp --db ~/.omnisearch/db
"""

from __future__ import annotations

import typer

from omnisearch.cli import options as opt
from omnisearch.cli.guard import DEFAULT_DB


def mcp(
    db: opt.Db = DEFAULT_DB,
    store: opt.Store = opt.StoreKind.lancedb,
    qdrant_url: opt.QdrantUrl = None,
    qdrant_api_key: opt.QdrantKey = None,
    device: opt.Device = "cpu",
) -> None:
    """Serve the index to an LLM client as MCP tools (search, clip) over stdin/stdout."""
    from omnisearch.api import Index, OpenOptions

    opt.require_index(db, qdrant_url)
    from omnisearch.integrations.mcp_server import serve_stdio  # MissingExtra('mcp') without mcp

    opts = OpenOptions(
        store=store.value, qdrant_url=qdrant_url, qdrant_api_key=qdrant_api_key, device=device, read_only=True
    )
    with Index(db, opts) as idx:
        serve_stdio(idx)


def register(app: typer.Typer) -> None:
    app.command()(mcp)
