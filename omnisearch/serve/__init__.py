"""`omnisearch serve`: the HTTP API (FastAPI + uvicorn) and the web page, built on the Python API.

Importing this package is cheap (it checks the 'serve' extra); `omnisearch.serve.app` imports FastAPI.

Example:
    >>> from omnisearch.serve.config import ServeConfig
    >>> from omnisearch.serve.app import run_server      # doctest: +SKIP
    >>> run_server(ServeConfig(db="omnisearch-db"))      # doctest: +SKIP
"""

from omnisearch.extras import require

require("serve", "the HTTP server (omnisearch serve)")
