"""clip-clap joint mode: LoRA on the CLIP and CLAP towers trained together with heads + fusion.

The heads-only mode (omnisearch.train.trainer) learns `OmniHeads` over CACHED frozen CLIP / CLAP
features. Here the towers carry peft LoRA adapters on their attention projections (CLIP text + vision:
q/k/v/out_proj; CLAP text + HTSAT audio: query/key/value + attention.output.dense) and every step runs
them with gradients over decoded media (`media.media_rows`; batches from `media.make_media_batch`: clean,
augmented and hard-negative views). Per view the tower outputs become the head inputs exactly as
`ClipClapLayout.modality_input` builds them from `ClipClap.features` (`text_block`, `layout_input`:
text [sqrt(.5) unit(CLIP) | sqrt(.5) unit(CLAP)], video [pooled unit CLIP frames | 0], audio
[0 | pooled unit CLAP windows]), then heads -> text/video/audio/fused, fused_aug, fused_hardneg ->
`OmniLoss` (the same objective and masks as the heads-only mode). With `augment.drop_modality`
the augmented view of a 2+ modality tuple loses one modality (as `batches.make_batch`'s aug_masks).

The towers stay in eval mode while training (CLAP's BatchNorm and the towers' dropout as at inference;
only LoRA's dropout and the heads follow train/eval), their base weights are frozen, and checkpoints
hold only the trainable tensors (LoRA + heads + a learnable temperature). The run folder is a model
folder: omnisearch.json {"encoder": "clip-clap", "clip", "clap", "clip_adapter": "clip_lora",
"clap_adapter": "clap_lora", "heads", "layout", "alpha", ...}, heads.safetensors and the two peft
adapter folders; `load_encoder(out)` merges the adapters into its towers and attaches the heads.

Example:
    >>> rows = media_rows(read_manifest("dev/train.jsonl"), "cache")                 # doctest: +SKIP
    >>> cfg = ClipClapLoraConfig(epochs=5, batch_size=16, alpha=0.5)                  # doctest: +SKIP
    >>> result = train_clip_clap_lora(rows, "runs/cc-lora", cfg, "/models/clip-clap")  # doctest: +SKIP
    >>> load_encoder("runs/cc-lora").name                                             # doctest: +SKIP
    'clip-clap+lora'
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnisearch.models.base import EncoderOptions
from omnisearch.models.clip_clap import IMAGE_CHUNK, TEXT_CLIP_SHARE, ClipClap
from omnisearch.models.feature_layout import ClipClapLayout
from omnisearch.models.heads import MODALITIES, HeadsBlend, HeadsConfig, OmniHeads, save_heads
from omnisearch.train.batches import drop_modalities
from omnisearch.train.loop import LoopResult, TrainableOnlyState, run_loop
from omnisearch.train.losses import OmniLoss
from omnisearch.train.media import FIELDS, MediaBatch, MediaRow, make_media_batch, validate_rows
from omnisearch.train.trainer import TrainConfig
from omnisearch.types import EncoderInput

log = logging.getLogger(__name__)
ADAPTERS = {"clip": "clip_lora", "clap": "clap_lora"}  # adapter subfolders of the model folder


@dataclass
class ClipClapLoraConfig(TrainConfig):
    """`TrainConfig` (loop, objective, heads, alpha, augment) + LoRA and input settings.
    `heads=None`: `HeadsConfig.for_layout` of the towers' layout."""

    epochs: int = 10
    heads: HeadsConfig | None = None  # type: ignore[assignment]
    mixed_precision: str = "auto"  # "auto": bf16 on a GPU, "no" on the CPU
    rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    clip_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "out_proj")  # CLIP text + vision
    clap_targets: tuple[str, ...] = ("query", "key", "value", "attention.output.dense")  # CLAP text + HTSAT
    max_audio_s: float | None = 10.0  # clean view: a random window of at most this long (CLAP's window)


# ---- the torch twin of ClipClapLayout ------------------------------------------------------------
def text_block(clip: Tensor, clap: Tensor, share: float = TEXT_CLIP_SHARE) -> Tensor:
    """(B, clip_dim + clap_dim) text vectors from raw CLIP / CLAP text embeddings, as `ClipClap.features`
    builds text_sem: each block unit-normalised, scaled by sqrt(share) / sqrt(1 - share), re-normalised."""
    v = torch.cat(
        [F.normalize(clip, dim=-1) * share**0.5, F.normalize(clap, dim=-1) * (1 - share) ** 0.5], -1
    )
    return F.normalize(v, dim=-1)


