"""Trainer mechanics on tiny synthetic features: masked loss, hard negatives, learning, resume, the cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


import torch.nn.functional as F  # noqa: E402
from resume_runs import full_killed_resumed  # noqa: E402

from omnisearch.config import DecodeConfig  # noqa: E402
from omnisearch.eval.manifest import read_manifest  # noqa: E402
from omnisearch.models.feature_layout import pool_rows  # noqa: E402
from omnisearch.models.heads import MODALITIES, HeadsConfig, OmniHeads  # noqa: E402
from omnisearch.models.omni_lite import OmniLite  # noqa: E402
from omnisearch.models.registry import load_encoder  # noqa: E402
from omnisearch.train.batches import hard_negatives, make_batch, toy_row  # noqa: E402
from omnisearch.train.features import FeatureCache, extract_features, score_features  # noqa: E402
from omnisearch.train.losses import OmniLoss  # noqa: E402
from omnisearch.train.trainer import TrainConfig, TrainModule, train  # noqa: E402

TINY = HeadsConfig(dim=16, hidden=32, dropout=0.1, residual=False)
TRI = ("text", "video", "audio")


def unit(b: int, d: int = 8, seed: int = 0) -> torch.Tensor:
    return F.normalize(torch.randn(b, d, generator=torch.Generator().manual_seed(seed)), dim=-1)


def outputs(b: int = 6) -> dict[str, torch.Tensor]:
    keys = ("text", "video", "audio", "fused", "fused_aug", "fused_hardneg")
    return {k: unit(b, seed=i) for i, k in enumerate(keys)}


@pytest.mark.parametrize("step", [0, 1, 2])
def test_all_true_masks_equal_no_masks(step):
    out = outputs()
    ones = {m: torch.ones(6, dtype=torch.bool) for m in MODALITIES}
    a, pa = OmniLoss(1.0, 0.5, 2.0, 0.05)(out, step, ones, torch.ones(6, dtype=torch.bool))
    b, pb = OmniLoss(1.0, 0.5, 2.0, 0.05)(out, step)
    assert torch.allclose(a, b, atol=1e-6)
    for k in ("loss_align", "loss_distill", "loss_tuple"):
        assert torch.allclose(pa[k], pb[k], atol=1e-6)


def test_masked_rows_are_left_out():
    out = outputs(6)
    masks = {m: torch.ones(6, dtype=torch.bool) for m in MODALITIES}
    masks["video"][4:] = False
    out["video"] = out["video"].clone()
    out["video"][4:] = 0.0
    hn = torch.tensor([True] * 4 + [False] * 2)
    loss = OmniLoss(1.0, 0.0, 0.0, 0.05)
    a, _ = loss(out, 1, masks, hn)
    # L_A by hand: (t,v) and (v,a) over the first 4 rows, (t,a) over all 6
    tv = OmniLoss(1, 0, 0, 0.05)({k: v[:4] for k, v in out.items()}, 1)[1]
    ref = []
    from omnisearch.train.losses import info_nce

    ref.append(info_nce(out["text"][:4], out["video"][:4], 0.05))
    ref.append(info_nce(out["text"], out["audio"], 0.05))
    ref.append(info_nce(out["video"][:4], out["audio"][:4], 0.05))
    assert torch.allclose(a, torch.stack(ref).mean(), atol=1e-5)
    four = [
        info_nce(out[x][:4], out[y][:4], 0.05)
        for x, y in (("text", "video"), ("text", "audio"), ("video", "audio"))
    ]
    assert torch.allclose(tv["loss_align"], torch.stack(four).mean(), atol=1e-6)  # no masks: every row


def test_hard_negatives_derange_within_rows_that_have_the_kind():
    rng = np.random.default_rng(0)
    masks = {"text": np.ones(5, bool), "video": np.array([1, 1, 1, 0, 0], bool), "audio": np.ones(5, bool)}
    inputs = {m: np.arange(5, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32) for m in MODALITIES}
    hn, ok, kinds = hard_negatives(inputs, masks, step=2, rng=rng)  # step 2: shuffle the video
    assert kinds[:3] == ["video"] * 3 and ok.all()
    assert all(hn["video"][i, 0] != i for i in range(3))  # deranged
    assert kinds[3:] == ["text"] * 2  # fallback: next kind of the rotation (text)
    assert set(hn["text"][3:, 0]) == {3.0, 4.0} and hn["text"][3, 0] != 3
    b = make_batch([toy_row(i) for i in range(4)], np.random.default_rng(1), step=1)
    assert b.hardneg_kinds == ["audio"] * 4  # complete tuples: one kind for the whole batch


def test_modality_dropout_in_the_augmented_view():
    from omnisearch.train.augment import AugmentConfig

    rows = [toy_row(i, TRI if i % 3 else ("audio",)) for i in range(9)]
    plain = make_batch(rows, np.random.default_rng(2), step=0)
    assert plain.aug_masks is None  # off by default: the augmented view keeps the clean masks
    b = make_batch(rows, np.random.default_rng(2), step=0, augment=AugmentConfig(drop_modality=1.0))
    for i in range(len(rows)):
        clean = [m for m in MODALITIES if b.masks[m][i]]
        kept = [m for m in MODALITIES if b.aug_masks[m][i]]
        assert set(kept) <= set(clean)
        assert len(kept) == (len(clean) - 1 if len(clean) >= 2 else 1)  # one dropped, never the last
        for m in set(clean) - set(kept):
            assert not b.aug_inputs[m][i].any() and b.inputs[m][i].any()  # zeroed in this view only
    module = TrainModule(OmniHeads(TINY), OmniLoss())
    loss, parts = module(b, 0)
    assert torch.isfinite(loss) and "loss_tuple" in parts


def test_a_few_steps_reduce_the_loss():
    torch.manual_seed(0)
    rows = [toy_row(i, TRI if i % 3 else ("text", "audio")) for i in range(12)]
    module = TrainModule(
        OmniHeads(HeadsConfig(dim=16, hidden=32, dropout=0.0, residual=False)),
        OmniLoss(temperature=0.1),
    )
    opt = torch.optim.AdamW(module.parameters(), lr=1e-2)
    batch = make_batch(rows, np.random.default_rng(0), step=0)
    first = float(module(batch, 0)[0].detach())
    for _ in range(15):
        loss, _ = module(batch, 0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(module(batch, 0)[0].detach()) < 0.5 * first


def _rows() -> list:
    return [toy_row(i, TRI if i % 4 else ("text", "audio")) for i in range(8)]


def test_resumed_run_matches_uninterrupted(tmp_path):
    cfg = TrainConfig(epochs=3, batch_size=4, heads=TINY, log_every=1, cpu=True, warmup_steps=2)

    def killed(part: Path) -> None:  # step 3 is inside epoch 1, after epoch 0's checkpoint
        assert [p.name for p in (part / "checkpoints").iterdir()] == ["epoch-0000"]

    full, resumed = full_killed_resumed(lambda out, **kw: train(_rows(), out, cfg, **kw), tmp_path, 3, killed)
    assert sorted(p.name for p in (tmp_path / "full" / "checkpoints").iterdir()) == [
        "epoch-0001",
        "epoch-0002",
    ]
    assert resumed.steps == full.steps == 6
    a, b = full.heads.state_dict(), resumed.heads.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_model_folder_and_validation(tmp_path):
    feats = [_item_features(i) for i in range(6)]
    cfg = TrainConfig(epochs=2, batch_size=4, heads=TINY, cpu=True, alpha=0.3)
    from omnisearch.train.batches import rows_from_features

    result = train(rows_from_features(feats), tmp_path, cfg, val=feats)
    assert len(result.history) == 2 and "t2av" in result.history[-1]["r1"]
    meta = json.loads((tmp_path / "omnisearch.json").read_text())
    assert meta["alpha"] == 0.3 and meta["train"]["steps"] == 2
    enc = load_encoder(str(tmp_path))
    assert enc.dim == OmniLite.dim + 16
    res = score_features(feats, enc)
    assert res.averages.avg_all is not None and len(res.directions) == 12


def _item_features(i: int):
    from omnisearch.eval.manifest import ManifestItem
    from omnisearch.train.features import ItemFeatures
    from omnisearch.types import Modality

    row = toy_row(i)
    item = ManifestItem(f"c{i}", video=f"/x/{i}.mp4", texts=[f"caption {i}", f"other {i}"])
    media = dict(row.feat, video_vis=pool_rows(row.feat["video_frames"]), derived={})
    mods = frozenset({Modality.TEXT, Modality.VIDEO, Modality.AUDIO})
    return ItemFeatures(item, mods, media, row.captions)


class FakeEncoder:
    """features() without towers: counts calls, derives vectors from the input's length."""

    feature_key = "fake-v1"

    def __init__(self) -> None:
        self.calls = 0

    def features(self, inputs):
        self.calls += 1
        out = []
        for inp in inputs:
            f: dict = {"derived": {"transcript": "hi"}}
            if inp.text:
                f["text_sem"] = np.full(384, len(inp.text), np.float32)
            if inp.audio is not None:
                w = np.ones((2, 512), np.float32) * len(inp.audio)
                f.update(audio_sem=np.ones(384, np.float32), audio_aud=pool_rows(w), audio_windows=w)
            out.append(f)
        return out


