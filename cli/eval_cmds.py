"""`omnisearch eval` and `omnisearch convert` (being written)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the evaluation commands to the app."""