def layout_input(layout: ClipClapLayout, modality: str, feat: Tensor) -> Tensor:
    """Torch `ClipClapLayout.modality_input`: text -> `feat` (the text block vector) unchanged; video /
    audio -> `feat` = per-frame / per-window rows (N, d), L2-normalised mean, in the modality's block."""
    if modality == "text":
        return feat
    pooled = F.normalize(feat.mean(0), dim=-1) if len(feat) else feat.new_zeros(feat.shape[-1])
    zeros = pooled.new_zeros(layout.clap_dim if modality == "video" else layout.clip_dim)
    return torch.cat([pooled, zeros] if modality == "video" else [zeros, pooled])


def _has(item: EncoderInput, modality: str) -> bool:
    """`EncoderInput.modalities()` for one modality."""
    x = getattr(item, FIELDS[modality])
    return bool(x and x.strip()) if modality == "text" else x is not None and len(x) > 0


# ---- the module ----------------------------------------------------------------------------------
class ClipClapLoraModule(TrainableOnlyState):
    """peft-wrapped CLIP + CLAP, heads and loss; forward(batch, step) -> (loss, parts). `enc` is the
    `ClipClap` whose towers (LoRA injected in place, unmerged) these are."""

    def __init__(self, enc: ClipClap, clip: nn.Module, clap: nn.Module, heads: OmniHeads, loss: nn.Module):
        super().__init__()
        self.clip, self.clap, self.heads, self.loss, self.enc = clip, clap, heads, loss, enc
        self.layout = enc.feature_layout
        self.track_trainable()  # checkpoints hold only LoRA + heads, not the frozen towers

    def train(self, mode: bool = True) -> ClipClapLoraModule:
        """Heads and LoRA dropout follow `mode`; the towers themselves stay in eval mode."""
        super().train(mode)
        for tower in (self.clip, self.clap):
            tower.eval()
            for name, m in tower.named_modules():
                if name.rsplit(".", 1)[-1] == "lora_dropout":
                    m.train(mode)
        return self

    def _frame_rows(self, clips: list[np.ndarray]) -> list[Tensor]:
        model = self.enc.clip[0]
        frames = [f for clip in clips for f in np.asarray(clip, dtype=np.uint8)]
        starts = range(0, len(frames), IMAGE_CHUNK)
        chunks = [self.enc.image_tensor(model, frames[s : s + IMAGE_CHUNK]) for s in starts]
        return list(torch.split(F.normalize(torch.cat(chunks).float(), dim=-1), [len(c) for c in clips]))

    def _window_rows(self, waves: list[np.ndarray]) -> list[Tensor]:
        kwargs, counts = self.enc.audio_inputs(waves)
        emb = self.enc.audio_tensor(self.enc.clap[0], kwargs).float()
        return list(torch.split(F.normalize(emb, dim=-1), counts))

    def head_inputs(self, items: Sequence[EncoderInput]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Head inputs {modality: (N, base_dim)} (zero rows where absent) and masks {modality: (N,)} of
        `items`, computed by the towers in the caller's autograd mode. Each distinct text / frames /
        audio array (by identity) goes through its tower once."""
        n, enc = len(items), self.enc
        got: dict[str, dict[int, Tensor]] = {m: {} for m in MODALITIES}
        texts = list(dict.fromkeys(it.text.strip() for it in items if _has(it, "text")))
        if texts:
            (cm, ct, _), (am, at, _) = enc.clip, enc.clap
            block = text_block(enc.text_tensor(cm, ct, texts).float(), enc.text_tensor(am, at, texts).float())
            pos = {t: j for j, t in enumerate(texts)}
            got["text"] = {i: block[pos[it.text.strip()]] for i, it in enumerate(items) if _has(it, "text")}
        for m, rows_of in (("video", self._frame_rows), ("audio", self._window_rows)):
            uniq = {id(x): x for it in items if _has(it, m) for x in [getattr(it, FIELDS[m])]}
            if uniq:
                rows = rows_of(list(uniq.values()))
                pooled = {k: layout_input(self.layout, m, r) for k, r in zip(uniq, rows, strict=True)}
                got[m] = {i: pooled[id(getattr(it, FIELDS[m]))] for i, it in enumerate(items) if _has(it, m)}
        dev = self.heads.fusion.modality_embedding.device
        zero = torch.zeros(self.layout.base_dim, device=dev)
        inputs = {m: torch.stack([got[m].get(i, zero) for i in range(n)]) for m in MODALITIES}
        masks = {m: torch.tensor([i in got[m] for i in range(n)], device=dev) for m in MODALITIES}
        return inputs, masks

    def embed(self, items: Sequence[EncoderInput]) -> dict[str, Tensor]:
        """{text, video, audio, fused}: (N, dim) head vectors of `items` (what the heads-only space of
        the saved model folder gives; call under no_grad / eval for inference)."""
        return self.heads(*self.head_inputs(items))

    def outputs(self, batch: MediaBatch) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """({text, video, audio, fused, fused_aug, fused_hardneg}, clean masks): one tower pass per
        distinct input, one heads pass over the three views."""
        n = len(batch)
        hardneg = [hn if hn is not None else c for hn, c in zip(batch.hardneg, batch.clean, strict=True)]
        out = self.embed([*batch.clean, *batch.aug, *hardneg])
        res = {m: out[m][:n] for m in (*MODALITIES, "fused")}
        res["fused_aug"], res["fused_hardneg"] = out["fused"][n : 2 * n], out["fused"][2 * n :]
        masks = {
            m: torch.tensor([_has(c, m) for c in batch.clean], device=res["fused"].device) for m in MODALITIES
        }
        return res, masks

    def forward(self, batch: MediaBatch, step: int) -> tuple[Tensor, dict[str, Tensor]]:
        out, masks = self.outputs(batch)
        return self.loss(out, step, masks, torch.as_tensor(batch.hardneg_mask, device=out["fused"].device))


# ---- the task ------------------------------------------------------------------------------------
def _source_towers(source: str | os.PathLike[str] | ClipClap) -> tuple[str, str]:
    """(CLIP folder, CLAP folder) of a clip-clap encoder / model folder / "clip-clap" (environment)."""
    if not isinstance(source, ClipClap):
        source = ClipClap(path=None if str(source) == "clip-clap" else str(source))
    if source.adapters:
        raise ValueError(
            "continuing a clip-clap LoRA folder is not supported: train from the plain clip-clap folder"
        )
    if source._heads is not None:
        log.warning("the heads of %s are not continued: new heads are trained", source.weights_from)
    return str(Path(source.clip_path).resolve()), str(Path(source.clap_path).resolve())


class ClipClapLoraTask:
    """The `loop.TrainTask` of the joint mode: towers + LoRA + heads, batches, validation, model folder."""

    def __init__(
        self,
        cfg: ClipClapLoraConfig,
        world: int,
        source: str | os.PathLike[str] | ClipClap,
        val: Sequence[MediaRow] | None = None,
        device: str | None = None,
    ) -> None:
        from accelerate import PartialState
        from peft import LoraConfig, get_peft_model

        device = device or str(PartialState().device)  # the loop's Accelerator set it up
        self.clip_path, self.clap_path = _source_towers(source)
        opts = EncoderOptions(device=device, dtype="float32", batch_size=cfg.batch_size)  # fp32 masters
        enc = ClipClap.from_folders(self.clip_path, self.clap_path, opts)
        heads_cfg = cfg.heads or HeadsConfig.for_layout(enc.feature_layout)
        if dict(heads_cfg.input_dims) != dict(enc.feature_layout.input_dims):
            raise ValueError(f"heads input sizes {heads_cfg.input_dims} do not match clip-clap's towers")
        kw = dict(r=cfg.rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout)
        clip = get_peft_model(enc.clip[0], LoraConfig(target_modules=list(cfg.clip_targets), **kw))
        clap = get_peft_model(enc.clap[0], LoraConfig(target_modules=list(cfg.clap_targets), **kw))
        w_a, w_d, w_t = cfg.weights
        loss = OmniLoss(w_a, w_d, w_t, cfg.temperature, cfg.learnable_temperature, distributed=world > 1)
        self.module = ClipClapLoraModule(enc, clip, clap, OmniHeads(heads_cfg).to(device), loss).train()
        self.cfg, self.val = cfg, val

    def make_batch(self, rows: Sequence[MediaRow], rng: np.random.Generator, step: int) -> MediaBatch:
        batch = make_media_batch(rows, rng, step, self.cfg.augment, self.cfg.max_audio_s)
        if self.cfg.augment.drop_modality > 0:  # L_T's view of a 2+ modality tuple may lose one
            have = {m: np.array([_has(a, m) for a in batch.aug]) for m in MODALITIES}
            dummy = {m: np.zeros((len(batch), 1), np.float32) for m in MODALITIES}
            keep = drop_modalities(dummy, have, self.cfg.augment.drop_modality, rng)
            kept = [[m for m in MODALITIES if keep[m][i]] for i in range(len(batch))]
            batch.aug = [
                EncoderInput(**{FIELDS[m]: getattr(a, FIELDS[m]) for m in ms})
                for a, ms in zip(batch.aug, kept, strict=True)
            ]
        return batch

    def after_step(self, module: nn.Module) -> None:
        module.loss.clamp_temperature_()

    def validate(self, module: nn.Module) -> dict[str, Any] | None:
        """R@1 of `val` in the heads (or `val_alpha` blended) space of the current towers + heads."""

        def encoder() -> ClipClap:
            enc = module.enc.plain_copy()  # shares the LoRA-injected towers
            enc.attach_heads(
                HeadsBlend(module.heads, self.cfg.val_alpha, "clip-clap+lora", layout=module.layout)
            )
            return enc

        return validate_rows(self.val, module, encoder)

    def save(self, out: Path, module: nn.Module, meta: dict[str, Any]) -> None:
        """clip_lora/ + clap_lora/ (peft adapters), heads.safetensors, omnisearch.json."""
        import json

        out = Path(out)
        bases = {"clip": self.clip_path, "clap": self.clap_path}
        for key, sub in ADAPTERS.items():
            getattr(module, key).save_pretrained(str(out / sub))
            conf_file = out / sub / "adapter_config.json"
            conf = json.loads(conf_file.read_text())
            conf["base_model_name_or_path"] = bases[key]
            conf_file.write_text(json.dumps(conf, indent=2))
        links = {**bases, **{f"{k}_adapter": v for k, v in ADAPTERS.items()}}
        info = {"name": "clip-clap+lora", **meta, **links}  # meta may rename, never relink
        for key in ("encoder", "alpha", "dtype", "stem", "layout"):  # save_heads' own arguments
            info.pop(key, None)
        save_heads(out, module.heads, self.cfg.alpha, encoder="clip-clap", layout=module.layout, **info)


def train_clip_clap_lora(
    rows: Sequence[MediaRow],
    out: str | os.PathLike[str],
    cfg: ClipClapLoraConfig | None = None,
    clip_clap: str | os.PathLike[str] | ClipClap = "clip-clap",
    val: Sequence[MediaRow] | None = None,
    resume: bool = False,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> LoopResult:
    """Train LoRA on both towers + heads + fusion on `rows` (`media.media_rows`; rows without any
    modality are dropped), checkpoint into `out`, write the model folder there and return the loop's
    result (`result.module`: the `ClipClapLoraModule`). `clip_clap`: a clip-clap model folder (or a
    `ClipClap` encoder, or "clip-clap": OMNISEARCH_CLIP / OMNISEARCH_CLAP); `val`: rows scored each
    epoch (R@1 per direction and the averages); `meta` goes into omnisearch.json."""
    cfg = cfg or ClipClapLoraConfig()
    if cfg.mixed_precision == "auto":  # bf16 autocast when training on a GPU (fp32 master weights)
        cfg = replace(cfg, mixed_precision="bf16" if not cfg.cpu and torch.cuda.is_available() else "no")
    towers = ClipClap.from_folders(*_source_towers(clip_clap))  # plain: no heads, no adapters
    if cfg.heads is None:  # resolved here so omnisearch.json's "train" records the sizes
        cfg = replace(cfg, heads=HeadsConfig.for_layout(towers.feature_layout))

    def make_task(world: int) -> ClipClapLoraTask:
        return ClipClapLoraTask(cfg, world, towers, val)

    usable = [r for r in rows if r.present]
    return run_loop(make_task, usable, out, cfg, resume, on_log, dict(meta or {}))
