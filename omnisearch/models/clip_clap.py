"""clip-clap: a CLIP model (frames + text) beside a CLAP model (audio + text), in one shared space.

Neither model sees the other's modality, so the shared space keeps them in two blocks (like omni-lite),
and every vector is L2-normalised:

    [ CLIP block: CLIP projection dim (512 for ViT-B/32) | CLAP block: CLAP projection dim (512) ]

- text  -> [CLIP text, CLAP text], each block unit-normalised then scaled by sqrt(1/2)
- video -> [mean of the per-frame CLIP image embeddings, 0]
- audio -> [0, mean of the CLAP audio embeddings of its <= 10 s windows, 0-padded]
- fused -> `self.fusion({modality: vector})`: by default the weighted mean of the modality vectors
  present, re-normalised (`omnisearch.models.fusion.weighted_mean_fusion`).

Trained heads: `omnisearch train --model clip-clap` learns projection heads + a fusion module over the
frozen CLIP / CLAP embeddings (`features` / `project`, layout in feature_layout.ClipClapLayout); a model
folder it writes (omnisearch.json {"encoder": "clip-clap", "clip": ..., "clap": ..., "heads": ...})
loads with `--model DIR` and blends the heads' vectors in, as for omni-lite. Unlike the block space,
trained heads link CLIP frames to CLAP sounds, so v2a / a2v become meaningful. A folder of the joint
mode (omnisearch.train.clip_clap_lora: LoRA on both towers + heads) also names "clip_adapter" /
"clap_adapter" (peft folders): each is loaded onto its tower and merged (`merge_and_unload`) when the
tower loads; the adapters' digest goes into `version` and `feature_key`.

So text->video scores are CLIP cosines and text->audio scores CLAP cosines (both scaled by 0.707, the
same for every target, so rankings are CLIP's and CLAP's own). Video<->audio single-modal scores are
always 0 here: nothing links CLIP images to CLAP sounds until a trained fusion/projection does; v2a and
a2v score 0 for every pair: all targets tie, and our metric counts ties against the query, so their
R@1 is 0. Dual queries still work through the text block (e.g. tv2a scores the CLAP text part).

Preprocessing: frames through the folder's CLIP image processor, PIL backend (no torchvision needed);
audio (16 kHz mono) resampled to the CLAP feature extractor's rate (48 kHz) with torchaudio, cut into
windows of the extractor's max_length_s (10 s) so long clips are covered whole and no random crop is
taken; texts are truncated to each tokenizer's limit (77 tokens for CLIP).

Weights: local folders only (see `omnisearch.models.batching.weights_location`): OMNISEARCH_CLIP /
OMNISEARCH_CLAP, or a model folder with omnisearch.json {"encoder": "clip-clap", "clip": ..., "clap": ...}.
Tested with openai/clip-vit-base-patch32 + laion/clap-htsat-unfused layouts (tiny random copies).

Example:
    >>> enc = ClipClap(clip="/models/clip-vit-b32", clap="/models/clap-htsat-unfused")  # doctest: +SKIP
    >>> e = enc.encode([EncoderInput(text="a dog barks", audio=wave)])[0]     # doctest: +SKIP
    >>> sorted(m.value for m in e.vectors), enc.dim                             # doctest: +SKIP
    (['audio', 'fused', 'text'], 1024)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from omnisearch.models.base import Encoder, EncoderOptions, HeadsHost, l2_normalize
from omnisearch.models.batching import encode_with_backoff, hub_kwargs, weights_location
from omnisearch.models.feature_layout import ClipClapLayout, pool_rows
from omnisearch.models.folder import read_model_info
from omnisearch.models.fusion import blocks_vector, weighted_mean_fusion
from omnisearch.types import Embedding, EncoderInput, Modality

if TYPE_CHECKING:
    import torch

TEXT_CLIP_SHARE = 0.5  # share of a text vector's squared norm in the CLIP block (the rest is CLAP's)
INPUT_RATE = 16_000
MIN_WINDOW_S = 1.0  # a trailing audio window shorter than this is folded away (unless it is all there is)
IMAGE_CHUNK = 64  # frames per CLIP image forward


def _features(out: Any) -> torch.Tensor:
    """get_*_features: an output object in transformers 5.x (embedding in .pooler_output), a tensor in 4.x."""
    return out if hasattr(out, "shape") else out.pooler_output


def audio_windows(audio: np.ndarray, window: int, min_len: int) -> list[np.ndarray]:
    """Consecutive windows of at most `window` samples; a short tail (< min_len) is dropped unless it
    is the only window.

    >>> [len(w) for w in audio_windows(np.zeros(25), 10, 3)]
    [10, 10, 5]
    >>> [len(w) for w in audio_windows(np.zeros(21), 10, 3)]
    [10, 10]
    """
    wins = [audio[s : s + window] for s in range(0, max(len(audio), 1), window)]
    if len(wins) > 1 and len(wins[-1]) < min_len:
        wins = wins[:-1]
    return wins


def _split(rows: np.ndarray, counts: list[int]) -> list[np.ndarray]:
    """Consecutive groups of `counts` rows.

    >>> [len(g) for g in _split(np.zeros((5, 2)), [2, 3])]
    [2, 3]
    """
    return np.split(rows.astype(np.float32), np.cumsum(counts)[:-1])


def adapter_folders(path: str | Path | None) -> dict[str, str]:
    """{"clip": folder, "clap": folder} of the LoRA adapters a model folder's omnisearch.json names
    ("clip_adapter" / "clap_adapter"; relative paths are taken from the model folder)."""
    info = read_model_info(path)
    out: dict[str, str] = {}
    for key in ("clip", "clap"):
        if info is not None and (value := info.link(f"{key}_adapter")):
            p = Path(value)
            out[key] = str(p if p.is_absolute() or path is None else Path(path) / p)
    return out


def adapters_digest(adapters: Mapping[str, str]) -> str:
    """First 8 hex digits of the SHA-256 of the adapters' weights (the encoder's version and feature key)."""
    import hashlib

    h = hashlib.sha256()
    for key in sorted(adapters):
        f = Path(adapters[key]) / "adapter_model.safetensors"
        h.update(key.encode() + (f.read_bytes() if f.is_file() else adapters[key].encode()))
    return h.hexdigest()[:8]


class ClipClap(HeadsHost, Encoder):
    """CLIP + CLAP from local folders; trains heads (`HeadsHost`) and LoRA on its towers
    (`capabilities.TowerLoraTrainable`)."""

    name = "clip-clap"
    version = "1"
    weights_from = "local CLIP + CLAP folders (OMNISEARCH_CLIP / OMNISEARCH_CLAP or omnisearch.json)"

    def __init__(
        self,
        options: EncoderOptions | None = None,
        path: str | None = None,
        clip: str | None = None,
        clap: str | None = None,
    ) -> None:
        super().__init__(options)
        ex_clip, ex_clap = "openai/clip-vit-base-patch32", "laion/clap-htsat-unfused"
        self.clip_path = clip or weights_location(path, "clip", "OMNISEARCH_CLIP", self.name, ex_clip)
        self.clap_path = clap or weights_location(path, "clap", "OMNISEARCH_CLAP", self.name, ex_clap)
        self.weights_from = f"clip={self.clip_path}, clap={self.clap_path}"
        from transformers import ClapConfig, CLIPConfig

        try:
            self.clip_dim = int(CLIPConfig.from_pretrained(self.clip_path, **hub_kwargs()).projection_dim)
            self.clap_dim = int(ClapConfig.from_pretrained(self.clap_path, **hub_kwargs()).projection_dim)
        except OSError as exc:
            raise ValueError(
                f"clip-clap: cannot read local weights ({exc}); set OMNISEARCH_CLIP/CLAP"
            ) from exc
        self.dim = self.clip_dim + self.clap_dim
        self.fusion: Callable[[Mapping[str, np.ndarray]], np.ndarray] = weighted_mean_fusion
        self._towers: dict[str, tuple[Any, Any, Any]] = {}  # "clip" / "clap": loaded on first use
        self._device = self._dtype = None
        self.adapters = adapter_folders(path)  # {"clip": folder, "clap": folder} a LoRA run wrote
        if self.adapters:
            self.version = f"{ClipClap.version}+lora-{adapters_digest(self.adapters)}"
        info = read_model_info(path)
        if info is not None and info.heads is not None:  # a model folder `omnisearch train` wrote
            from omnisearch.models.device import resolve_device
            from omnisearch.models.heads import HeadsBlend

            self.attach_heads(HeadsBlend.from_folder(path, device=resolve_device(self.options.device)))

    # ---- lazily loaded models: a video-only batch never loads CLAP -------------------------------

    def heads_setup(self) -> tuple[object, dict]:
        """Heads sized by clip-clap's feature layout; a model folder records both tower folders."""
        from omnisearch.models.heads import HeadsConfig

        return HeadsConfig.for_layout(self.feature_layout), self.tower_paths()

    def tower_paths(self) -> dict[str, str]:
        """{"clip": folder, "clap": folder}: the towers LoRA trains on (absolute)."""
        return {"clip": str(Path(self.clip_path).resolve()), "clap": str(Path(self.clap_path).resolve())}

    def _setup(self) -> None:
        if self._device is None:
            from omnisearch.models.device import resolve_device, resolve_dtype

            self._device = resolve_device(self.options.device)
            self._dtype = resolve_dtype(self.options.dtype, self._device)

    @property
    def clip(self) -> tuple[Any, Any, Any]:
        """(CLIPModel, tokenizer, PIL image processor), loaded on first use."""
        return self._tower("clip")

    @property
    def clap(self) -> tuple[Any, Any, Any]:
        """(ClapModel, tokenizer, ClapFeatureExtractor), loaded on first use."""
        return self._tower("clap")

    def _tower(self, key: str) -> tuple[Any, Any, Any]:
        """(model, tokenizer, processor) of tower `key` ("clip" | "clap") from its folder, loaded once."""
        if key not in self._towers:
            from transformers import AutoTokenizer, ClapFeatureExtractor, ClapModel, CLIPModel
            from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

            model_cls, proc_cls, folder = {
                "clip": (CLIPModel, CLIPImageProcessorPil, self.clip_path),
                "clap": (ClapModel, ClapFeatureExtractor, self.clap_path),
            }[key]
            self._setup()
            model = self._load_tower(model_cls, folder, key)
            tok = AutoTokenizer.from_pretrained(folder, **hub_kwargs())
            self._towers[key] = (model, tok, proc_cls.from_pretrained(folder, **hub_kwargs()))
        return self._towers[key]

    def _load_tower(self, cls: Any, folder: str, key: str) -> Any:
        """`cls.from_pretrained(folder)` on the device in eval mode; with a LoRA adapter for `key` in
        omnisearch.json it is loaded in float32, merged (`merge_and_unload`), then cast."""
        if key not in self.adapters:
            model = cls.from_pretrained(folder, dtype=self._dtype, **hub_kwargs())
            return model.to(self._device).eval()
        import torch

        from omnisearch.extras import require

        require("train", f"the LoRA adapter {self.adapters[key]}")
        from peft import PeftModel

        model = cls.from_pretrained(folder, dtype=torch.float32, **hub_kwargs())
        peft_model = PeftModel.from_pretrained(model, self.adapters[key], **hub_kwargs())
        if not any("lora_B" in n for n, _ in peft_model.named_parameters()):
            raise RuntimeError(f"the LoRA adapter {self.adapters[key]} matched no module of {folder}")
        return peft_model.merge_and_unload().to(self._device, self._dtype).eval()

    @contextmanager
    def _inference(self) -> Iterator[None]:
        import torch

        self._setup()
        use_amp = self._device.startswith("cuda") and self._dtype != torch.float32
        with torch.inference_mode(), torch.autocast("cuda", dtype=self._dtype, enabled=use_amp):
            yield

    # ---- towers ----------------------------------------------------------------------------------
    # The *_tensor methods run a tower in the caller's autograd mode (LoRA training calls them with
    # gradients); the numpy methods below wrap them under `_inference`: both share the preprocessing.
    def text_tensor(self, model: Any, tok: Any, texts: list[str]) -> torch.Tensor:
        """(len(texts), proj dim) raw text embeddings of `model` (CLIP's or CLAP's) as a tensor."""
        limit = min(int(tok.model_max_length or 77), 512)
        batch = tok(texts, padding=True, truncation=True, max_length=limit, return_tensors="pt")
        batch = {k: v.to(self._device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
        return _features(model.get_text_features(**batch))

    def image_tensor(self, model: Any, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """(len(frames), clip_dim) raw CLIP image embeddings of uint8 frames (H, W, 3)."""
        _, _, proc = self.clip
        px = proc(images=list(frames), return_tensors="pt")["pixel_values"]
        return _features(model.get_image_features(pixel_values=px.to(self._device, self._dtype)))

    def audio_inputs(self, waves: Sequence[np.ndarray]) -> tuple[dict[str, Any], list[int]]:
        """(CLAP model kwargs of every <= max_length_s window of every 16 kHz wave, windows per wave)."""
        import torch
        import torchaudio.functional as AF

        _, _, fe = self.clap
        rate = int(fe.sampling_rate)
        window, min_len = int(fe.max_length_s * rate), int(MIN_WINDOW_S * rate)
        chunks, counts = [], []
        for w in waves:
            x = torch.from_numpy(np.asarray(w, dtype=np.float32))
            if rate != INPUT_RATE:
                x = AF.resample(x, INPUT_RATE, rate)
            wins = audio_windows(x.numpy(), window, min_len)
            chunks += wins
            counts.append(len(wins))
        feats = fe(chunks, sampling_rate=rate, return_tensors="pt")
        kwargs = {"input_features": feats["input_features"].to(self._device, self._dtype)}
        if "is_longer" in feats:
            kwargs["is_longer"] = feats["is_longer"].to(self._device)
        return kwargs, counts

    def audio_tensor(self, model: Any, kwargs: Mapping[str, Any]) -> torch.Tensor:
        """(windows, clap_dim) raw CLAP audio embeddings of `audio_inputs(...)[0]`."""
        return _features(model.get_audio_features(**kwargs))

    def _text_tower(self, model: Any, tok: Any, texts: list[str]) -> np.ndarray:
        return self.text_tensor(model, tok, texts).float().cpu().numpy()

    def clip_text(self, texts: list[str]) -> np.ndarray:
        """(len(texts), clip_dim) raw CLIP text embeddings."""
        model, tok, _ = self.clip
        with self._inference():
            return self._text_tower(model, tok, texts)

    def clap_text(self, texts: list[str]) -> np.ndarray:
        """(len(texts), clap_dim) CLAP text embeddings."""
        model, tok, _ = self.clap
        with self._inference():
            return self._text_tower(model, tok, texts)

    def clip_frames(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        """Per clip (N, clip_dim): the L2-normalised CLIP embedding of each of its frames."""
        model, _, _ = self.clip
        frames = [f for clip in clips for f in np.asarray(clip, dtype=np.uint8)]
        embs = []
        for s in range(0, len(frames), IMAGE_CHUNK):
            with self._inference():
                embs.append(self.image_tensor(model, frames[s : s + IMAGE_CHUNK]).float().cpu().numpy())
        return _split(l2_normalize(np.concatenate(embs)), [len(c) for c in clips])

    def clap_audio(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """Per clip (W, clap_dim): the L2-normalised CLAP embedding of each of its <= max_length_s windows."""
        model, _, _ = self.clap
        kwargs, counts = self.audio_inputs(waves)
        with self._inference():
            emb = self.audio_tensor(model, kwargs).float().cpu().numpy()
        return _split(l2_normalize(emb), counts)

    # ---- the Encoder interface -------------------------------------------------------------------
    def encode(
        self, items: Sequence[EncoderInput], progress: Callable[[int], None] | None = None
    ) -> list[Embedding]:
        return encode_with_backoff(self._encode_batch, items, self.options.batch_size, progress)

    def _encode_batch(self, items: Sequence[EncoderInput]) -> list[Embedding]:
        return self.project(self.features(items))

    @property
    def feature_key(self) -> str:
        """Identity of the frozen features: this code's version and the two checkpoints' configs."""
        import hashlib

        parts = [self.version]
        for folder in (self.clip_path, self.clap_path):
            cfg = Path(folder) / "config.json"
            parts.append(cfg.read_text() if cfg.is_file() else folder)
        if self.adapters:  # LoRA merged into the towers: other features
            parts.append(f"lora-{adapters_digest(self.adapters)}")
        digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]
        return f"{ClipClap.name}-v{ClipClap.version}-{digest}"

    @property
    def feature_layout(self) -> ClipClapLayout:
        return ClipClapLayout(self.clip_dim, self.clap_dim)

    def features(self, items: Sequence[EncoderInput]) -> list[dict[str, Any]]:
        """Frozen per-item features (what trained heads learn from), keys for the modalities present:
        text_sem (clip_dim + clap_dim,) the text's block vector; video_frames (N, clip_dim) normalised
        CLIP frame embeddings; audio_windows (W, clap_dim) normalised CLAP window embeddings.
        `project(features(items))` equals `encode(items)`."""
        mods = [it.modalities() for it in items]
        idx = {m: [i for i, ms in enumerate(mods) if m in ms] for m in Modality.singles()}
        out: list[dict[str, Any]] = [{} for _ in items]
        if idx[Modality.TEXT]:
            texts = [items[i].text.strip() for i in idx[Modality.TEXT]]
            t_clip, t_clap = self.clip_text(texts), self.clap_text(texts)
            share = TEXT_CLIP_SHARE
            for j, i in enumerate(idx[Modality.TEXT]):
                out[i]["text_sem"] = self._vector(t_clip[j], share, t_clap[j], 1.0 - share)
        if idx[Modality.VIDEO]:
            frames = self.clip_frames([items[i].frames for i in idx[Modality.VIDEO]])
            for i, rows in zip(idx[Modality.VIDEO], frames, strict=True):
                out[i]["video_frames"] = rows
        if idx[Modality.AUDIO]:
            windows = self.clap_audio([items[i].audio for i in idx[Modality.AUDIO]])
            for i, rows in zip(idx[Modality.AUDIO], windows, strict=True):
                out[i]["audio_windows"] = rows
        return out

    def project(self, features: Sequence[dict[str, Any]]) -> list[Embedding]:
        """Vectors from `features(...)` dicts: the block vectors (+ fusion), or the heads' when attached."""
        blocks = []
        for f in features:
            v: dict[Modality, np.ndarray] = {}
            if "text_sem" in f:
                v[Modality.TEXT] = np.asarray(f["text_sem"], np.float32)
            if "video_frames" in f:
                v[Modality.VIDEO] = self._vector(pool_rows(f["video_frames"]), 1.0, None, 0.0)
            if "audio_windows" in f:
                v[Modality.AUDIO] = self._vector(None, 0.0, pool_rows(f["audio_windows"]), 1.0)
            if v:
                v[Modality.FUSED] = np.asarray(self.fusion({m.value: x for m, x in v.items()}), np.float32)
            blocks.append(v)
        return [Embedding(vectors=v) for v in self.with_heads(features, blocks)]

    def _vector(
        self, clip: np.ndarray | None, clip_share: float, clap: np.ndarray | None, clap_share: float
    ) -> np.ndarray:
        parts = [(clip, clip_share, self.clip_dim), (clap, clap_share, self.clap_dim)]
        return blocks_vector(parts).astype(np.float32)  # blocks_vector returns float64 under NumPy 2

    @classmethod
    def from_folders(
        cls, clip: str | Path, clap: str | Path, options: EncoderOptions | None = None
    ) -> ClipClap:
        """Build from two local folders (no environment variables needed)."""
        return cls(options, clip=str(clip), clap=str(clap))
