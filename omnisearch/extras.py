"""Optional extras: which feature needs which `pip install 'omnisearch[EXTRA]'`, checked in one place.

The base install indexes and searches with the default encoder. Training, the Qdrant store, the HTTP
server, MCP, Ray, the RAG retrievers and plots each need an extra (see pyproject.toml). A feature calls
`require` before it imports its libraries, or turns the ImportError of a module-level import into
`MissingExtra`; the CLI prints either as one line (`error: ... pip install 'omnisearch[train]'`).

Example:
    >>> require("train", "omnisearch train")                   # doctest: +SKIP
    >>> print(MissingExtra("plot", "--plot", "matplotlib"))
    --plot needs the 'plot' extra: pip install 'omnisearch[plot]' (module matplotlib is missing)
"""

from __future__ import annotations

import importlib.util

# extra -> the modules it installs that the code imports (pyproject.toml's optional-dependencies)
EXTRAS: dict[str, tuple[str, ...]] = {
    "train": ("peft", "accelerate"),
    "qdrant": ("qdrant_client",),
    "serve": ("fastapi", "uvicorn", "multipart", "swagger_ui_bundle"),
    "mcp": ("mcp",),
    "ray": ("ray",),
    "langchain": ("langchain_core",),
    "llama-index": ("llama_index.core",),
    "plot": ("matplotlib",),
}


class MissingExtra(ImportError):
    """A feature was used without the extra that installs its libraries."""

    def __init__(self, extra: str, feature: str, module: str) -> None:
        if extra not in EXTRAS:
            raise ValueError(f"unknown extra {extra!r}; known: {', '.join(EXTRAS)}")
        self.extra, self.feature, self.module = extra, feature, module
        super().__init__(
            f"{feature} needs the '{extra}' extra: pip install 'omnisearch[{extra}]' "
            f"(module {module} is missing)",
            name=module,
        )


def installed(module: str) -> bool:
    """Whether `module` can be imported (without importing it; a dotted name imports its parents)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing or blocked
        return False


def missing(extra: str) -> list[str]:
    """The modules of `extra` that are not installed (empty when the extra is complete)."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; known: {', '.join(EXTRAS)}")
    return [m for m in EXTRAS[extra] if not installed(m)]


def require(extra: str, feature: str) -> None:
    """Raise MissingExtra naming `extra` when any of its modules is not installed."""
    absent = missing(extra)
    if absent:
        raise MissingExtra(extra, feature, absent[0])
