"""BEATs audio encoder and WAVE's BEATs branch (beats -> pool -> beats_ln -> beats_proj), in plain torch.

Written from the BEATs paper (Chen et al. 2022, "BEATs: Audio Pre-Training with Acoustic Tokenizers",
arXiv 2212.09058) and the public model code it was read against (microsoft/unilm `beats/BEATs.py`,
`beats/backbone.py`; WAVE / Omni-Retriever `training/qwenvl/model/qwen2_5_omni/modeling_qwen2_5_omni.py`
for the branch). transformers (5.24) has no BEATs model, so this is our own implementation.

- Input: 16 kHz mono in [-1, 1], scaled by 2**15; kaldi fbank (128 mel, 25 ms window, 10 ms shift);
  normalised (x - 15.41663) / (2 * 6.55582).
- Patch embedding: Conv2d(1, E, 16, stride 16) over the (frames, 128) fbank -> (frames // 16) * 8
  patches, time-major (8 frequency patches per 160 ms), LayerNorm(E), Linear(E, D) when E != D.
- Encoder: x + GELU(weight-normed grouped Conv1d over time), LayerNorm, then post-LN layers with deep
  norm (residual * (2 * layers) ** 0.25) whose attention adds a bucketed relative-position bias
  (computed once by layer 0, shared) gated per query (gru_rel_pos). Output: the last layer, D = 768.
- WAVE branch, per wave: cut to 300 s, pad to 1 s (missing audio = 1 s of silence), BEATs features padded
  with zeros or cut to 2N rows, average-pooled in pairs to N, LayerNorm(D), Linear(D, H) -> GELU ->
  Linear(H, H). N is the Whisper tower's token count, and the tokens interleave as w0, b0, w1, b1, ...

Parameter names follow the public code, so a WAVE-7B state dict loads under `beats.*`, `beats_ln.*`,
`beats_proj.*` (`BEATS_KEYS` lists the per-layer ones). The predictor (AudioSet classes) of the fine-tuned
checkpoint is kept for loading and never run (WAVE calls `extract_features(..., feature_only=True)`).

Example:
    >>> branch = BeatsBranch(BeatsConfig(embed_dim=16, dim=32, layers=1, heads=2, ffn=64), out_dim=8)
    >>> branch([torch.zeros(16000)], [25]).shape
    torch.Size([25, 8])
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

RATE = 16_000
MAX_SECONDS = 300
FBANK_MEAN, FBANK_STD = 15.41663, 6.55582
BEATS_KEYS = (  # per layer N, under beats.encoder.layers.N. (from unilm beats/backbone.py)
    "self_attn.{k,v,q,out}_proj.{weight,bias}",
    "self_attn.relative_attention_bias.weight (layer 0; the others share it)",
    "self_attn.grep_linear.{weight,bias}, self_attn.grep_a",
    "self_attn_layer_norm, fc1, fc2, final_layer_norm .{weight,bias}",
)


@dataclass
class BeatsConfig:
    """BEATs shapes; defaults are BEATs iter3+ (AS2M). `from_state_dict` reads the shapes from tensors;
    max_distance, deep_norm and layer_norm_first cannot be read from shapes and keep these values."""

    patch: int = 16
    embed_dim: int = 512
    dim: int = 768
    layers: int = 12
    heads: int = 12
    ffn: int = 3072
    conv_pos: int = 128
    conv_pos_groups: int = 16
    num_buckets: int = 320
    max_distance: int = 800
    gru_rel_pos: bool = True
    deep_norm: bool = True
    layer_norm_first: bool = False
    conv_bias: bool = False
    predictor_class: int = 0  # 527 in the AudioSet fine-tuned checkpoints; 0 = no predictor

    def __post_init__(self) -> None:
        if self.max_distance <= self.num_buckets // 4:
            raise ValueError(f"max_distance {self.max_distance} must exceed num_buckets // 4 (exact buckets)")

    @classmethod
    def from_state_dict(cls, sd: dict[str, Tensor], **overrides) -> BeatsConfig:
        """Shapes from a BEATs state dict (keys without the `beats.` prefix)."""
        need = [
            "patch_embedding.weight",
            "encoder.pos_conv.0.weight_v",
            "encoder.layer_norm.weight",
            "encoder.layers.0.fc1.weight",
            "encoder.layers.0.self_attn.relative_attention_bias.weight",
        ]
        if missing := [k for k in need if k not in sd]:
            raise ValueError(f"BEATs weights lack {missing}: not a BEATs (iter3+ layout) state dict")
        pe, v = sd["patch_embedding.weight"], sd["encoder.pos_conv.0.weight_v"]
        layer_ids = {int(m.group(1)) for k in sd if (m := re.match(r"encoder\.layers\.(\d+)\.", k))}
        bias = sd["encoder.layers.0.self_attn.relative_attention_bias.weight"]
        dim = sd["encoder.layer_norm.weight"].shape[0]
        found = dict(
            patch=pe.shape[-1], embed_dim=pe.shape[0], dim=dim, layers=len(layer_ids),
            heads=bias.shape[1], num_buckets=bias.shape[0], ffn=sd["encoder.layers.0.fc1.weight"].shape[0],
            conv_pos=v.shape[-1], conv_pos_groups=dim // v.shape[1],
            gru_rel_pos="encoder.layers.0.self_attn.grep_a" in sd, conv_bias="patch_embedding.bias" in sd,
            predictor_class=sd["predictor.weight"].shape[0] if "predictor.weight" in sd else 0,
        )  # fmt: skip
        known = {f.name for f in fields(cls)}
        return cls(**{**found, **{k: v for k, v in overrides.items() if k in known}})


def fbank(wave: Tensor) -> Tensor:
    """(frames, 128) normalised kaldi fbank of a 16 kHz wave in [-1, 1]; frames = 1 + (len - 400) // 160."""
    import torchaudio.compliance.kaldi as kaldi

    x = kaldi.fbank(
        wave.float().unsqueeze(0) * 2**15, num_mel_bins=128, sample_frequency=RATE, frame_length=25,
        frame_shift=10,
    )  # fmt: skip
    return (x - FBANK_MEAN) / (2 * FBANK_STD)


