"""Which training task a model gets, its inputs and its run: the library side of `omnisearch train`
and `omnisearch ablation` (the CLI only parses options, shows progress and prints).

The task follows from what the encoder declares (`models.base.HeadsHost`, `models.capabilities`):
- "heads": projection heads + fusion over cached frozen features (omni-lite, clip-clap; `trainer.train`);
- "lora": LoRA + head over decoded media (`LoraTrainable`: omniretriever-7b; `lora.train_lora`);
- "tower-lora": LoRA on both towers + heads over decoded media (`TowerLoraTrainable` with `lora=True`:
  clip-clap --lora; `clip_clap_lora.train_clip_clap_lora`).
Every failure a user can cause (unknown model, a model that cannot train that way, a bad manifest, a
bad config) raises `TrainError` with a message to show as is.

Example:
    >>> from omnisearch.models import load_encoder
    >>> choose_task(load_encoder("omni-lite"))
    'heads'
    >>> try:
    ...     choose_task(load_encoder("omni-lite"), lora=True)
    ... except TrainError as e:
    ...     print(str(e)[:25])
    --lora is for clip-clap (
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omnisearch.eval.manifest import ManifestItem
from omnisearch.models.base import HeadsHost
from omnisearch.models.capabilities import LoraTrainable, TowerLoraTrainable

TASKS = ("heads", "lora", "tower-lora")
TRAINABLE = "omni-lite, clip-clap, omniretriever-7b"
NO_TOWER_LORA = "--lora is for clip-clap (omniretriever-7b always trains LoRA; omni-lite has none)"


class TrainError(ValueError):
    """A model that cannot be trained that way, an unreadable manifest or a config training refuses."""


def default_feature_cache() -> Path:
    """$OMNISEARCH_CACHE/features, else ~/.cache/omnisearch/features."""
    env = os.environ.get("OMNISEARCH_CACHE")
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "omnisearch") / "features"


def load_trainable(model: str, device: str = "auto", heads_only: bool = False) -> Any:
    """The encoder `model` names (registry name or model folder), checked to be trainable: a heads
    host, or (unless `heads_only`, as the ablation needs) a LoRA-trainable model."""
    from omnisearch.models import EncoderOptions, load_encoder

    try:
        encoder = load_encoder(model, EncoderOptions(device=device))
    except (ValueError, RuntimeError) as e:
        raise TrainError(str(e)) from e
    if not heads_only and isinstance(encoder, LoraTrainable):
        return encoder
    if not isinstance(encoder, HeadsHost):
        what = "heads (ablation); train omniretriever-7b with `train`" if heads_only else "heads or LoRA"
        raise TrainError(f"model {model!r} cannot be trained here: {what} ({TRAINABLE})")
    return encoder


def choose_task(encoder: Any, lora: bool = False) -> str:
    """The task of `encoder` (see the module doc); `lora`: also LoRA on a heads host's towers."""
    if isinstance(encoder, LoraTrainable):
        return "lora"
    if lora:
        if not isinstance(encoder, TowerLoraTrainable):
            raise TrainError(NO_TOWER_LORA)
        return "tower-lora"
    if not isinstance(encoder, HeadsHost):
        raise TrainError(f"a {type(encoder).__name__} cannot be trained ({TRAINABLE})")
    return "heads"


def read_items(manifest: str | os.PathLike[str]) -> list[ManifestItem]:
    """The items of a training / validation manifest (TrainError when it cannot be read)."""
    from omnisearch.eval.manifest import ManifestError, read_manifest

    try:
        return read_manifest(manifest)
    except (ManifestError, OSError) as e:
        raise TrainError(str(e)) from e


def task_rows(
    task: str,
    items: Sequence[ManifestItem],
    encoder: Any,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Any]:
    """What `task` trains and validates on: frozen features ("heads", `features.extract_features`) or
    decoded media rows (`media.media_rows`), each cached under `cache_dir` (default
    `default_feature_cache()`). An item whose media failed has `.failed` set (it scores as a miss)."""
    cache = Path(cache_dir) if cache_dir is not None else default_feature_cache()
    if task == "heads":
        from omnisearch.train.features import extract_features

        return extract_features(items, encoder, cache, progress=progress)
    from omnisearch.train.media import media_rows

    return media_rows(items, cache, progress=progress)


@dataclass
class TrainOptions:
    """The options of `omnisearch train`; `loop` overrides the task config's own defaults (epochs,
    max_steps, batch_size, lr, seed, weights, temperature, cpu: unset ones keep the task's)."""

    loop: dict[str, Any] = field(default_factory=dict)
    alpha: float = 0.5  # heads: blend written into the model folder
    lora_rank: int = 8
    gradient_checkpointing: bool = False


def task_config(task: str, encoder: Any, opts: TrainOptions) -> Any:
    """The trainer config of `task` from the options (TrainConfig, LoraTrainConfig, ClipClapLoraConfig)."""
    if task == "lora":
        from omnisearch.train.lora import LoraTrainConfig

        checkpointing = opts.gradient_checkpointing
        return LoraTrainConfig(rank=opts.lora_rank, gradient_checkpointing=checkpointing, **opts.loop)
    if task == "tower-lora":
        from omnisearch.train.clip_clap_lora import ClipClapLoraConfig

        return ClipClapLoraConfig(alpha=opts.alpha, rank=opts.lora_rank, **opts.loop)
    from omnisearch.train.trainer import TrainConfig

    heads_cfg, _ = encoder.heads_setup()
    return TrainConfig(heads=heads_cfg, alpha=opts.alpha, **opts.loop)


def run_task(
    task: str,
    encoder: Any,
    rows: Sequence[Any],
    out: str | os.PathLike[str],
    cfg: Any,
    val: Sequence[Any] | None = None,
    resume: bool = False,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> Any:
    """Train `task` on `rows` (from `task_rows`) into the model folder `out`; the trainer's result
    (`steps`, `samples_per_s`, ...). Raises TrainError for what the trainers refuse."""
    kw: dict[str, Any] = {"val": val, "resume": resume, "on_log": on_log}
    try:
        if task == "lora":
            from omnisearch.train.lora import train_lora

            return train_lora(rows, out, cfg, encoder.lora_location(), **kw)
        if task == "tower-lora":
            from omnisearch.train.clip_clap_lora import train_clip_clap_lora

            return train_clip_clap_lora(rows, out, cfg, encoder, **kw)
        from omnisearch.train.batches import rows_from_features
        from omnisearch.train.trainer import train

        _, meta = encoder.heads_setup()
        kw.update(layout=encoder.feature_layout, base=encoder.plain_copy, folder_meta=meta)
        return train(rows_from_features(rows), out, cfg, **kw)
    except (ValueError, RuntimeError) as e:
        raise TrainError(str(e)) from e


def ablation_config(encoder: Any, batch_size: int = 16, lr: float = 1e-4, temperature: float = 0.05) -> Any:
    """The base `TrainConfig` of every ablation run over `encoder`'s features."""
    from omnisearch.train.trainer import TrainConfig

    heads_cfg, _ = encoder.heads_setup()
    return TrainConfig(batch_size=batch_size, lr=lr, temperature=temperature, heads=heads_cfg)
