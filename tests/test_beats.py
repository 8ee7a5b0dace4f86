"""The BEATs encoder and WAVE's BEATs branch (omnisearch/models/beats.py) against naive references:
kaldi fbank + normalisation in numpy, pair pooling, relative buckets, the reference attention with its
scaling trick and gate, weight norm; the checkpoint key layout and its loading."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from tiny_checkpoints import TINY_BEATS, beats_state

from omnisearch.models import beats as B


def naive_fbank(wave: np.ndarray) -> np.ndarray:
    """Kaldi fbank written out (povey window, DC removal, pre-emphasis 0.97, 512-point power spectrum,
    128 triangular mel bins on 1127 ln(1 + f/700) from 20 Hz to Nyquist, log), then BEATs' normalisation."""
    x = wave.astype(np.float64) * 2**15
    n = 1 + (len(x) - 400) // 160
    frames = np.stack([x[i * 160 : i * 160 + 400] for i in range(n)])
    frames = frames - frames.mean(axis=1, keepdims=True)
    frames = frames - 0.97 * np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    frames = frames * (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 399)) ** 0.85
    power = np.abs(np.fft.rfft(frames, n=512)) ** 2  # (n, 257)

    def mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)

    lo, hi = mel(20.0), mel(8000.0)
    delta = (hi - lo) / 129
    fft_mel = mel(np.arange(256) * 16000 / 512)
    banks = np.zeros((128, 257))
    for b in range(128):
        left, center, right = lo + b * delta, lo + (b + 1) * delta, lo + (b + 2) * delta
        up, down = (fft_mel - left) / (center - left), (right - fft_mel) / (right - center)
        banks[b, :256] = np.maximum(0.0, np.minimum(up, down))
    energy = np.log(np.maximum(power @ banks.T, np.finfo(np.float32).eps))
    return (energy - 15.41663) / (2 * 6.55582)


def test_fbank_matches_a_naive_kaldi_fbank_and_normalisation():
    rng = np.random.default_rng(0)
    wave = 0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000) + 0.05 * rng.standard_normal(16000)
    mine = B.fbank(torch.from_numpy(wave.astype(np.float32))).numpy()
    ref = naive_fbank(wave.astype(np.float32))
    assert mine.shape == ref.shape == (98, 128)  # 1 + (16000 - 400) // 160 frames
    np.testing.assert_allclose(mine, ref, atol=1e-4)  # measured: 1.5e-5


def test_pool_to_matches_a_naive_loop_padding_and_cutting():
    rng = np.random.default_rng(1)
    for rows, n in ((7, 5), (10, 5), (13, 5), (1, 3)):
        x = rng.standard_normal((rows, 4)).astype(np.float32)
        padded = [x[i] if i < rows else np.zeros(4, np.float32) for i in range(2 * n)]
        ref = np.stack([(padded[2 * i] + padded[2 * i + 1]) / 2 for i in range(n)])
        np.testing.assert_allclose(B.pool_to(torch.from_numpy(x), n).numpy(), ref, atol=1e-6)


def test_interleave_order_and_missing_or_short_audio_is_silence_to_one_second():
    w, b = torch.arange(6.0).view(3, 2), -torch.arange(6.0).view(3, 2)
    assert B.interleave(w, b)[:, 0].tolist() == [0, -0, 2, -2, 4, -4]  # w0, b0, w1, b1, w2, b2
    assert torch.equal(B.fit_wave(None), torch.zeros(16000))
    short = torch.ones(4800)
    assert torch.equal(B.fit_wave(short), torch.cat([short, torch.zeros(11200)]))
    assert B.fit_wave(torch.ones(301 * 16000)).shape[0] == 300 * 16000


def naive_bucket(rel: int, num_buckets: int, max_distance: int) -> int:
    half = num_buckets // 2
    exact = half // 2
    out = half if rel > 0 else 0
    d = abs(rel)
    if d < exact:
        return out + d
    return out + min(
        half - 1, exact + int(math.log(d / exact) / math.log(max_distance / exact) * (half - exact))
    )


def test_relative_buckets_match_the_t5_formula():
    got = B.relative_buckets(1200, 320, 800)
    for q, k in ((0, 0), (0, 5), (5, 0), (0, 79), (0, 80), (0, 81), (3, 900), (1100, 2), (0, 1199)):
        assert int(got[q, k]) == naive_bucket(k - q, 320, 800), (q, k)


