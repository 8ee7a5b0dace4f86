"""omnisearch: any-to-any audio / video / text retrieval (OmniRetriever method).

Importing this package is cheap: it only sets thread defaults. Heavy libraries load lazily.

Example:
    >>> import omnisearch
    >>> idx = omnisearch.open("~/.omnisearch/db")          # doctest: +SKIP
    >>> idx.search("someone flips a pancake", k=5)[0].file  # doctest: +SKIP
    '/home/me/Videos/kitchen.mp4'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omnisearch.config import set_thread_env

if TYPE_CHECKING:
    import os

    from omnisearch.api import Index

set_thread_env()

__version__ = "0.1.0"


def open(db: str | os.PathLike[str], **options: Any) -> Index:  # noqa: A001 - the API's entry point
    """Open the index at `db` (see omnisearch.api.open and OpenOptions for the options)."""
    from omnisearch.api import open as open_index

    return open_index(db, **options)
