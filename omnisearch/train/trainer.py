"""Train omni-lite heads on cached frozen features with accelerate (CPU here; `accelerate launch` on GPUs).

Each step: a batch of tuples -> heads -> single embeddings + fused; the augmented view -> fused_aug; the
hard negatives of `hard_negative_kind(step)` -> fused_hardneg (`batches.make_batch`); loss
w_A * L_A + w_D * L_D + w_T * L_T (`MaskedOmniLoss`: `OmniLoss` over the rows that have the modalities a
term needs, identical to `OmniLoss` on complete tuples). Losses are logged every `log_every` steps to
OUT/log.jsonl; each epoch the validation split is scored from its cached features (R@1 per direction and
the averages, heads-only space unless `val_alpha` > 0), a checkpoint (model, optimizer, scheduler, RNG
states, step) goes to OUT/checkpoints/epoch-NNNN (the newest `keep_checkpoints` are kept), and
`resume=True` continues from the newest one. At the end OUT holds a model folder (omnisearch.json +
heads.safetensors) that `load_encoder(OUT)` loads.

Data order and augmentation are seeded per epoch (order: (seed, epoch); augmentation: (seed, rank,
epoch)), and accelerate restores torch's RNG (dropout), so a resumed run ends with the same weights as an
uninterrupted one. Several processes: each takes its slice of every global batch, and the losses gather
embeddings across processes (global negatives).

Example:
    >>> from omnisearch.train.batches import toy_row
    >>> rows = [toy_row(i) for i in range(8)]
    >>> cfg = TrainConfig(epochs=1, batch_size=4, heads=HeadsConfig(dim=16, hidden=32, residual=False))
    >>> result = train(rows, "/tmp/omni-doctest-run", cfg)   # doctest: +SKIP
    >>> result.steps                                          # doctest: +SKIP
    2
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnisearch.models.heads import MODALITIES, HeadsConfig, OmniHeads, save_heads
from omnisearch.train.augment import AugmentConfig
from omnisearch.train.batches import Batch, Row, make_batch
from omnisearch.train.losses import DEFAULT_PAIRS, OmniLoss, fusion_teacher_pair, gather_with_grad

CHECKPOINTS = "checkpoints"


@dataclass
class TrainConfig:
    """Everything a run needs; written into the model folder's omnisearch.json."""

    epochs: int = 60
    max_steps: int | None = None  # stop after this many steps (the ablation's fixed budget)
    batch_size: int = 16  # per process
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_steps: int = 20
    seed: int = 0
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)  # w_A, w_D, w_T
    temperature: float = 0.05
    learnable_temperature: bool = False
    log_every: int = 10
    alpha: float = 0.0  # blend written into the model folder (0: heads only)
    val_alpha: float = 0.0  # space scored by the per-epoch validation
    cpu: bool = False
    checkpoint: bool = True  # save a checkpoint each epoch (the ablation turns it off)
    keep_checkpoints: int = 2  # newest checkpoints kept (older ones are deleted)
    heads: HeadsConfig = field(default_factory=HeadsConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class TrainResult:
    out: Path
    steps: int
    epochs: int
    samples_per_s: float
    history: list[dict[str, Any]]
    heads: OmniHeads


# ---- the loss over rows that have the modalities ------------------------------------------------


def masked_info_nce(
    a: Tensor,
    b: Tensor,
    mask: Tensor,
    scale: Tensor | float,
    symmetric: bool = True,
    distributed: bool = False,
    hard: Tensor | None = None,
    hard_mask: Tensor | None = None,
) -> Tensor | None:
    """`losses.info_nce` restricted to the rows where `mask` holds (queries and candidates alike); the hard
    negatives where `hard_mask` holds are extra columns. None when fewer than 2 rows hold (globally)."""

    def gather(x: Tensor) -> Tensor:
        return gather_with_grad(x) if distributed else x

    rank = torch.distributed.get_rank() if distributed and torch.distributed.is_initialized() else 0
    m_all = gather(mask.float()) > 0.5
    n_valid = int(m_all.sum())
    if n_valid < 2:
        return None
    world = len(m_all) // len(mask)
    extra_mask = gather(hard_mask.float()) > 0.5 if hard is not None and hard_mask is not None else None
    extra = gather(hard) if hard is not None else None
    labels = torch.arange(len(mask), device=a.device) + rank * len(mask)

    def one_side(rows: Tensor, cols: Tensor) -> Tensor:
        col_ok = m_all
        if extra is not None:
            cols = torch.cat([cols, extra])
            col_ok = torch.cat([m_all, extra_mask if extra_mask is not None else torch.ones_like(m_all)])
        logits = (scale * rows @ cols.T).masked_fill(~col_ok, float("-inf"))
        ce = (
            F.cross_entropy(logits[mask], labels[mask], reduction="sum")
            if bool(mask.any())
            else rows.sum() * 0
        )
        return ce * world / n_valid  # DDP averages over processes: the mean over all valid rows

    loss = one_side(a, gather(b))
    return 0.5 * (loss + one_side(b, gather(a))) if symmetric else loss


class MaskedOmniLoss(OmniLoss):
    """`OmniLoss` for batches of partial tuples: forward(outputs, step, masks, hardneg_mask).

    L_A averages the pairs of `DEFAULT_PAIRS` over the rows having both; L_D uses the rows having the
    step's pair; L_T uses every row, with the hard negatives where `hardneg_mask` holds. A term with
    fewer than 2 rows is left out this step. With `masks=None` this is `OmniLoss.forward`.

    Example:
        >>> n = lambda: F.normalize(torch.randn(4, 8), dim=-1)
        >>> out = {k: n() for k in ("text", "video", "audio", "fused", "fused_aug", "fused_hardneg")}
        >>> ones = {m: torch.ones(4, dtype=torch.bool) for m in MODALITIES}
        >>> a, _ = MaskedOmniLoss()(out, 0, ones, torch.ones(4, dtype=torch.bool))
        >>> bool(torch.isclose(a, OmniLoss()(out, 0)[0]))
        True
    """

    def forward(  # type: ignore[override]
        self,
        outputs: Mapping[str, Any],
        step: int,
        masks: Mapping[str, Tensor] | None = None,
        hardneg_mask: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        if masks is None:
            return super().forward(outputs, step)
        kw = self._kw()
        scale = kw["logit_scale"] if kw["logit_scale"] is not None else 1.0 / self.temperature
        nce = dict(scale=scale, symmetric=self.symmetric, distributed=self.distributed)
        parts: dict[str, Tensor] = {}
        terms: list[Tensor] = []
        if self.w_align:
            pair_losses = [
                masked_info_nce(outputs[x], outputs[y], masks[x] & masks[y], **nce) for x, y in DEFAULT_PAIRS
            ]
            done = [v for v in pair_losses if v is not None]
            if done:
                parts["loss_align"] = torch.stack(done).mean()
                terms.append(self.w_align * parts["loss_align"])
        if self.w_distill:
            x, y = fusion_teacher_pair(step)
            anchor = outputs["fused"].detach()
            both = masks[x] & masks[y]
            lx, ly = (masked_info_nce(anchor, outputs[m], both, **nce) for m in (x, y))
            if lx is not None and ly is not None:
                parts["loss_distill"] = 0.5 * (lx + ly)
                terms.append(self.w_distill * parts["loss_distill"])
        if self.w_tuple:
            every = torch.ones_like(masks[MODALITIES[0]])
            fused, aug = outputs["fused"], outputs["fused_aug"]
            lt = masked_info_nce(
                fused, aug, every, hard=outputs["fused_hardneg"], hard_mask=hardneg_mask, **nce
            )
            if lt is not None:
                parts["loss_tuple"] = lt
                terms.append(self.w_tuple * lt)
        total = torch.stack(terms).sum() if terms else outputs["fused"].sum() * 0.0
        out = {k: v.detach() for k, v in parts.items()}
        out["temperature"] = torch.as_tensor(1.0 / float(scale))
        return total, out


class TrainModule(nn.Module):
    """Heads + loss (its temperature may be learnable): what the optimizer updates and checkpoints hold."""

    def __init__(self, heads: OmniHeads, loss: MaskedOmniLoss) -> None:
        super().__init__()
        self.heads, self.loss = heads, loss

    def forward(self, batch: Batch, step: int) -> tuple[Tensor, dict[str, Tensor]]:
        p = next(self.heads.parameters())

        def t(x: Mapping[str, np.ndarray]) -> dict[str, Tensor]:
            return {m: torch.as_tensor(x[m], dtype=p.dtype, device=p.device) for m in MODALITIES}

        masks = {m: torch.as_tensor(batch.masks[m], device=p.device) for m in MODALITIES}
        out: dict[str, Tensor] = self.heads(t(batch.inputs), masks)
        out["fused_aug"] = self.heads(t(batch.aug_inputs), masks)["fused"]
        out["fused_hardneg"] = self.heads.fuse(self.heads.singles(t(batch.hardneg_inputs), masks), masks)
        return self.loss(out, step, masks, torch.as_tensor(batch.hardneg_mask, device=p.device))


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

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.history = json.loads(state["history"])


def latest_checkpoint(out: str | Path) -> Path | None:
    ckpts = sorted((Path(out) / CHECKPOINTS).glob("epoch-*"))
    return ckpts[-1] if ckpts else None


def _batches(n: int, cfg: TrainConfig, epoch: int, world: int) -> list[np.ndarray]:
    """Global batches of one epoch (drop_last), each of batch_size * world rows."""
    size = min(cfg.batch_size * world, n - n % world)
    perm = np.random.default_rng([cfg.seed, epoch]).permutation(n)
    return [perm[i : i + size] for i in range(0, n - size + 1, size)]


def validate(heads: OmniHeads, val: Sequence[Any], alpha: float = 0.0) -> dict[str, Any]:
    """R@1 per direction and the averages of `val` (`ItemFeatures`) in the heads (or blended) space."""
    from omnisearch.models.heads import HeadsBlend
    from omnisearch.models.omni_lite import OmniLite
    from omnisearch.train.features import score_features

    was_training = heads.training
    enc = OmniLite()
    enc.attach_heads(HeadsBlend(heads, alpha))
    try:
        result = score_features(val, enc)
    finally:
        heads.train(was_training)
    avg = result.averages
    return {
        "r1": {name: round(d.r1, 2) for name, d in result.directions.items()},
        "avg_single": avg.avg_single,
        "avg_dual": avg.avg_dual,
        "avg_all": avg.avg_all,
    }


def train(
    rows: Sequence[Row],
    out: str | Path,
    cfg: TrainConfig | None = None,
    val: Sequence[Any] | None = None,
    resume: bool = False,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train heads on `rows` (see `batches.rows_from_features`), checkpoint into `out`, write the model
    folder there and return the result. `val`: `ItemFeatures` scored each epoch. `on_log(record)` sees
    every log record (also appended to out/log.jsonl)."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    cfg = cfg or TrainConfig()
    out = Path(out)
    acc = Accelerator(cpu=cfg.cpu)
    set_seed(cfg.seed)
    world, rank = acc.num_processes, acc.process_index
    if len(rows) < 2 * world:
        raise ValueError(f"need at least {2 * world} training tuples, got {len(rows)}")
    per_epoch = len(_batches(len(rows), cfg, 0, world))
    total = cfg.max_steps or cfg.epochs * per_epoch
    epochs = math.ceil(total / per_epoch)
    w_a, w_d, w_t = cfg.weights
    loss = MaskedOmniLoss(w_a, w_d, w_t, cfg.temperature, cfg.learnable_temperature, distributed=world > 1)
    module = TrainModule(OmniHeads(cfg.heads), loss)
    opt = torch.optim.AdamW(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, WarmupCosine(cfg.warmup_steps, total))
    module, opt = acc.prepare(module, opt)
    state = TrainState()
    acc.register_for_checkpointing(sched, state)
    ckpt = latest_checkpoint(out) if resume else None
    if ckpt is not None:
        acc.load_state(str(ckpt))
        acc.print(f"resumed from {ckpt} at step {state.step}")
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "log.jsonl"

    def log(record: dict[str, Any]) -> None:
        if acc.is_main_process:
            with open(log_path, "a") as f:
                f.write(json.dumps(record) + "\n")
            if on_log:
                on_log(record)

    seen, busy = 0, 0.0
    for epoch in range(state.epoch, epochs):
        if state.step >= total:
            break
        module.train()
        aug_rng = np.random.default_rng([cfg.seed, rank, epoch])
        for idx in _batches(len(rows), cfg, epoch, world):
            if state.step >= total:
                break
            t0 = time.perf_counter()
            local = idx[rank * (len(idx) // world) : (rank + 1) * (len(idx) // world)]
            batch = make_batch([rows[i] for i in local], aug_rng, state.step, cfg.augment)
            total_loss, parts = module(batch, state.step)
            acc.backward(total_loss)
            opt.step()
            sched.step()
            opt.zero_grad()
            unwrapped = acc.unwrap_model(module)
            if unwrapped.loss.logit_scale is not None:
                unwrapped.loss.logit_scale.clamp_()
            state.step += 1
            busy += time.perf_counter() - t0
            seen += len(idx)
            if state.step % cfg.log_every == 0 or state.step == total:
                rec = {"step": state.step, "epoch": epoch, "loss": float(total_loss.detach())}
                rec.update({k: round(float(v), 5) for k, v in parts.items()})
                rec.update(lr=sched.get_last_lr()[0], samples_per_s=round(seen / max(busy, 1e-9), 1))
                log(rec)
        state.epoch = epoch + 1
        heads = acc.unwrap_model(module).heads
        if val is not None and acc.is_main_process:
            metrics = validate(heads, val, cfg.val_alpha)
            state.history.append({"epoch": epoch, "step": state.step, **metrics})
            log({"epoch": epoch, "step": state.step, "val": metrics})
        acc.wait_for_everyone()
        if cfg.checkpoint:
            acc.save_state(str(out / CHECKPOINTS / f"epoch-{epoch:04d}"))
            if acc.is_main_process:
                for old in sorted((out / CHECKPOINTS).glob("epoch-*"))[: -max(1, cfg.keep_checkpoints)]:
                    shutil.rmtree(old, ignore_errors=True)
    heads = acc.unwrap_model(module).heads
    rate = seen / busy if busy > 0 else 0.0
    if acc.is_main_process:
        meta = {"train": {**_jsonable(asdict(cfg)), "steps": state.step, "samples_per_s": round(rate, 1)}}
        if state.history:
            meta["validation"] = state.history[-1]
        save_heads(out, heads, cfg.alpha, name="omni-lite+heads", **meta)
    acc.wait_for_everyone()
    return TrainResult(out, state.step, state.epoch, rate, state.history, heads)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x
