"""The training loop every trainer shares: accelerate, warmup + cosine LR, logging, checkpoints, resume.

A trainer supplies a factory of its `TrainTask`: the module to optimise (its `forward(batch, step)` returns
`(loss, parts)`), how a list of rows becomes a batch, an optional validation and how the end result is
written. `run_loop(make_task, rows, out, cfg)` does the rest:
- global batches of `batch_size * world` rows, order seeded by (seed, epoch), each process takes its
  slice; the task's batch randomness comes from a Generator seeded by (seed, rank, epoch);
- AdamW over the parameters that require grad, LR warmup then cosine decay to 10 %;
- a log record every `log_every` steps in OUT/log.jsonl (and `on_log`), validation each epoch;
- a checkpoint (model, optimizer, scheduler, RNG states, step) each epoch in OUT/checkpoints/epoch-NNNN,
  the newest `keep_checkpoints` kept; `resume=True` continues from the newest, so a resumed run ends with
  the same weights as an uninterrupted one (accelerate restores torch's RNG; data order is per epoch).

Example:
    >>> WarmupCosine(warmup=2, total=10)(0), WarmupCosine(warmup=2, total=10)(10)
    (0.5, 0.1)
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

CHECKPOINTS = "checkpoints"


@dataclass
class LoopConfig:
    """What the loop itself needs (trainers extend it with their own fields)."""

    epochs: int = 60
    max_steps: int | None = None  # stop after this many steps (the ablation's fixed budget)
    batch_size: int = 16  # per process
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_steps: int = 20
    seed: int = 0
    log_every: int = 10
    cpu: bool = False
    mixed_precision: str = "no"  # accelerate's: "no" | "bf16" | "fp16"
    checkpoint: bool = True  # save a checkpoint each epoch (the ablation turns it off)
    keep_checkpoints: int = 2  # newest checkpoints kept (older ones are deleted)


class TrainTask(Protocol):
    """What a trainer gives `run_loop`."""

    module: nn.Module  # forward(batch, step) -> (loss, {name: tensor})

    def make_batch(self, rows: Sequence[Any], rng: np.random.Generator, step: int) -> Any: ...

    def after_step(self, module: nn.Module) -> None: ...

    def validate(self, module: nn.Module) -> dict[str, Any] | None: ...

    def save(self, out: Path, module: nn.Module, meta: dict[str, Any]) -> None: ...


@dataclass
class LoopResult:
    out: Path
    steps: int
    epochs: int
    samples_per_s: float
    history: list[dict[str, Any]]
    module: nn.Module  # unwrapped


class WarmupCosine:
    """LR factor: linear warmup then cosine decay to 10 % (a callable object, so LambdaLR checkpoints it)."""

    def __init__(self, warmup: int, total: int) -> None:
        self.warmup, self.total = max(0, warmup), max(1, total)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return 0.1 + 0.45 * (1.0 + math.cos(math.pi * progress))


class TrainState:
    """Step / epoch / history, checkpointed with the model (accelerate custom object)."""

    def __init__(self) -> None:
        self.step, self.epoch, self.history = 0, 0, []

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "epoch": self.epoch, "history": json.dumps(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.history = json.loads(state["history"])


@contextmanager
def evaluating(module: nn.Module) -> Iterator[nn.Module]:
    """`module` in eval mode inside the block, back in the mode it had afterwards (validation)."""
    was = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was)


class TrainableOnlyState(nn.Module):
    """A module whose checkpoints hold only its trainable tensors (LoRA, heads), not a frozen base of
    billions of weights. Call `track_trainable()` once the trainable parameters are set."""

    trainable: set[str]

    def track_trainable(self) -> None:
        self.trainable = {n for n, p in self.named_parameters() if p.requires_grad}
        self.register_load_state_dict_post_hook(_only_trainable_missing)

    def state_dict(self, *, destination: Any = None, prefix: str = "", keep_vars: bool = False) -> Any:
        """Only the trainable tensors."""
        full = super().state_dict(prefix=prefix, keep_vars=keep_vars)
        out = destination if destination is not None else OrderedDict()
        out.update((k, v) for k, v in full.items() if k[len(prefix) :] in self.trainable)
        return out


def _only_trainable_missing(module: nn.Module, keys: Any) -> None:
    """Load hook: the frozen base is not in checkpoints, so only trainable tensors count as missing."""
    names = module.trainable
    keys.missing_keys[:] = [k for k in keys.missing_keys if any(k == t or k.endswith("." + t) for t in names)]


def latest_checkpoint(out: str | Path) -> Path | None:
    ckpts = sorted((Path(out) / CHECKPOINTS).glob("epoch-*"))
    return ckpts[-1] if ckpts else None


def epoch_batches(n: int, cfg: LoopConfig, epoch: int, world: int) -> list[np.ndarray]:
    """Global batches of one epoch (drop_last), each of batch_size * world rows.

    >>> [b.tolist() for b in epoch_batches(5, LoopConfig(batch_size=2), 0, 1)]
    [[1, 3], [4, 0]]
    """
    size = min(cfg.batch_size * world, n - n % world)
    perm = np.random.default_rng([cfg.seed, epoch]).permutation(n)
    return [perm[i : i + size] for i in range(0, n - size + 1, size)]


def run_loop(
    make_task: Callable[[int], TrainTask],
    rows: Sequence[Any],
    out: str | Path,
    cfg: LoopConfig,
    resume: bool = False,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    meta: dict[str, Any] | None = None,
) -> LoopResult:
    """Seed, build the task with `make_task(world_size)` (its module's initial weights come from the seed),
    train `task.module` on `rows` with checkpoints and log in `out`, then `task.save(out, module, meta)`
    with meta = {"train": {...cfg, steps, samples_per_s}, "validation": last record} | `meta`."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, set_seed

    out = Path(out)
    _fresh_accelerate_state()
    # partial tuples: a batch without some modality leaves that head / LoRA without gradients, which DDP
    # refuses unless it looks for unused parameters (no effect in a single process)
    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    acc = Accelerator(cpu=cfg.cpu, mixed_precision=cfg.mixed_precision, kwargs_handlers=[ddp])
    set_seed(cfg.seed)
    world, rank = acc.num_processes, acc.process_index
    if len(rows) < 2 * world:
        raise ValueError(f"need at least {2 * world} training tuples, got {len(rows)}")
    task = make_task(world)
    per_epoch = len(epoch_batches(len(rows), cfg, 0, world))
    total = cfg.max_steps or cfg.epochs * per_epoch
    epochs = math.ceil(total / per_epoch)
    params = [p for p in task.module.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, WarmupCosine(cfg.warmup_steps, total))
    module, opt = acc.prepare(task.module, opt)
    state = TrainState()
    acc.register_for_checkpointing(sched, state)
    ckpt = latest_checkpoint(out) if resume else None
    if ckpt is not None:
        acc.load_state(str(ckpt))
        acc.print(f"resumed from {ckpt} at step {state.step}")
    out.mkdir(parents=True, exist_ok=True)

    def log(record: dict[str, Any]) -> None:
        if acc.is_main_process:
            with open(out / "log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            if on_log:
                on_log(record)

    seen, busy = 0, 0.0
    for epoch in range(state.epoch, epochs):
        if state.step >= total:
            break
        module.train()
        rng = np.random.default_rng([cfg.seed, rank, epoch])
        for idx in epoch_batches(len(rows), cfg, epoch, world):
            if state.step >= total:
                break
            t0 = time.perf_counter()
            local = idx[rank * (len(idx) // world) : (rank + 1) * (len(idx) // world)]
            batch = task.make_batch([rows[i] for i in local], rng, state.step)
            with acc.autocast():
                loss, parts = module(batch, state.step)
            acc.backward(loss)
            opt.step()
            sched.step()
            opt.zero_grad()
            task.after_step(acc.unwrap_model(module))
            state.step += 1
            busy += time.perf_counter() - t0
            seen += len(idx)
            if state.step % cfg.log_every == 0 or state.step == total:
                rec = {"step": state.step, "epoch": epoch, "loss": float(loss.detach())}
                rec.update({k: round(float(v), 5) for k, v in parts.items()})
                rec.update(lr=sched.get_last_lr()[0], samples_per_s=round(seen / max(busy, 1e-9), 1))
                log(rec)
        state.epoch = epoch + 1
        if acc.is_main_process:
            metrics = task.validate(acc.unwrap_model(module))
            if metrics is not None:
                state.history.append({"epoch": epoch, "step": state.step, **metrics})
                log({"epoch": epoch, "step": state.step, "val": metrics})
        acc.wait_for_everyone()
        if cfg.checkpoint:
            acc.save_state(str(out / CHECKPOINTS / f"epoch-{epoch:04d}"))
            if acc.is_main_process:
                for old in sorted((out / CHECKPOINTS).glob("epoch-*"))[: -max(1, cfg.keep_checkpoints)]:
                    shutil.rmtree(old, ignore_errors=True)
    unwrapped = acc.unwrap_model(module)
    rate = seen / busy if busy > 0 else 0.0
    if acc.is_main_process:
        info = {**jsonable(_fields(cfg)), "steps": state.step, "samples_per_s": round(rate, 1)}
        full = {"train": info, **({"validation": state.history[-1]} if state.history else {}), **(meta or {})}
        task.save(out, unwrapped, full)
    acc.wait_for_everyone()
    return LoopResult(out, state.step, state.epoch, rate, state.history, unwrapped)


def _fresh_accelerate_state() -> None:
    """Forget the device / precision an earlier run of this process chose (accelerate keeps them in a
    process-wide singleton and refuses other settings). Not under `accelerate launch` / torchrun, where
    the launcher owns the state."""
    import os

    from accelerate.state import AcceleratorState

    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        AcceleratorState._reset_state(reset_partial_state=True)


def _fields(cfg: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(cfg)


def jsonable(x: Any) -> Any:
    """Tuples -> lists, recursively (for json.dumps of dataclass dicts)."""
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    return x