def fit_wave(wave: Tensor | None) -> Tensor:
    """At most 300 s, at least 1 s (zero-padded); None (missing audio) -> 1 s of silence."""
    if wave is None:
        return torch.zeros(RATE)
    wave = wave[: MAX_SECONDS * RATE]
    return F.pad(wave, (0, max(0, RATE - wave.shape[0])))


def pool_to(features: Tensor, n: int) -> Tensor:
    """(n, D): features padded with zero rows or cut to 2n rows, then the mean of each pair of rows."""
    x = features[: 2 * n]
    x = F.pad(x, (0, 0, 0, 2 * n - x.shape[0]))
    return x.view(n, 2, -1).mean(dim=1)


def interleave(whisper: Tensor, beats: Tensor) -> Tensor:
    """(2N, H) rows w0, b0, w1, b1, ... of two (N, H) token sequences."""
    return torch.stack([whisper, beats.to(whisper.dtype)], dim=1).reshape(-1, whisper.shape[-1])


def relative_buckets(length: int, num_buckets: int, max_distance: int, device=None) -> Tensor:
    """(length, length) bucket ids of key - query offsets: half the buckets per sign, exact below a
    quarter of them, log-spaced up to max_distance (T5 style, bidirectional); built on `device`."""
    pos = torch.arange(length, device=device)
    rel = pos[None, :] - pos[:, None]
    half = num_buckets // 2
    exact = half // 2
    out = (rel > 0).long() * half
    dist = rel.abs()
    log = torch.log(dist.clamp(min=1).float() / exact) / math.log(max_distance / exact) * (half - exact)
    large = torch.clamp(exact + log.long(), max=half - 1)
    return out + torch.where(dist < exact, dist, large)


