"""LoRA training of omniretriever-7b (Qwen2.5-Omni thinker + classify_linear head), the paper's objective.

Rows (`media_rows`): manifest items decoded ONCE (frames uint8 (N, H, W, 3), 16 kHz audio) into an npz
per item under cache_dir/omniretriever-media-v1/, keyed like `FeatureCache.media_key` (content hashes,
start/end, decode settings), read back lazily each step. A batch (`make_media_batch`): clean view (one
caption drawn at random, frames, audio cut to `max_audio_s`), augmented view for L_T (`augment_video`,
`augment_audio`, `augment_caption`), hard negatives of `hard_negative_kind(step)` by
`batches.hard_negatives` run on row indices (so partial tuples follow exactly its fallback rules).
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

import json
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

from omnisearch.config import DecodeConfig
from omnisearch.eval.manifest import ManifestItem, item_modalities
from omnisearch.models.base import EncoderOptions
from omnisearch.models.heads import MODALITIES
from omnisearch.models.omniretriever import HEAD_FILE, OmniRetriever
from omnisearch.train.augment import AugmentConfig, augment_audio, augment_caption, augment_video
from omnisearch.train.batches import hard_negatives
from omnisearch.train.features import FeatureCache
from omnisearch.train.loop import LoopConfig, LoopResult, TrainableOnlyState, evaluating, jsonable, run_loop
from omnisearch.train.losses import OmniLoss
from omnisearch.types import EncoderInput, Modality

log = logging.getLogger(__name__)
MEDIA_KEY = "omniretriever-media-v1"
LETTERS = {"video": "v", "audio": "a"}
FIELDS = {"text": "text", "video": "frames", "audio": "audio"}
OUTPUTS = (*MODALITIES, "fused", "fused_aug", "fused_hardneg")
Arr = np.ndarray | None


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


@dataclass
class MediaRow:
    """One manifest item: its captions, the media decoded (npz at `path`, or `data` in memory) and the
    manifest's modalities (what validation scores; media that failed to decode count as misses)."""

    item: ManifestItem
    modalities: frozenset[Modality]
    have: tuple[str, ...] = ()  # decoded media letters ("a", "v")
    path: Path | None = None
    data: dict[str, np.ndarray] | None = None
    failed: str = ""

    @classmethod
    def from_arrays(cls, id: str, texts: Sequence[str], frames: Arr = None, audio: Arr = None) -> MediaRow:
        """An in-memory row (tests, synthetic benchmarks)."""
        data = {k: v for k, v in (("v", frames), ("a", audio)) if v is not None}
        mods = {Modality.TEXT} if texts else set()
        mods |= {m for k, m in (("v", Modality.VIDEO), ("a", Modality.AUDIO)) if k in data}
        return cls(ManifestItem(id, texts=list(texts)), frozenset(mods), tuple(sorted(data)), data=data)

    @property
    def captions(self) -> list[str]:
        return self.item.texts

    @property
    def present(self) -> tuple[str, ...]:
        """The modalities available for training, in `MODALITIES` order."""
        ok = {"text": bool(self.captions), **{m: k in self.have for m, k in LETTERS.items()}}
        return tuple(m for m in MODALITIES if ok[m])

    def media(self) -> dict[str, np.ndarray]:
        """{"v": frames, "a": audio} (read from the npz each call: rows stay small in memory)."""
        if self.data is not None or self.path is None:
            return self.data or {}
        with np.load(self.path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}


def media_rows(
    items: Sequence[ManifestItem],
    cache_dir: str | os.PathLike[str],
    decode_cfg: DecodeConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[MediaRow]:
    """A `MediaRow` per item; media decoded once (`evaluator.decode_item`) and cached as npz, so a
    second call decodes nothing. Items whose decode had problems are kept in memory, not cached."""
    from omnisearch.eval.evaluator import decode_item

    cfg = decode_cfg or DecodeConfig()
    cache = FeatureCache(cache_dir, MEDIA_KEY)
    rows: list[MediaRow] = []
    for item, mods in zip(items, item_modalities(items), strict=True):
        need = {k for m, k in (("video", "v"), ("audio", "a")) if Modality(m) in mods}
        key = cache.media_key(item, need, cfg) if need else None
        path = cache.root / key[:2] / f"{key}.npz" if key else None
        if path is not None and path.is_file():
            with np.load(path, allow_pickle=False) as z:
                rows.append(MediaRow(item, mods, tuple(sorted(z.files)), path=path))
        else:
            media, problems = decode_item(item, need, cfg) if need else ({}, [])
            if path is not None and not problems:  # written whole, then renamed: never half a file
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path.with_suffix(".tmp"), "wb") as f:
                    np.savez(f, **media)
                os.replace(path.with_suffix(".tmp"), path)
            keep = {"path": path} if path is not None and not problems else {"data": media}
            rows.append(MediaRow(item, mods, tuple(sorted(media)), failed="; ".join(problems), **keep))
        if progress:
            progress(1)
    return rows


