"""`omnisearch serve`: the HTTP API and the web page (FastAPI + uvicorn, imported when it runs).

Example:
    $ omnisearch serve --db ~/.omnisearch/db                      # http://127.0.0.1:8765/
    $ omnisearch serve --db db --host 0.0.0.0 --token "$TOKEN"    # a token is required off loopback
"""

from __future__ import annotations

import typer

from omnisearch.cli import options as opt
from omnisearch.cli.guard import DEFAULT_DB, fail, note


def serve(
    db: opt.Db = DEFAULT_DB,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8765, "--port"),
    token: str = typer.Option(
        None, "--token", envvar="OMNISEARCH_TOKEN", help="Bearer token (required unless --host is loopback)."
    ),
    max_upload_mb: float = typer.Option(100.0, "--max-upload-mb", help="Largest query upload (413 above)."),
    workers: int = typer.Option(4, "--workers", help="Searches run at once."),
    cache_dir: str = typer.Option(
        None, "--cache-dir", help="Thumbnails and cut spans (default: a temp folder)."
    ),
) -> None:
    """Serve the index over HTTP: /api/search, clips' thumbnails and media, OpenAPI at /docs, a page at /."""
    from omnisearch.serve.config import ServeConfig, check_config

    cfg = ServeConfig(
        db=db,
        host=host,
        port=port,
        token=token,
        max_upload_mb=max_upload_mb,
        workers=workers,
        cache_dir=cache_dir,
    )
    try:
        check_config(cfg)
    except ValueError as e:
        fail(f"refusing to start: {e}")
    opt.require_index(db)
    from omnisearch.serve.app import run_server

    auth = "; bearer token required" if token else ""
    note(f"serving {db} at http://{host}:{port}/ (API docs at /docs){auth}")
    run_server(cfg)


def register(app: typer.Typer) -> None:
    app.command()(serve)