class PosConv(nn.Module):
    """Grouped Conv1d over time with weight norm over dim 2 (weight = g * v / |v|), then SamePad, GELU."""

    def __init__(self, dim: int, kernel: int, groups: int) -> None:
        super().__init__()
        self.kernel, self.groups = kernel, groups
        self.weight_v = nn.Parameter(torch.randn(dim, dim // groups, kernel) * 0.02)
        self.weight_g = nn.Parameter(self.weight_v.detach().norm(dim=(0, 1), keepdim=True).clone())
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: Tensor) -> Tensor:  # (B, D, T)
        weight = torch._weight_norm(self.weight_v, self.weight_g, 2)
        y = F.conv1d(x, weight, self.bias, padding=self.kernel // 2, groups=self.groups)
        if self.kernel % 2 == 0:
            y = y[:, :, :-1]
        return F.gelu(y)


class Attention(nn.Module):
    def __init__(self, cfg: BeatsConfig, has_bias: bool) -> None:
        super().__init__()
        d, self.heads = cfg.dim, cfg.heads
        self.k_proj, self.v_proj, self.q_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))
        self.cfg = cfg
        if has_bias:
            self.relative_attention_bias = nn.Embedding(cfg.num_buckets, cfg.heads)
        if cfg.gru_rel_pos:
            self.grep_linear = nn.Linear(d // cfg.heads, 8)
            self.grep_a = nn.Parameter(torch.ones(1, cfg.heads, 1, 1))

    def position_bias(self, length: int) -> Tensor:
        """(heads, L, L) relative-position bias (layer 0 only)."""
        table = self.relative_attention_bias
        buckets = relative_buckets(length, self.cfg.num_buckets, self.cfg.max_distance, table.weight.device)
        return table(buckets).permute(2, 0, 1)

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:  # x (B, L, D), bias (heads, L, L)
        b, n, d = x.shape
        q, k, v = (
            p(x).view(b, n, self.heads, -1).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj)
        )
        bias = bias.unsqueeze(0).to(q.dtype)
        if self.cfg.gru_rel_pos:  # per-query gate on the shared bias, from the unscaled query
            gates = torch.sigmoid(self.grep_linear(q).view(b, self.heads, n, 2, 4).sum(-1))
            gate_a, gate_b = gates.chunk(2, dim=-1)
            bias = (gate_a * (gate_b * self.grep_a - 1.0) + 2.0) * bias
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # softmax(q k / sqrt(hd) + bias) v
        return self.out_proj(out.transpose(1, 2).reshape(b, n, d))


class Layer(nn.Module):
    def __init__(self, cfg: BeatsConfig, has_bias: bool) -> None:
        super().__init__()
        self.self_attn = Attention(cfg, has_bias)
        self.self_attn_layer_norm = nn.LayerNorm(cfg.dim)
        self.fc1, self.fc2 = nn.Linear(cfg.dim, cfg.ffn), nn.Linear(cfg.ffn, cfg.dim)
        self.final_layer_norm = nn.LayerNorm(cfg.dim)
        self.pre_ln = cfg.layer_norm_first
        self.alpha = (2 * cfg.layers) ** 0.25 if cfg.deep_norm else 1.0

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        if self.pre_ln:
            x = x + self.self_attn(self.self_attn_layer_norm(x), bias)
            return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))
        x = self.self_attn_layer_norm(x * self.alpha + self.self_attn(x, bias))
        return self.final_layer_norm(x * self.alpha + self.fc2(F.gelu(self.fc1(x))))


class Encoder(nn.Module):
    def __init__(self, cfg: BeatsConfig) -> None:
        super().__init__()
        self.pos_conv = nn.Sequential(PosConv(cfg.dim, cfg.conv_pos, cfg.conv_pos_groups))
        self.layers = nn.ModuleList(Layer(cfg, has_bias=i == 0) for i in range(cfg.layers))
        self.layer_norm = nn.LayerNorm(cfg.dim)
        self.pre_ln = cfg.layer_norm_first

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.pos_conv(x.transpose(1, 2)).transpose(1, 2)
        if not self.pre_ln:
            x = self.layer_norm(x)
        bias = self.layers[0].self_attn.position_bias(x.shape[1])
        for layer in self.layers:
            x = layer(x, bias)
        return self.layer_norm(x) if self.pre_ln else x


