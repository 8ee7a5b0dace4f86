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
    run: Callable[..., Any],
    root: Path,
    kill_step: int = 3,
    after_kill: Callable[[Path], None] | None = None,
    one_thread: bool = False,
) -> tuple[Any, Any]:
    """(result of `run(root / "full")`, result of `run(root / "part", resume=True)` after a first
    `run(root / "part", on_log=...)` was killed at `kill_step`). `after_kill(part)` looks at what the
    killed run left (its checkpoints) before the resume. `one_thread`: torch on one thread meanwhile
    (bitwise-equal runs; a module-scope fixture is set up before the one_torch_thread fixture)."""
    if one_thread:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return full_killed_resumed(run, root, kill_step, after_kill)
        finally:
            torch.set_num_threads(threads)
    full = run(root / "full")
    with pytest.raises(Killed):
        run(root / "part", on_log=kill_at(kill_step))
    if after_kill is not None:
        after_kill(root / "part")
    return full, run(root / "part", resume=True)


def assert_resumed_equal(root: Path, full: Any, resumed: Any, files: tuple[str, ...], steps: int) -> None:
    """For the LoRA trainers (`run_loop` results whose module checkpoints only trainable tensors): both
    runs took `steps` steps and end bitwise equal, in memory and in the saved `files` of the model
    folders; the killed run's checkpoint holds the trainable tensors only."""
    import torch
    from safetensors.torch import load_file

    assert full.steps == resumed.steps == steps
    a, b = full.module.state_dict(), resumed.module.state_dict()
    assert set(a) == set(b) and len(a) == len(full.module.trainable)
    assert all(torch.equal(a[k], b[k]) for k in a)
    for name in files:
        x, y = load_file(str(root / "full" / name)), load_file(str(root / "part" / name))
        assert set(x) == set(y) and all(torch.equal(x[k], y[k]) for k in x)
    ckpt = load_file(str(root / "part" / "checkpoints" / "epoch-0001" / "model.safetensors"))
    assert len(ckpt) == len(a)  # no frozen base in checkpoints
