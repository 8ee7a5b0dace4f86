"""`omnisearch train` and `omnisearch ablation` (being written)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the training commands to the app."""
