"""The resume check every trainer's tests run: an uninterrupted run, a run killed mid-training, resumed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


class Killed(Exception):
    """Raised from the log callback: the run dies as a killed process would, between two steps."""


def kill_at(step: int) -> Callable[[dict], None]:
    """A log callback that kills the run when step `step` is logged."""

    def kill(rec: dict) -> None:
        if rec.get("step") == step and "loss" in rec:
            raise Killed

    return kill


def full_killed_resumed(
    run: Callable[..., Any], root: Path, kill_step: int = 3, after_kill: Callable[[Path], None] | None = None
) -> tuple[Any, Any]:
    """(result of `run(root / "full")`, result of `run(root / "part", resume=True)` after a first
    `run(root / "part", on_log=...)` was killed at `kill_step`). `after_kill(part)` looks at what the
    killed run left (its checkpoints) before the resume."""
    full = run(root / "full")
    with pytest.raises(Killed):
        run(root / "part", on_log=kill_at(kill_step))
    if after_kill is not None:
        after_kill(root / "part")
    return full, run(root / "part", resume=True)
