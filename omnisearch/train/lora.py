"""LoRA training of omniretriever-7b (Qwen2.5-Omni thinker + classify_linear head), the paper's objective.

Rows and batches come from `train.media` (`media_rows`: manifest items decoded once and cached;
`make_media_batch`: clean, augmented and hard-negative views); validation scores rows through the
evaluation core (`media.score_media`).
`LoraModule.forward` embeds the single modalities present, the fused, augmented and hard-negative
tuples (`OmniRetriever.embed_tensor`, one pass per modality set) into `OmniLoss`: a missing
modality is a zero row with mask False; a single-modality row's fused vector is that modality's.

LoRA goes on the LANGUAGE MODEL's attention projections only (not the towers); the head trains too
unless `train_head=False`; checkpoints hold only trainable tensors. The model folder (adapter files,
head.safetensors, omnisearch.json {"encoder": "omniretriever-7b", "base": <base folder>, ...}) loads
with `load_encoder(out)`. An adapter folder as model_location is continued (its own rank and targets).

Example:
    >>> rows = media_rows(read_manifest("dev/train.jsonl"), "cache")                # doctest: +SKIP
    >>> cfg = LoraTrainConfig(epochs=1, batch_size=4, mixed_precision="bf16")         # doctest: +SKIP
    >>> result = train_lora(rows, "runs/lora", cfg, "/models/Qwen2.5-Omni-7B-thinker")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import PartialState
from torch import Tensor, nn

from omnisearch.models.base import EncoderOptions
from omnisearch.models.folder import ModelFolderInfo, write_model_info
from omnisearch.models.heads import MODALITIES
from omnisearch.models.omniretriever import HEAD_FILE, OmniRetriever
from omnisearch.train.augment import AugmentConfig
from omnisearch.train.loop import LoopConfig, LoopResult, TrainableOnlyState, jsonable, run_loop
from omnisearch.train.losses import OmniLoss
from omnisearch.train.media import FIELDS, MediaBatch, MediaRow, make_media_batch, validate_rows
from omnisearch.types import EncoderInput, Modality

log = logging.getLogger(__name__)
OUTPUTS = (*MODALITIES, "fused", "fused_aug", "fused_hardneg")


@dataclass
class LoraTrainConfig(LoopConfig):
    """The loop's fields + the objective, LoRA and input settings (written into omnisearch.json)."""

    epochs: int = 1  # the paper trains one epoch
    batch_size: int = 8
    lr: float = 1e-5  # the paper's
    mixed_precision: str = "auto"  # "auto": bf16 on a GPU, "no" on the CPU
    dtype: str = "auto"  # the frozen base's dtype: auto = bfloat16 on a GPU, float32 on the CPU
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)  # w_A, w_D, w_T
    temperature: float = 0.05
    learnable_temperature: bool = False
    rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")  # language-model layers
    train_head: bool = True
    gradient_checkpointing: bool = False
    frames_per_clip: int = 8
    max_audio_s: float | None = 30.0  # clean view: a random window of at most this long (None: all)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


def lora_target(names: Sequence[str]) -> str:
    """peft target regex: those projections of the decoder layers (model.language_model.layers or older
    model.layers), never the audio tower's (it has q/k/v_proj too) nor the vision tower's.

    >>> names = ["model.layers.0.self_attn.q_proj", "model.audio_tower.layers.0.self_attn.q_proj"]
    >>> [bool(__import__("re").fullmatch(lora_target(["q_proj"]), n)) for n in names]
    [True, False]
    """
    return r"(?!.*(audio_tower|visual)).*\blayers\.\d+\.self_attn\.(" + "|".join(names) + ")"


class LoraModule(TrainableOnlyState):
    """peft-wrapped thinker + head + loss; forward(batch, step) -> (loss, parts). `enc` is the encoder
    whose thinker (LoRA injected, unmerged) and head these are: `enc.encode` gives the current vectors."""

    def __init__(self, enc: OmniRetriever, peft_model: nn.Module, loss: OmniLoss) -> None:
        super().__init__()
        self.peft, self.head, self.loss, self.enc = peft_model, enc.head, loss, enc
        self.track_trainable()  # checkpoints hold only LoRA + head, not the frozen base

    def embeddings(self, batch: MediaBatch) -> dict[str, Tensor]:
        """{text, video, audio, fused, fused_aug, fused_hardneg}: (B, dim) each, zero rows where absent."""
        passes: dict[frozenset[Modality], list[tuple[str, int, EncoderInput]]] = {}

        def add(key: str, i: int, inp: EncoderInput) -> None:
            passes.setdefault(frozenset(inp.modalities()), []).append((key, i, inp))

        for i, inp in enumerate(batch.clean):
            mods = inp.modalities()
            for m in mods:
                add(m.value, i, EncoderInput(**{FIELDS[m.value]: getattr(inp, FIELDS[m.value])}))
            if len(mods) > 1:
                add("fused", i, inp)
            add("fused_aug", i, batch.aug[i])
            if (hn := batch.hardneg[i]) is not None:
                add("fused_hardneg", i, hn)
        got: dict[str, dict[int, Tensor]] = {k: {} for k in OUTPUTS}
        for mods, group in passes.items():
            av = {Modality.VIDEO, Modality.AUDIO} <= mods
            for (key, i, _), e in zip(group, self.enc.embed_tensor([g[2] for g in group], av), strict=True):
                got[key][i] = e
        for i, inp in enumerate(batch.clean):  # a single modality's fused vector is its own
            got["fused"].setdefault(i, got[inp.modalities()[0].value][i])
        zero = torch.zeros(self.enc.dim, device=next(iter(got["fused"].values())).device)
        return {k: torch.stack([v.get(i, zero) for i in range(len(batch))]) for k, v in got.items()}

    def forward(self, batch: MediaBatch, step: int) -> tuple[Tensor, dict[str, Tensor]]:
        out = self.embeddings(batch)
        dev = out["fused"].device
        masks = {m: torch.as_tensor(batch.masks[m], device=dev) for m in MODALITIES}
        return self.loss(out, step, masks, torch.as_tensor(batch.hardneg_mask, device=dev))