def test_feature_cache_extracts_once_and_tracks_content(tmp_path):
    sf = pytest.importorskip("soundfile")
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(8000, np.float32), 16000)
    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "a", "audio": "a.wav", "text": ["x", "yy"]}) + "\n")
    items = read_manifest(tmp_path / "m.jsonl")
    enc = FakeEncoder()
    first = extract_features(items, enc, tmp_path / "cache")
    calls = enc.calls
    again = extract_features(items, enc, tmp_path / "cache")
    assert enc.calls == calls  # everything from the cache
    assert np.array_equal(first[0].media["audio_windows"], again[0].media["audio_windows"])
    assert again[0].media["derived"] == {"transcript": "hi"} and again[0].caption_sem.shape == (2, 384)
    sf.write(wav, np.zeros(4000, np.float32), 16000)  # new content: new key, recomputed
    changed = extract_features(items, enc, tmp_path / "cache")
    assert enc.calls > calls and changed[0].media["audio_windows"][0, 0] == 4000
    cache = FeatureCache(tmp_path / "cache", "fake-v1")
    assert cache.media_key(items[0], {"a"}, DecodeConfig()) != cache.media_key(
        items[0], {"a"}, DecodeConfig(8, 64)
    )


def test_ablation_writes_table_and_json(tmp_path):
    from omnisearch.train.ablation import run_ablation

    feats = [_item_features(i) for i in range(10)]
    base = TrainConfig(batch_size=4, heads=TINY, cpu=True)
    report = run_ablation(feats[:6], feats[6:], tmp_path, seeds=(0, 1), steps=2, base=base)
    assert set(report["table"]) == {"L_A", "L_A+L_D", "L_A+L_T", "L_A+L_D+L_T"}
    assert len(report["runs"]["L_A"]) == 2 and "AVG-dual" in (tmp_path / "ablation.md").read_text()
    assert json.loads((tmp_path / "ablation.json").read_text())["verdict"].startswith("All three vs L_A")
    with pytest.raises(ValueError, match="share"):
        run_ablation(feats[:6], feats[5:], tmp_path, seeds=(0,), steps=1, base=base)


