"""What both LoRA trainers' tests share (omniretriever-7b's `train_lora`, clip-clap's
`train_clip_clap_lora`): synthetic media rows, a few optimiser steps on one batch, and the pair of short
runs (uninterrupted, killed and resumed) that the resume and model-folder tests read.

Example:
    losses = fit_one_batch(task, steps=5)  # task: a LoraTask or ClipClapLoraTask
    assert losses[-1] < losses[0]
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from resume_runs import assert_resumed_equal, full_killed_resumed

from omnisearch.train.media import MediaRow

TRI = ("text", "video", "audio")
RATE = 16000


def synth_row(i: int, mods: tuple[str, ...] = TRI, seconds: float = 1.5) -> MediaRow:
    """Frames: noise with a per-row colour; audio: a per-row tone plus noise; two captions."""
    g = np.random.default_rng(i)
    frames = audio = None
    if "video" in mods:
        frames = np.clip(g.normal(40 * (i % 6), 30, (6, 40, 56, 3)), 0, 255).astype(np.uint8)
    if "audio" in mods:
        t = np.arange(int(seconds * RATE)) / RATE
        audio = (0.4 * np.sin(2 * np.pi * (150 + 90 * i) * t) + 0.05 * g.normal(size=t.size)).astype(
            np.float32
        )
    caps = [f"clip {i} a dog barks", f"the {i}th sound of a busy street"] if "text" in mods else []
    return MediaRow.from_arrays(f"r{i}", caps, frames, audio)


def mixed_rows(n: int = 8) -> list[MediaRow]:
    """Full tuples, every fourth row text + audio only."""
    return [synth_row(i, ("text", "audio") if i % 4 == 0 else TRI) for i in range(n)]


def fit_one_batch(task: Any, steps: int) -> list[float]:
    """The losses of `steps` AdamW steps (lr 3e-3) of `task.module` on one batch of `mixed_rows()`,
    in the module's current mode; every step's loss is finite and has all three terms."""
    import torch

    module = task.module
    batch = task.make_batch(mixed_rows(), np.random.default_rng(0), step=0)
    opt = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for _ in range(steps):
        loss, parts = module(batch, 0)
        assert torch.isfinite(loss) and {"loss_align", "loss_distill", "loss_tuple"} <= set(parts)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def short_runs(train: Callable[..., Any], config: type, base: Any, root: Path) -> tuple[Path, Any, Any]:
    """(root, uninterrupted run, resumed run) of `train(rows, root / name, config(...), base, val=...)`:
    2 epochs of batch 4 on `mixed_rows()` (4 steps); the uninterrupted run ("full") validates too, the
    other ("part") is killed at step 3 (inside epoch 1) and resumed."""
    cfg = config(epochs=2, batch_size=4, lr=2e-3, cpu=True, log_every=1, warmup_steps=1)
    val = [synth_row(i + 20, TRI if i % 3 else ("text", "video")) for i in range(4)]

    def run(out: Path, **kw: Any) -> Any:
        return train(mixed_rows(), out, cfg, base, val=val if out.name == "full" else None, **kw)

    full, resumed = full_killed_resumed(run, root, kill_step=3, one_thread=True)
    return root, full, resumed


def assert_short_runs_equal(runs: tuple[Path, Any, Any], files: tuple[str, ...]) -> None:
    """The resumed run of `short_runs` ends as the uninterrupted one: its 2 epochs, 4 steps and `files`."""
    root, full, resumed = runs
    assert full.epochs == 2
    assert_resumed_equal(root, full, resumed, files, steps=4)