def test_attention_equals_the_reference_formulation():
    """SDPA + gate == BEATs' own arithmetic: q * scaling / 32, (qk - max) * 32, + gated bias, softmax."""
    torch.manual_seed(0)
    cfg = B.BeatsConfig(**TINY_BEATS)
    att = B.Attention(cfg, has_bias=True).eval()
    for p in att.parameters():
        p.data.normal_(0, 0.3)
    x = torch.randn(1, 9, cfg.dim)
    bias = att.position_bias(9)
    with torch.no_grad():
        mine = att(x, bias)
        h, hd = cfg.heads, cfg.dim // cfg.heads
        scaling = hd**-0.5
        q = (att.q_proj(x) * scaling / 32).view(9, h, hd).transpose(0, 1)
        k = att.k_proj(x).view(9, h, hd).transpose(0, 1)
        v = att.v_proj(x).view(9, h, hd).transpose(0, 1)
        w = q @ k.transpose(1, 2)
        w = (w - w.max(dim=-1, keepdim=True)[0]) * 32
        raw_q = q * 32 / scaling
        gate_a, gate_b = torch.sigmoid(att.grep_linear(raw_q).view(h, 9, 2, 4).sum(-1)).chunk(2, dim=-1)
        gate = gate_a * (gate_b * att.grep_a[0] - 1.0) + 2.0
        ref = att.out_proj(
            (torch.softmax(w + gate * bias, dim=-1) @ v).transpose(0, 1).reshape(1, 9, cfg.dim)
        )
    torch.testing.assert_close(mine, ref, atol=1e-5, rtol=1e-5)


def test_pos_conv_weight_norm_and_same_pad():
    conv = B.PosConv(8, kernel=4, groups=2)
    conv.weight_g.data = torch.rand(1, 1, 4) + 0.5
    v, g = conv.weight_v.detach(), conv.weight_g.detach()
    weight = v * g / v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()
    x = torch.randn(1, 8, 10)
    ref = torch.nn.functional.gelu(torch.nn.functional.conv1d(x, weight, conv.bias, padding=2, groups=2))[
        ..., :-1
    ]
    torch.testing.assert_close(conv(x), ref)
    assert conv(x).shape == x.shape  # even kernel: the extra frame is cut (SamePad)


EXPECTED_LAYER = [
    "fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight", "final_layer_norm.bias", "final_layer_norm.weight",
    "self_attn.grep_a", "self_attn.grep_linear.bias", "self_attn.grep_linear.weight",
    "self_attn.k_proj.bias", "self_attn.k_proj.weight", "self_attn.out_proj.bias",
    "self_attn.out_proj.weight",
    "self_attn.q_proj.bias", "self_attn.q_proj.weight", "self_attn.v_proj.bias", "self_attn.v_proj.weight",
    "self_attn_layer_norm.bias", "self_attn_layer_norm.weight",
]  # fmt: skip


def test_real_shapes_and_key_list_of_the_wave_branch():
    """BEATs iter3+ AS2M (fine-tuned, 527 classes) under WAVE-7B's beats_ln / beats_proj (H = 3584),
    built on the meta device: the names and shapes of unilm's BEATs.py / backbone.py and WAVE's thinker."""
    with torch.device("meta"):
        branch = B.BeatsBranch(B.BeatsConfig(predictor_class=527), out_dim=3584)
    sd = branch.state_dict()
    top = sorted(k for k in sd if not k.startswith("beats.encoder.layers."))
    assert top == [
        "beats.encoder.layer_norm.bias", "beats.encoder.layer_norm.weight", "beats.encoder.pos_conv.0.bias",
        "beats.encoder.pos_conv.0.weight_g", "beats.encoder.pos_conv.0.weight_v", "beats.layer_norm.bias",
        "beats.layer_norm.weight", "beats.patch_embedding.weight", "beats.post_extract_proj.bias",
        "beats.post_extract_proj.weight", "beats.predictor.bias", "beats.predictor.weight", "beats_ln.bias",
        "beats_ln.weight", "beats_proj.0.bias", "beats_proj.0.weight", "beats_proj.2.bias",
        "beats_proj.2.weight",
    ]  # fmt: skip
    for i in range(12):
        mine = sorted(k.split(f"layers.{i}.", 1)[1] for k in sd if k.startswith(f"beats.encoder.layers.{i}."))
        extra = ["self_attn.relative_attention_bias.weight"] if i == 0 else []
        assert mine == sorted(EXPECTED_LAYER + extra)
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    assert shapes["beats.patch_embedding.weight"] == (512, 1, 16, 16)
    assert shapes["beats.post_extract_proj.weight"] == (768, 512)
    assert shapes["beats.encoder.pos_conv.0.weight_v"] == (768, 48, 128)
    assert shapes["beats.encoder.pos_conv.0.weight_g"] == (1, 1, 128)
    assert shapes["beats.encoder.layers.0.self_attn.relative_attention_bias.weight"] == (320, 12)
    assert shapes["beats.encoder.layers.3.self_attn.grep_linear.weight"] == (8, 64)
    assert shapes["beats.encoder.layers.3.fc1.weight"] == (3072, 768)
    assert shapes["beats.predictor.weight"] == (527, 768)
    assert shapes["beats_ln.weight"] == (768,)
    assert shapes["beats_proj.0.weight"] == (3584, 768) and shapes["beats_proj.2.weight"] == (3584, 3584)
    n_beats = sum(
        v.numel() for k, v in sd.items() if k.startswith("beats.") and "layers.0.self_attn.rel" not in k
    )
    assert 90e6 < n_beats < 91e6  # BEATs' ~90M parameters
    assert (
        B.BeatsConfig.from_state_dict({k[6:]: v for k, v in sd.items() if k.startswith("beats.")})
        == branch.beats.cfg
    )