def test_runs_with_other_settings_follow_each_other_in_one_process(tmp_path):
    """accelerate keeps device and precision in a process-wide singleton; the loop resets it per run."""
    rows = _rows()
    first = train(rows, tmp_path / "a", TrainConfig(max_steps=1, batch_size=4, heads=TINY, cpu=True))
    cfg = TrainConfig(max_steps=1, batch_size=4, heads=TINY, cpu=True, mixed_precision="bf16")
    second = train(rows, tmp_path / "b", cfg)
    assert first.steps == second.steps == 1
    assert json.loads((tmp_path / "b" / "omnisearch.json").read_text())["train"]["mixed_precision"] == "bf16"


DDP_SCRIPT = """
import os
import sys
from pathlib import Path
from omnisearch.models.heads import HeadsConfig
from omnisearch.train.batches import toy_row
from omnisearch.train.trainer import TrainConfig, train
rows = [toy_row(i, ("text", "video", "audio") if i % 3 else ("text", "audio")) for i in range(16)]
heads = HeadsConfig(dim=16, hidden=32, residual=False)
cfg = TrainConfig(epochs=2, batch_size=4, cpu=True, heads=heads, log_every=1)
steps = train(rows, sys.argv[1], cfg).steps
(Path(sys.argv[1]).parent / f"rank{os.environ['RANK']}.txt").write_text(f"steps {steps}")
"""


def test_two_processes_train_one_model_folder(tmp_path):
    """torchrun with 2 CPU processes (gloo): global batches split across ranks, negatives gathered."""
    import os
    import subprocess
    import sys

    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(script)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*cmd, str(tmp_path / "run")], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for rank in (0, 1):  # 16 rows / (4 per rank x 2 ranks) x 2 epochs, on both ranks (a file each:
        assert (tmp_path / f"rank{rank}.txt").read_text() == "steps 4"  # their stdout interleaves)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]  # written by rank 0 only
    assert json.loads((tmp_path / "run" / "omnisearch.json").read_text())["train"]["steps"] == 4
