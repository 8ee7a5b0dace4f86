"""Trainable heads over an encoder's frozen features: per-modality MLPs into a shared space + tuple fusion.

    text  head input (omni-lite: 384 MiniLM of the caption)                  -> MLP -> d  (L2-normalised)
    video head input (omni-lite: 384 OCR/colour words + 128 pooled frame VIS) -> MLP -> d
    audio head input (omni-lite: 384 transcript words + 512 pooled aisfx)     -> MLP -> d
    fused: a small pre-norm transformer over the present modality tokens (single embedding + a learned
           modality embedding; missing modalities masked out of attention and pooling), masked mean -> d

Every output is L2-normalised; a missing modality's single embedding is a zero row. The fused embedding of
a row is defined for any non-empty subset of modalities (dual-direction queries fuse two).

The encoder's `FeatureLayout` (omnisearch.models.feature_layout: omni-lite's or clip-clap's) turns its
feature dicts into the fixed-size head inputs; the trainer and the encoder both use it, so training and
inference see the same inputs. A model folder holds `omnisearch.json` ({"encoder": ..., "alpha": ...,
"heads": {...}, "layout": {...}}) and `heads.safetensors`; `save_heads` / `load_heads` write and read it.
This module imports torch at the top; omni_lite imports it lazily, only when a model folder is loaded.

Example:
    >>> heads = OmniHeads(HeadsConfig(dim=16, hidden=32, residual=False)).eval()
    >>> x = {m: torch.randn(2, n) for m, n in OmniLiteLayout().input_dims.items()}
    >>> masks = {"text": torch.tensor([True, True]), "video": torch.tensor([True, False]),
    ...          "audio": torch.tensor([True, True])}
    >>> out = heads(x, masks)
    >>> out["fused"].shape, round(float(out["fused"].norm(dim=-1)[0]), 4), float(out["video"][1].abs().sum())
    (torch.Size([2, 16]), 1.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnisearch.models.feature_layout import (
    MODALITIES,
    FeatureLayout,
    OmniLiteLayout,
    head_inputs,
    layout_from_dict,
    present,
)
from omnisearch.models.folder import (
    CONFIG_FILE,
    ModelFolderError,
    ModelFolderInfo,
    config_path,
    read_model_info,
    write_model_info,
)

SEM_DIM = OmniLiteLayout().base_dim
INPUT_DIMS: dict[str, int] = OmniLiteLayout().input_dims
WEIGHTS_FILE = "heads.safetensors"
FUSION_INITS = ("identity", "mean", "gated")


@dataclass
class HeadsConfig:
    """Sizes of the heads. `input_dims` maps modality -> head input size and `base_dim` is the width of the
    inputs' base part (the residual's; see feature_layout), omni-lite's by default (`for_layout`)."""

    dim: int = SEM_DIM
    hidden: int = 256
    fusion_layers: int = 1
    fusion_heads: int = 4
    dropout: float = 0.1
    residual: bool = True  # output = unit(sem part of the input) + MLP(input): starts in MiniLM's space
    train_text: bool = True  # False (with residual): text stays MiniLM's vector; other heads move to it
    # fusion at init (residual heads): "identity" = residual branches zero, random modality embeddings
    # (fused = unit mean of tokens + embeddings); "mean" = embeddings zero too: exactly the unit mean of
    # the present single embeddings, the score L_A-only training gives every dual direction; "gated" =
    # unit(mean of the present singles + g * what the transformer adds), the scalar gate g starting at 0
    # (the transformer at its default init, modality embeddings zero): training starts exactly where
    # "mean" does, in L_A's space, and L_T must earn any departure
    fusion_init: str = "mean"
    train_fusion: bool = True  # False: the fusion is frozen at its start ("mean": a parameter-free mean)
    input_dims: dict[str, int] = field(default_factory=lambda: dict(INPUT_DIMS))
    base_dim: int = SEM_DIM

    def __post_init__(self) -> None:
        if self.fusion_init not in FUSION_INITS:
            raise ValueError(f"fusion_init must be one of {FUSION_INITS}, got {self.fusion_init!r}")
        if self.residual and self.dim != self.base_dim:
            raise ValueError(
                f"residual heads live in the {self.base_dim}-d base space of the inputs; got dim={self.dim}"
            )

    @classmethod
    def for_layout(cls, layout: FeatureLayout, **kw: Any) -> HeadsConfig:
        """Input sizes and base width from a feature layout; dim defaults to the base width.

        >>> from omnisearch.models.feature_layout import ClipClapLayout
        >>> HeadsConfig.for_layout(ClipClapLayout(8, 8), hidden=4).dim
        16
        """
        kw.setdefault("dim", layout.base_dim)
        return cls(input_dims=dict(layout.input_dims), base_dim=layout.base_dim, **kw)


