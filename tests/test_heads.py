"""Heads: shapes, normalisation, missing-modality masking, fusion sensitivity, save/load, the blend."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


from omnisearch.models.feature_layout import OmniLiteLayout, head_inputs, pool_rows  # noqa: E402
from omnisearch.models.heads import (  # noqa: E402
    INPUT_DIMS,
    MODALITIES,
    HeadsBlend,
    HeadsConfig,
    OmniHeads,
    load_heads,
    save_heads,
)
from omnisearch.models.omni_lite import OmniLite  # noqa: E402
from omnisearch.models.registry import load_encoder  # noqa: E402
from omnisearch.models.seen import LOOK_DIM  # noqa: E402
from omnisearch.types import Modality  # noqa: E402

CFG = HeadsConfig(dim=16, hidden=32, dropout=0.0, residual=False)


def heads(seed: int = 0) -> OmniHeads:
    torch.manual_seed(seed)
    return OmniHeads(CFG).eval()


def batch(b: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {m: torch.randn(b, n, generator=g) for m, n in INPUT_DIMS.items()}


def full(b: int = 3) -> dict[str, torch.Tensor]:
    return {m: torch.ones(b, dtype=torch.bool) for m in MODALITIES}


def fake_features(seed: int, mods=("text", "video", "audio")) -> dict:
    g = np.random.default_rng(seed)
    f: dict = {"derived": {}}
    if "text" in mods:
        f["text_sem"] = g.normal(size=384).astype(np.float32)
    if "video" in mods:
        look = g.random((4, LOOK_DIM))
        f.update(video_sem=g.normal(size=384), video_vis=pool_rows(look), video_frames=look)
    if "audio" in mods:
        w = g.normal(size=(3, 512))
        f.update(audio_sem=g.normal(size=384), audio_aud=pool_rows(w), audio_windows=w)
    return {k: (np.asarray(v, np.float32) if k != "derived" else v) for k, v in f.items()}


def test_shapes_and_unit_norm():
    out = heads()(batch(), full())
    assert set(out) == {"text", "video", "audio", "fused"}
    for v in out.values():
        assert v.shape == (3, 16)
        assert torch.allclose(v.norm(dim=-1), torch.ones(3), atol=1e-5)


def test_missing_modality_is_zero_and_ignored_by_fusion():
    h, x = heads(), batch()
    masks = full()
    masks["video"] = torch.tensor([True, False, True])
    out = h(x, masks)
    assert float(out["video"][1].detach().abs().sum()) == 0.0
    garbage = dict(x, video=x["video"].clone())
    garbage["video"][1] = 100.0 * torch.randn(INPUT_DIMS["video"])
    out2 = h(garbage, masks)
    assert torch.allclose(out["fused"], out2["fused"], atol=1e-6)
    # a row with only text: fused is defined and normalised
    only_text = {m: torch.tensor([m == "text"] * 3) for m in MODALITIES}
    fused = h(x, only_text)["fused"]
    assert torch.allclose(fused.norm(dim=-1), torch.ones(3), atol=1e-5)
    with pytest.raises(ValueError):
        h(x, {m: torch.zeros(3, dtype=torch.bool) for m in MODALITIES})


@pytest.mark.parametrize("modality", MODALITIES)
def test_fused_changes_when_any_modality_changes(modality):
    h, x = heads(), batch()
    changed = dict(x)
    changed[modality] = x[modality] + torch.randn_like(x[modality])
    a, b = h(x, full())["fused"], h(changed, full())["fused"]
    assert (a - b).abs().max(dim=-1).values.min() > 1e-4  # every row moved


def test_save_load_round_trip(tmp_path):
    h = heads(3)
    save_heads(tmp_path, h, alpha=0.25, note="x")
    cfg = json.loads((tmp_path / "omnisearch.json").read_text())
    assert cfg["encoder"] == "omni-lite" and cfg["alpha"] == 0.25 and cfg["note"] == "x"
    loaded, meta = load_heads(tmp_path)
    x = batch()
    assert torch.equal(h(x, full())["fused"], loaded(x, full())["fused"])
    assert meta.heads["dim"] == 16 and meta.extra == {"note": "x"}
    cfg_file = save_heads(tmp_path / "half", h, alpha=0.25, dtype="float16", stem="tuned")
    assert cfg_file.name == "tuned.json" and (tmp_path / "half" / "tuned.safetensors").is_file()
    half, meta = load_heads(cfg_file)
    assert meta.dtype == "float16" and next(half.parameters()).dtype == torch.float32
    assert torch.allclose(h(x, full())["fused"], half(x, full())["fused"], atol=5e-3)


def test_head_inputs_from_features():
    feats = [fake_features(0), fake_features(1, ("text", "audio"))]
    inputs, masks = head_inputs(feats, OmniLiteLayout())
    assert {m: v.shape[1] for m, v in inputs.items()} == INPUT_DIMS
    assert masks["video"].tolist() == [True, False] and not inputs["video"][1].any()
    assert np.allclose(inputs["audio"][0][384:], feats[0]["audio_aud"])
    crop = OmniLiteLayout().modality_input("audio", feats[0], rows=feats[0]["audio_windows"])
    assert np.allclose(crop, inputs["audio"][0], atol=1e-6)  # pooled windows == the clip vector


def test_model_folder_loads_via_load_encoder_and_blends(tmp_path):
    h = heads(1)
    save_heads(tmp_path, h, alpha=0.5)
    enc = load_encoder(str(tmp_path))
    assert enc.dim == OmniLite.dim + 16 and "+h" in enc.version and enc.name == "omni-lite+heads"
    feats = [fake_features(0), fake_features(1, ("text", "audio")), fake_features(2, ("video",))]
    embs = enc.project(feats)
    plain = load_encoder("omni-lite").project(feats)
    head_only = HeadsBlend(h, 0.0).blend(feats, [e.vectors for e in plain])
    for e, p, ho in zip(embs, plain, head_only, strict=True):
        assert set(e.vectors) == set(p.vectors)
        for mod, v in e.vectors.items():
            assert v.shape == (OmniLite.dim + 16,) and abs(float(np.linalg.norm(v)) - 1) < 1e-5
            assert np.allclose(v[: OmniLite.dim], np.sqrt(0.5) * p.vectors[mod], atol=1e-6)
            assert np.allclose(v[OmniLite.dim :], np.sqrt(0.5) * ho[mod], atol=1e-6)
    assert Modality.FUSED in embs[1].vectors
    save_heads(tmp_path / "h0", h, alpha=0.0)
    assert load_encoder(str(tmp_path / "h0")).dim == 16
