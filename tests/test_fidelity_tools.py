"""The diagnosis' subset cosines against a naive loop, and the ablation presets' run reuse."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

from omnisearch.eval.manifest import ManifestItem  # noqa: E402
from omnisearch.models.feature_layout import OmniLiteLayout, head_inputs  # noqa: E402
from omnisearch.models.heads import MODALITIES, HeadsConfig, OmniHeads  # noqa: E402
from omnisearch.train.ablation import VARIANTS  # noqa: E402
from omnisearch.train.batches import toy_row  # noqa: E402
from omnisearch.train.diagnose import subset_cosines  # noqa: E402
from omnisearch.train.features import ItemFeatures  # noqa: E402
from omnisearch.train.fidelity import PRESETS, config, derives  # noqa: E402
from omnisearch.types import Modality  # noqa: E402


def feats(n: int = 5) -> list[ItemFeatures]:
    out = []
    for i in range(n):
        mods = ("text", "video", "audio") if i < n - 1 else ("text", "audio")  # the last one is partial
        r = toy_row(i, mods)
        item = ManifestItem(r.id, texts=[f"caption {i}", f"other {i}"])
        out.append(ItemFeatures(item, frozenset(Modality(m) for m in mods), dict(r.feat), r.captions))
    return out


def test_subset_cosines_match_a_naive_loop_for_the_mean_fusion():
    torch.manual_seed(0)
    heads = OmniHeads(HeadsConfig(fusion_init="mean"))
    fs = feats()
    got = subset_cosines(heads, fs, OmniLiteLayout())
    complete = [f.unit("tva") for f in fs if all(f.has(m) for m in MODALITIES)]
    inputs, masks = head_inputs(complete, OmniLiteLayout())
    e = heads.eval().embed(inputs, masks)

    def unit(x):
        return x / np.linalg.norm(x)

    for pair, name in ((("text", "video"), "tv"), (("text", "audio"), "ta"), (("video", "audio"), "av")):
        (rest,) = [m for m in MODALITIES if m not in pair]
        cos, dual = [], []
        for i in range(len(complete)):
            fused_pair = unit(e[pair[0]][i] + e[pair[1]][i])
            full = unit(sum(e[m][i] for m in MODALITIES))
            cos.append(float(fused_pair @ full))
            dual.append(float(e[rest][i] @ fused_pair))
        assert got[f"cos_{name}"] == pytest.approx(np.mean(cos), abs=1e-4)
        assert got[f"dual_{rest}"] == pytest.approx(np.mean(dual), abs=1e-4)


def test_presets_reuse_only_runs_they_cannot_change():
    assert derives("faithful+pairs", "L_A") == "faithful"  # pair views only touch L_T
    assert derives("faithful+pairs", "L_A+L_D") == "faithful"
    assert derives("faithful+pairs", "L_A+L_T") is None
    assert derives("faithful+complement", "L_A+L_T") == "faithful"
    assert derives("faithful+complement", "L_A+L_D+L_T") is None
    assert all(derives("all-fixes", v) is None for v in VARIANTS)  # mean init changes every variant
    assert config("all-fixes").heads.fusion_init == "mean"
    assert config("before").objective == PRESETS["before"].objective


def test_claim_rows_are_difference_over_standard_error():
    from omnisearch.eval.directions import ALL
    from omnisearch.train.ablation import summarize
    from omnisearch.train.fidelity import BASE, claim_markdown, claim_rows

    def run(v: float) -> dict:
        return {"r1": {d: v for d in ALL}, "avg_single": v, "avg_dual": v + 1, "avg_all": v + 0.5}

    runs = {"L_A": [run(40.0), run(42.0)], "L_A+L_D+L_T": [run(44.0), run(47.0), run(44.0)]}
    report = summarize(runs, 10, 5, 3, BASE)
    d, z = claim_rows(report)["t2av"]
    a, b = np.array([40.0, 42.0]), np.array([44.0, 47.0, 44.0])
    se = np.sqrt(b.var(ddof=1) / 3 + a.var(ddof=1) / 2)
    assert d == pytest.approx(b.mean() - a.mean()) and z == pytest.approx((b.mean() - a.mean()) / se)
    assert "| x | " in claim_markdown({"x": report})


def test_tie_presets_reuse_the_mean_start_and_scale_l_t():
    from omnisearch.train.fidelity import variants

    assert derives("faithful+mean-init", "L_A") == "all-fixes"  # same mean start, L_A alone
    assert derives("faithful+mean-init", "L_A+L_D") is None
    for name in ("mean+frozen", "mean+gated", "mean+target", "mean+wt0.3"):
        assert derives(name, "L_A+L_D") == "faithful+mean-init"
        assert derives(name, "L_A+L_D+L_T") is None
    assert derives("mean+distill-grad", "L_A+L_T") == "faithful+mean-init"
    assert derives("mean+distill-grad", "L_A+L_D") is None
    assert variants("mean+wt0.3")["L_A+L_D+L_T"] == (1.0, 1.0, 0.3)
    assert variants("mean+target")["L_A+L_T"] == (1.0, 0.0, 1.0)
    assert config("mean+frozen").heads.train_fusion is False
    assert config("mean+gated").heads.fusion_init == "gated"
    assert config("mean+target").objective.tuple_target == "mean"


def test_parent_runs_missing_are_an_error_only_when_required(tmp_path):
    import json

    from omnisearch.train.fidelity import _load

    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "ablation.json").write_text(json.dumps({"runs": {"L_A": [{"seed": 0}]}}))
    assert _load(tmp_path, "p", "L_A") == [{"seed": 0}]
    assert _load(tmp_path, "p", "L_A+L_D", required=False) is None
    with pytest.raises(FileNotFoundError, match="must run first"):
        _load(tmp_path, "p", "L_A+L_D")


def test_a_variant_whose_parent_has_not_run_is_trained(tmp_path):
    from dataclasses import replace

    from omnisearch.train.fidelity import BASE, run_presets

    def ta(i: int) -> ItemFeatures:  # text + audio: what omni-lite scores from toy features
        r = toy_row(i, ("text", "audio"))
        item = ManifestItem(r.id, texts=[f"caption {i}"])
        return ItemFeatures(item, frozenset({Modality.TEXT, Modality.AUDIO}), dict(r.feat), r.captions)

    train, test = [ta(i) for i in range(5)], [ta(i) for i in range(5, 8)]
    small = replace(BASE, batch_size=4, heads=replace(BASE.heads, hidden=16))
    reports = run_presets(train, test, tmp_path, ["mean+target"], [0], 2, small, only=["L_A"])
    runs = reports["mean+target"]["runs"]
    assert list(runs) == ["L_A"] and len(runs["L_A"]) == 1  # faithful+mean-init never ran: trained here
    assert (tmp_path / "mean+target" / "ablation.json").is_file()