class ModalityHead(nn.Module):
    """LayerNorm -> Linear -> GELU -> Dropout -> Linear, output L2-normalised.

    residual: the first `base_dim` inputs (the modality's vector in the encoder's own space, e.g. omni-lite's
    MiniLM vector of its words), unit-normalised, are added to the MLP's output, whose last layer starts
    small: the head starts as the encoder's space and learns what the other features add to it (tiny data
    cannot learn a space from scratch; see the report in examples/train_omnilite.py).
    """

    def __init__(
        self, in_dim: int, hidden: int, dim: int, dropout: float, residual: bool = False, base_dim: int = 0
    ) -> None:
        super().__init__()
        self.residual, self.base_dim = residual, base_dim or dim
        self.net = nn.Sequential(
            nn.LayerNorm(in_dim),
            nn.Linear(in_dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, dim),
        )
        if residual:
            with torch.no_grad():
                self.net[-1].weight.mul_(0.1)
                self.net[-1].bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        y = self.net(x)
        if self.residual:
            y = y + F.normalize(x[..., : self.base_dim], dim=-1)
        return F.normalize(y, dim=-1)


class TupleFusion(nn.Module):
    """Fuse the present single embeddings (B, M, d) with mask (B, M) into one L2-normalised (B, d)."""

    def __init__(
        self,
        dim: int,
        n_modalities: int,
        layers: int,
        heads: int,
        dropout: float,
        identity_init: bool = False,
        mean_init: bool = False,
        gated: bool = False,
    ) -> None:
        super().__init__()
        self.modality_embedding = nn.Parameter(torch.zeros(n_modalities, dim))
        if not mean_init:  # mean_init (with identity_init): fused starts as the unit mean of the tokens
            nn.init.normal_(self.modality_embedding, std=0.02)
        # gated: unit(mean tokens + gate * (pooled transformer output - mean tokens)), gate from 0
        self.gate = nn.Parameter(torch.zeros(())) if gated else None
        layer = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=2 * dim, dropout=dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        if identity_init:  # residual branches start at 0: fused = normalised mean of the tokens
            for block in self.encoder.layers:
                for lin in (block.self_attn.out_proj, block.linear2):
                    nn.init.zeros_(lin.weight)
                    nn.init.zeros_(lin.bias)

    def forward(self, tokens: Tensor, mask: Tensor) -> Tensor:
        if not bool(mask.any(dim=1).all()):
            raise ValueError("every row needs at least one modality to fuse")
        h = self.encoder(tokens + self.modality_embedding, src_key_padding_mask=~mask)
        h = h.masked_fill(~mask.unsqueeze(-1), 0.0)  # padded positions may hold anything (fast path)
        count = mask.sum(1, keepdim=True).to(h.dtype)
        pooled = h.sum(1) / count
        if self.gate is not None:
            base = tokens.masked_fill(~mask.unsqueeze(-1), 0.0).sum(1) / count
            pooled = base + self.gate * (pooled - base)
        return F.normalize(pooled, dim=-1)