def test_checkpoint_names_map_and_load_strictly():
    """A thinker-prefixed base, the shared relative bias saved under every layer, old or new weight-norm
    names, PEFT modules_to_save copies: all land; a stray BEATs key raises."""
    base = beats_state(32, seed=1, prefix="thinker.")
    bias = base["thinker.beats.encoder.layers.0.self_attn.relative_attention_bias.weight"]
    base["thinker.beats.encoder.layers.1.self_attn.relative_attention_bias.weight"] = bias
    g = base.pop("thinker.beats.encoder.pos_conv.0.weight_g")
    base["thinker.beats.encoder.pos_conv.0.parametrizations.weight.original0"] = g
    adapter = beats_state(32, seed=2, prefix="base_model.model.")
    trained = {
        k.replace("beats_ln.", "beats_ln.modules_to_save.default."): v
        for k, v in adapter.items()
        if "beats_ln." in k
    }
    original = {
        k.replace("beats_ln.", "beats_ln.original_module."): v * 0
        for k, v in adapter.items()
        if "beats_ln." in k
    }
    state = B.branch_state({**base, "thinker.model.audio_tower.conv1.weight": torch.zeros(1)})
    state.update(B.branch_state({**trained, **original}))
    branch = B.load_branch(state, 32)
    assert branch is not None and branch.beats.cfg.layers == 2 and branch.beats.cfg.predictor_class == 5
    torch.testing.assert_close(
        branch.beats_ln.weight, adapter["base_model.model.beats_ln.weight"]
    )  # trained copy
    torch.testing.assert_close(branch.beats.encoder.pos_conv[0].weight_g, g)
    assert B.load_branch(B.branch_state({"model.audio_tower.conv1.weight": torch.zeros(1)}), 32) is None
    with pytest.raises(ValueError, match="unexpected"):
        B.load_branch({**state, "beats.encoder.mystery.weight": torch.zeros(1)}, 32)
    with pytest.raises(ValueError, match="missing"):
        B.load_branch({k: v for k, v in state.items() if "fc2" not in k}, 32)
    with pytest.raises(ValueError, match="lack"):
        B.load_branch({k: v for k, v in state.items() if "relative_attention_bias" not in k}, 32)


def test_branch_shapes_pooling_to_n_and_determinism():
    branch = B.load_branch(B.branch_state(beats_state(24)), 24)
    rng = np.random.default_rng(3)
    waves = [
        torch.from_numpy((rng.standard_normal(n) * 0.1).astype(np.float32)) for n in (64000, 16000, 4000)
    ]
    with torch.no_grad():
        assert branch.beats.extract(waves[0]).shape == (192, 32)  # 398 fbank frames -> 24 x 8 patches
        out = branch(waves, [100, 25, 25])
        again = branch(waves, [100, 25, 25])
        alone = branch([waves[1]], [25])
        silent = branch([None], [25])
    assert out.shape == (150, 24) and torch.equal(out, again)
    torch.testing.assert_close(out[100:125], alone)
    torch.testing.assert_close(silent, branch([torch.zeros(16000)], [25]))


