"""The FastAPI application of `omnisearch serve`: the /api routes, the web page at `/` and its static
files, the upload limit, and the server's start and stop.

Example:
    cfg = ServeConfig(db="omnisearch-db", port=8765)
    run_server(cfg)                      # blocks; Ctrl-C stops it
    app = create_app(cfg, index=idx)     # or mount it yourself (tests pass an open index)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from omnisearch.serve.config import ServeConfig, check_config
from omnisearch.serve.routes import api_router
from omnisearch.serve.security import token_guard
from omnisearch.serve.state import ServerState
from omnisearch.serve.uploads import UploadLimit, UploadTooLarge

STATIC = Path(__file__).parent / "static"
PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
    "connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'"
)


def create_app(cfg: ServeConfig, index: Any = None) -> FastAPI:
    """The application. The index is opened (or `index` adopted) when the server starts."""
    check_config(cfg)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.omni = await run_in_threadpool(ServerState.start, cfg, index)
        try:
            yield
        finally:
            await run_in_threadpool(app.state.omni.stop)

    app = FastAPI(
        title="omnisearch",
        summary="Any-to-any audio / video / text search over a media library.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served below from the packaged Swagger UI, not from a CDN
        redoc_url=None,
    )
    app.add_middleware(UploadLimit, max_bytes=cfg.max_upload_bytes)
    app.add_exception_handler(UploadTooLarge, _too_large)
    app.include_router(api_router(token_guard(cfg.token)))

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(
            STATIC / "index.html", media_type="text/html", headers={"Content-Security-Policy": PAGE_CSP}
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _docs(app)
    return app


def _docs(app: FastAPI) -> None:
    """/docs: Swagger UI from the swagger-ui-bundle package's files, so it works offline."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="omnisearch API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


async def _too_large(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=413, headers={"Connection": "close"})


def run_server(cfg: ServeConfig, index: Any = None) -> None:
    """Serve until interrupted (uvicorn, one process; searches run in the state's worker pool)."""
    import uvicorn

    app = create_app(cfg, index)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="warning", access_log=False)