class OmniHeads(nn.Module):
    """Per-modality heads + fusion, keyed by modality like ImageBind (`forward(inputs, masks) -> dict`)."""

    def __init__(self, config: HeadsConfig | None = None) -> None:
        super().__init__()
        self.config = config or HeadsConfig()
        c = self.config
        self.heads = nn.ModuleDict(
            {
                m: ModalityHead(c.input_dims[m], c.hidden, c.dim, c.dropout, c.residual, c.base_dim)
                for m in MODALITIES
            }
        )
        if c.residual and not c.train_text:
            last = self.heads["text"].net[-1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            self.heads["text"].requires_grad_(False)
        self.fusion = TupleFusion(
            c.dim,
            len(MODALITIES),
            c.fusion_layers,
            c.fusion_heads,
            c.dropout,
            identity_init=c.residual and c.fusion_init != "gated",
            mean_init=c.fusion_init == "gated" or (c.residual and c.fusion_init == "mean"),
            gated=c.fusion_init == "gated",
        )
        if not c.train_fusion:
            self.fusion.requires_grad_(False)

    def singles(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """{modality: (B, d)} L2-normalised; rows whose mask is False are zero."""
        return {m: self.heads[m](inputs[m]) * masks[m].unsqueeze(-1).to(inputs[m].dtype) for m in MODALITIES}

    def fuse(self, singles: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        tokens = torch.stack([singles[m] for m in MODALITIES], dim=1)
        return self.fusion(tokens, torch.stack([masks[m] for m in MODALITIES], dim=1))

    def forward(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        out = self.singles(inputs, masks)
        out["fused"] = self.fuse(out, masks)
        return out

    @torch.no_grad()
    def embed(
        self, inputs: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Inference on numpy batches (eval mode is the caller's business): {"text", ..., "fused"}."""
        p = next(self.parameters())
        t = {m: torch.as_tensor(np.asarray(inputs[m]), dtype=p.dtype, device=p.device) for m in MODALITIES}
        k = {m: torch.as_tensor(np.asarray(masks[m]), device=p.device) for m in MODALITIES}
        return {m: v.float().cpu().numpy() for m, v in self.forward(t, k).items()}


def save_heads(
    folder: str | Path,
    heads: OmniHeads,
    alpha: float,
    encoder: str = "omni-lite",
    dtype: str = "float32",
    stem: str | None = None,
    layout: FeatureLayout | None = None,
    **meta: Any,
) -> Path:
    """Write a model folder: omnisearch.json (encoder, alpha, heads config, feature layout, meta) +
    heads.safetensors.

    dtype "float16" halves the file (what the package ships); `load_heads` always computes in float32.
    `stem` writes STEM.json + STEM.safetensors instead (flat files, as package data ships them).
    Returns the path to give `load_heads` (the folder, or STEM.json).
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config, weights = (f"{stem}.json", f"{stem}.safetensors") if stem else (CONFIG_FILE, WEIGHTS_FILE)
    cast = getattr(torch, dtype)
    state = {k: v.detach().cpu().to(cast).contiguous() for k, v in heads.state_dict().items()}
    save_file(state, str(folder / weights))
    (folder / weights).chmod(0o644)
    cfg = {"encoder": encoder, "alpha": float(alpha), "dtype": dtype, "heads": asdict(heads.config), **meta}
    cfg["layout"] = (layout or OmniLiteLayout()).to_dict()
    cfg["weights"] = weights
    write_model_info(folder, ModelFolderInfo.from_dict(cfg), config)
    return folder / config if stem else folder


def _info(path: str | Path) -> tuple[ModelFolderInfo, Path]:
    """(the parsed config, the weights file) of a model folder or of a STEM.json file."""
    info = read_model_info(path)
    if info is None:
        raise ModelFolderError(f"no {config_path(path)}: not a model folder")
    if info.heads is None:
        raise ModelFolderError(f'{config_path(path)} holds no "heads": not a folder of trained heads')
    return info, config_path(path).parent / (info.weights or WEIGHTS_FILE)


def load_heads(path: str | Path, device: str = "cpu") -> tuple[OmniHeads, ModelFolderInfo]:
    """Read a model folder (or STEM.json): (heads in eval mode, its parsed omnisearch.json)."""
    from safetensors.torch import load_file

    info, weights = _info(path)
    # folders written before fusion_init existed were trained from the "identity" start
    heads = OmniHeads(HeadsConfig(**{"fusion_init": "identity", **info.heads}))
    heads.load_state_dict(load_file(str(weights), device="cpu"))
    return heads.to(device).eval(), info


def weights_digest(path: str | Path) -> str:
    """First 8 hex digits of the heads file's SHA-256 (goes into the encoder version)."""
    import hashlib

    return hashlib.sha256(_info(path)[1].read_bytes()).hexdigest()[:8]


class HeadsBlend:
    """Trained heads as an encoder uses them: vectors = concat[sqrt(alpha) * block, sqrt(1 - alpha) * head].

    alpha = 0 keeps the head vector only (dim = heads dim); otherwise dim = block dim + heads dim.
    `layout` turns the encoder's feature dicts into head inputs (omni-lite's by default).

    Example:
        >>> blend = HeadsBlend(OmniHeads(HeadsConfig(dim=8, hidden=8, residual=False)).eval(), alpha=0.5)
        >>> blend.output_dim(1024), blend.tag.endswith("a0.5")
        (1032, True)
    """

    def __init__(
        self,
        heads: OmniHeads,
        alpha: float,
        name: str = "omni-lite+heads",
        digest: str = "",
        layout: FeatureLayout | None = None,
    ) -> None:
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"alpha must be in [0, 1), got {alpha}")
        self.heads, self.alpha, self.name = heads.eval(), float(alpha), name
        self.layout = layout or OmniLiteLayout()
        if dict(self.layout.input_dims) != dict(heads.config.input_dims):
            raise ValueError(
                f"heads expect inputs {heads.config.input_dims}, the {self.layout.name} features give "
                f"{self.layout.input_dims}"
            )
        self.tag = f"h{digest or 'mem'}-a{self.alpha:g}"

    @classmethod
    def from_folder(cls, folder: str | Path, device: str = "cpu") -> HeadsBlend:
        heads, info = load_heads(folder, device)
        name = info.name or "omni-lite+heads"
        alpha = info.alpha if info.alpha is not None else 0.0
        return cls(heads, alpha, name, weights_digest(folder), layout_from_dict(info.layout))

    def output_dim(self, block_dim: int) -> int:
        return self.heads.config.dim + (block_dim if self.alpha > 0 else 0)

    def blend(self, features: Sequence[Mapping[str, Any]], blocks: Sequence[dict]) -> list[dict]:
        """Per item {Modality: vector}: each block vector joined with the head vector of that modality."""
        from omnisearch.types import Modality

        idx = [i for i, f in enumerate(features) if present(f)]
        out: list[dict] = [{} for _ in features]
        if not idx:
            return out
        inputs, masks = head_inputs([features[i] for i in idx], self.layout)
        emb = self.heads.embed(inputs, masks)
        a, b = np.float32(np.sqrt(self.alpha)), np.float32(np.sqrt(1.0 - self.alpha))
        for row, i in enumerate(idx):
            for mod, block in blocks[i].items():
                head = emb[mod.value][row] if isinstance(mod, Modality) else emb[str(mod)][row]
                out[i][mod] = np.concatenate([a * block, b * head]) if self.alpha > 0 else head.copy()
        return out