def reference_extract(sd: dict, cfg: B.BeatsConfig, wave: torch.Tensor) -> torch.Tensor:
    """BEATs' forward written out from its public code's arithmetic on raw tensors, (T, B, C) layout:
    patches, LN, projection, x + GELU(weight-normed conv), LN, post-LN deep-norm layers whose attention
    uses the q / 32, (qk - max) * 32 trick and the gated bias of layer 0 passed on to every layer."""
    f = torch.nn.functional
    x = f.conv2d(B.fbank(wave)[None, None], sd["patch_embedding.weight"], stride=cfg.patch)
    x = x.reshape(1, cfg.embed_dim, -1).transpose(1, 2)
    x = f.layer_norm(x, (cfg.embed_dim,), sd["layer_norm.weight"], sd["layer_norm.bias"])
    x = f.linear(x, sd["post_extract_proj.weight"], sd["post_extract_proj.bias"])
    v, g = sd["encoder.pos_conv.0.weight_v"], sd["encoder.pos_conv.0.weight_g"]
    w = v * g / v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()
    conv = f.conv1d(
        x.transpose(1, 2),
        w,
        sd["encoder.pos_conv.0.bias"],
        padding=cfg.conv_pos // 2,
        groups=cfg.conv_pos_groups,
    )
    x = x + f.gelu(conv[..., :-1] if cfg.conv_pos % 2 == 0 else conv).transpose(1, 2)
    x = f.layer_norm(x, (cfg.dim,), sd["encoder.layer_norm.weight"], sd["encoder.layer_norm.bias"]).transpose(
        0, 1
    )
    n, h, hd = x.shape[0], cfg.heads, cfg.dim // cfg.heads
    by_offset = torch.tensor([naive_bucket(o, cfg.num_buckets, cfg.max_distance) for o in range(1 - n, n)])
    offsets = torch.arange(n)[None, :] - torch.arange(n)[:, None] + n - 1
    pos_bias = sd["encoder.layers.0.self_attn.relative_attention_bias.weight"][by_offset[offsets]].permute(
        2, 0, 1
    )
    alpha = (2 * cfg.layers) ** 0.25
    for i in range(cfg.layers):
        p = {
            k.split(f"encoder.layers.{i}.", 1)[1]: t
            for k, t in sd.items()
            if k.startswith(f"encoder.layers.{i}.")
        }

        def lin(name, t, p=p):
            return f.linear(t, p[f"{name}.weight"], p[f"{name}.bias"])

        q = (lin("self_attn.q_proj", x) * hd**-0.5 / 32).view(n, h, hd).transpose(0, 1)
        k = lin("self_attn.k_proj", x).view(n, h, hd).transpose(0, 1)
        val = lin("self_attn.v_proj", x).view(n, h, hd).transpose(0, 1)
        att = torch.bmm(q, k.transpose(1, 2))
        att = (att - att.max(dim=-1, keepdim=True)[0]) * 32
        raw = q * 32 / hd**-0.5
        gates = torch.sigmoid(lin("self_attn.grep_linear", raw).view(h, n, 2, 4).sum(-1))
        gate = gates[..., :1] * (gates[..., 1:] * p["self_attn.grep_a"][0] - 1.0) + 2.0
        att = torch.softmax(att + gate * pos_bias, dim=-1)
        out = lin("self_attn.out_proj", torch.bmm(att, val).transpose(0, 1).reshape(n, 1, cfg.dim))
        ln1, ln2 = ("self_attn_layer_norm", "final_layer_norm")
        x = f.layer_norm(x * alpha + out, (cfg.dim,), p[f"{ln1}.weight"], p[f"{ln1}.bias"])
        y = lin("fc2", f.gelu(lin("fc1", x)))
        x = f.layer_norm(x * alpha + y, (cfg.dim,), p[f"{ln2}.weight"], p[f"{ln2}.bias"])
    return x[:, 0]


def test_the_encoder_equals_the_reference_forward_past_max_distance():
    """17 s of audio: 1698 fbank frames -> 848 patches, so offsets reach past max_distance (800)."""
    branch = B.load_branch(B.branch_state(beats_state(24, seed=9)), 24)
    sd = {k[len("beats.") :]: v for k, v in branch.state_dict().items() if k.startswith("beats.")}
    wave = torch.from_numpy((np.random.default_rng(5).standard_normal(17 * 16000) * 0.1).astype(np.float32))
    with torch.no_grad():
        mine = branch.beats.extract(wave)
        ref = reference_extract(sd, branch.beats.cfg, wave)
    assert mine.shape == ref.shape == (848, 32)
    torch.testing.assert_close(mine, ref, atol=2e-5, rtol=1e-4)