class Beats(nn.Module):
    """The BEATs encoder: `extract(wave)` -> (patches, D) last-layer features of one wave."""

    def __init__(self, cfg: BeatsConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embedding = nn.Conv2d(1, cfg.embed_dim, cfg.patch, stride=cfg.patch, bias=cfg.conv_bias)
        self.layer_norm = nn.LayerNorm(cfg.embed_dim)
        if cfg.embed_dim != cfg.dim:
            self.post_extract_proj = nn.Linear(cfg.embed_dim, cfg.dim)
        self.encoder = Encoder(cfg)
        if cfg.predictor_class:
            self.predictor = nn.Linear(cfg.dim, cfg.predictor_class)  # loaded, never run

    def extract(self, wave: Tensor) -> Tensor:
        """(T // 16 * 8, D) features of one wave; on CUDA in the weights' dtype under its own autocast
        (WAVE: float16), whatever autocast the caller runs."""
        weight = self.patch_embedding.weight
        x = fbank(wave).to(weight.device, weight.dtype)[None, None]  # (1, 1, T, 128)
        cuda_half = weight.device.type == "cuda" and weight.dtype != torch.float32
        with torch.autocast("cuda", dtype=weight.dtype, enabled=cuda_half):
            x = self.patch_embedding(x).flatten(2).transpose(1, 2)  # (1, T//16 * 128//16, E)
            x = self.layer_norm(x)
            if self.cfg.embed_dim != self.cfg.dim:
                x = self.post_extract_proj(x)
            return self.encoder(x)[0]


class BeatsBranch(nn.Module):
    """WAVE's audio branch: `forward(waves, n)` -> (sum n, out_dim) BEATs tokens, n[i] per wave."""

    def __init__(self, cfg: BeatsConfig, out_dim: int) -> None:
        super().__init__()
        self.beats = Beats(cfg)
        self.beats_ln = nn.LayerNorm(cfg.dim)
        self.beats_proj = nn.Sequential(nn.Linear(cfg.dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))

    def forward(self, waves: list[Tensor | None], n_tokens: list[int]) -> Tensor:
        pooled = [pool_to(self.beats.extract(fit_wave(w)), n) for w, n in zip(waves, n_tokens, strict=True)]
        x = torch.cat(pooled).to(self.beats_ln.weight.dtype)
        return self.beats_proj(self.beats_ln(x))


BRANCH_KEY = re.compile(r"(?:^|\.)(beats|beats_ln|beats_proj)\.(.+)$")
ALIASES = (
    ("parametrizations.weight.original0", "weight_g"),
    ("parametrizations.weight.original1", "weight_v"),
    ("modules_to_save.default.", ""),
    ("original_module.", ""),
)


def branch_state(named: dict[str, Tensor]) -> dict[str, Tensor]:
    """The branch's tensors among a checkpoint's, keyed as BeatsBranch names them: any prefix before
    beats. / beats_ln. / beats_proj. dropped (thinker., base_model.model.), PEFT modules_to_save and
    new-style weight-norm names mapped, the shared relative bias kept once (under layer 0)."""
    out: dict[str, Tensor] = {}
    originals = sorted(named, key=lambda k: "original_module." not in k)  # a trained copy wins
    for key in originals:
        m = BRANCH_KEY.search(key)
        if not m:
            continue
        rest = m.group(2)
        for old, new in ALIASES:
            rest = rest.replace(old, new)
        rest = re.sub(
            r"layers\.\d+\.self_attn\.relative_attention_bias",
            "layers.0.self_attn.relative_attention_bias",
            rest,
        )
        out[f"{m.group(1)}.{rest}"] = named[key]
    return out


def load_branch(state: dict[str, Tensor], out_dim: int, **overrides) -> BeatsBranch | None:
    """A BeatsBranch holding `state` (from `branch_state`), or None when it has no BEATs encoder.
    Strict: a missing or unexpected key (or a wrong shape) raises."""
    beats = {k[len("beats.") :]: v for k, v in state.items() if k.startswith("beats.")}
    if not beats:
        return None
    branch = BeatsBranch(BeatsConfig.from_state_dict(beats, **overrides), out_dim)
    result = branch.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"BEATs branch keys do not match: missing {result.missing_keys[:8]}, "
            f"unexpected {result.unexpected_keys[:8]}"
        )
    return branch.float().eval()