@dataclass
class MediaBatch:
    """The three views as `EncoderInput`s (hardneg None where a row has none) and the masks."""

    clean: list[EncoderInput]
    aug: list[EncoderInput]
    hardneg: list[EncoderInput | None]
    masks: dict[str, np.ndarray]
    hardneg_mask: np.ndarray
    hardneg_kinds: list[str]

    def __len__(self) -> int:
        return len(self.clean)


def make_media_batch(
    rows: Sequence[MediaRow],
    rng: np.random.Generator,
    step: int,
    augment: AugmentConfig | None = None,
    max_audio_s: float | None = None,
) -> MediaBatch:
    """Clean, augmented and hard-negative views of `rows`; all randomness from `rng` (see module doc)."""
    cfg = augment or AugmentConfig()
    n = len(rows)
    masks = {m: np.zeros(n, bool) for m in MODALITIES}
    clean, aug = [], []
    for i, row in enumerate(rows):
        present, media = row.present, row.media()
        for m in present:
            masks[m][i] = True
        text = row.captions[int(rng.integers(len(row.captions)))] if "text" in present else None
        frames = media["v"] if "video" in present else None
        audio = media["a"] if "audio" in present else None
        if audio is not None and max_audio_s and len(audio) > (cap := int(max_audio_s * 16000)):
            start = int(rng.integers(0, len(audio) - cap + 1))
            audio = audio[start : start + cap]
        clean.append(EncoderInput(text=text, frames=frames, audio=audio))
        a_text = augment_caption(row.captions, rng, cfg.word_dropout) if text is not None else None
        a_frames = augment_video(frames, rng, cfg) if frames is not None else None
        a_audio = augment_audio(audio, rng, cfg) if audio is not None else None
        aug.append(EncoderInput(a_text, a_frames, a_audio))
    index = {m: np.arange(n) for m in MODALITIES}  # hard negatives on row indices: the same fallback rules
    src, hn_mask, kinds = hard_negatives(index, masks, step, rng)
    hardneg: list[EncoderInput | None] = [None] * n
    for i in np.flatnonzero(hn_mask):  # row i with the modalities of rows src[m][i]
        hardneg[i] = EncoderInput(**{FIELDS[m]: getattr(clean[src[m][i]], FIELDS[m]) for m in MODALITIES})
    return MediaBatch(clean, aug, hardneg, masks, hn_mask, kinds)


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


def score_media(rows: Sequence[MediaRow], encoder: Any, directions: Sequence[str] | None = None) -> Any:
    """`EvalResult` of the 12 directions (R@1 ...) over rows of decoded media, as `evaluate` scores a
    manifest but without decoding (media that failed score as misses)."""
    from omnisearch.eval.directions import SIDES, plan, vector_modality
    from omnisearch.eval.metrics import score_all

    items, mods = [r.item for r in rows], [r.modalities for r in rows]
    units = plan(items, mods, directions)
    by_item: dict[int, list[tuple[str, Any]]] = {}
    for side, us in units.items():
        for u in us:
            by_item.setdefault(u.item_index, []).append((side, u))
    vectors: dict[str, dict[Any, np.ndarray]] = {side: {} for side in units}
    pending: list[tuple[str, Any, EncoderInput]] = []

    def flush() -> None:
        for (side, key, _), emb in zip(pending, encoder.encode([p[2] for p in pending]), strict=True):
            vectors[side][key] = emb.vectors[vector_modality(SIDES[side])]
        pending.clear()

    for i in sorted(by_item):
        media = rows[i].media() if any(set(s) & {"v", "a"} for s, _ in by_item[i]) else {}
        for side, u in by_item[i]:
            if all(k in media for k in side if k in "va"):
                frames_audio = [media.get(k) if k in side else None for k in "va"]
                pending.append((side, u.key, EncoderInput(u.text if "t" in side else None, *frames_audio)))
        if len(pending) >= encoder.options.batch_size:
            flush()
    flush()
    nan = np.full(encoder.dim, np.nan, np.float32)
    filled = {side: {u.key: vectors[side].get(u.key, nan) for u in us} for side, us in units.items()}
    return score_all(items, filled, mods, model=encoder.name, directions=directions, on_missing="miss")


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
        if not self.val:
            return None
        with evaluating(module):
            return score_media(self.val, module.enc).r1_summary()

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
        (out / "omnisearch.json").write_text(json.dumps(jsonable(info), indent=2))


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