class LoraTask:
    """The `loop.TrainTask` of LoRA training: load base (+ LoRA), batches, validation, model folder."""

    def __init__(
        self,
        cfg: LoraTrainConfig,
        world: int,
        model_location: str | os.PathLike[str],
        val: Sequence[MediaRow] | None = None,
        device: str | None = None,
    ) -> None:
        from peft import LoraConfig, get_peft_model

        device = device or str(PartialState().device)  # the loop's Accelerator set it up
        opts = EncoderOptions(device=device, dtype=cfg.dtype, batch_size=cfg.batch_size)
        enc = OmniRetriever(opts, path=str(model_location), frames_per_clip=cfg.frames_per_clip,
                            merge_adapter=False).load()  # fmt: skip
        if enc.peft is not None:
            log.warning("continuing the LoRA adapter of %s (its rank and targets)", enc.location)
        conf = LoraConfig(r=cfg.rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                          target_modules=lora_target(cfg.target_modules))  # fmt: skip
        peft_model = enc.peft if enc.peft is not None else get_peft_model(enc.thinker, conf)
        if cfg.train_head:
            enc.head = enc._load_head().to(enc.device)  # fp32 master weights (autocast runs it in bf16)
        enc.head.requires_grad_(cfg.train_head)
        if cfg.gradient_checkpointing:
            kw = {"use_reentrant": False}
            if hasattr(enc.thinker, "activation_checkpointing_enable"):
                enc.thinker.activation_checkpointing_enable(activation_checkpointing_kwargs=kw)
            else:  # transformers < 5.x
                enc.thinker.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kw)
        loss = OmniLoss(*cfg.weights, cfg.temperature, cfg.learnable_temperature, distributed=world > 1)
        self.module = LoraModule(enc, peft_model, loss)
        self.cfg, self.enc, self.val = cfg, enc, val

    def make_batch(self, rows: Sequence[MediaRow], rng: np.random.Generator, step: int) -> MediaBatch:
        return make_media_batch(rows, rng, step, self.cfg.augment, self.cfg.max_audio_s)

    def after_step(self, module: nn.Module) -> None:
        module.loss.clamp_temperature_()

    def validate(self, module: nn.Module) -> dict[str, Any] | None:
        return validate_rows(self.val, module, lambda: module.enc)

    def save(self, out: Path, module: nn.Module, meta: dict[str, Any]) -> None:
        """adapter_config.json + adapter_model.safetensors, head.safetensors, omnisearch.json."""
        from safetensors.torch import save_file

        out = Path(out)
        module.peft.save_pretrained(str(out))
        sd = module.head.state_dict()
        head = {f"classify_linear.{k}": v.float().cpu().contiguous() for k, v in sd.items()}
        save_file(head, str(out / HEAD_FILE))
        base = module.enc.base
        base = str(Path(base).resolve()) if Path(base).is_dir() else base
        info = {"name": "omniretriever-7b+lora", **meta, "encoder": "omniretriever-7b", "base": base}
        write_model_info(out, ModelFolderInfo.from_dict(jsonable(info)))


def train_lora(
    rows: Sequence[MediaRow],
    out: str | os.PathLike[str],
    cfg: LoraTrainConfig | None = None,
    model_location: str | os.PathLike[str] = "",
    val: Sequence[MediaRow] | None = None,
    resume: bool = False,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> LoopResult:
    """Train LoRA (+ head) on `rows` (rows without any modality are dropped), checkpoint into `out`,
    write the model folder there and return the loop's result (`result.module`: the `LoraModule`).
    `model_location`: a thinker folder (or an omniretriever model / adapter folder); `val`: rows scored
    each epoch (R@1 per direction and the averages); `meta` goes into omnisearch.json."""
    cfg = cfg or LoraTrainConfig()
    if cfg.mixed_precision == "auto":  # bf16 when training on a GPU
        cfg = replace(cfg, mixed_precision="bf16" if not cfg.cpu and torch.cuda.is_available() else "no")
    if not model_location:
        raise ValueError("train_lora needs model_location: the base thinker (or adapter) folder")

    def make_task(world: int) -> LoraTask:
        return LoraTask(cfg, world, model_location, val)

    usable = [r for r in rows if r.present]
    return run_loop(make_task, usable, out, cfg, resume, on_log, dict(meta or {}))
