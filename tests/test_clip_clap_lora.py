"""clip-clap joint mode (LoRA on the CLIP + CLAP towers trained with heads + fusion) on tiny random
checkpoints: the torch head inputs equal ClipClapLayout's, what trains, resume, and the model folder
(load_encoder merges the adapters and attaches the heads: the trained vectors)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

from lora_cases import assert_short_runs_equal, fit_one_batch, short_runs, synth_row  # noqa: E402

from omnisearch.models.feature_layout import ClipClapLayout, head_inputs  # noqa: E402
from omnisearch.models.registry import load_encoder  # noqa: E402
from omnisearch.train.augment import AugmentConfig  # noqa: E402
from omnisearch.train.clip_clap_lora import (  # noqa: E402
    ClipClapLoraConfig,
    ClipClapLoraTask,
    layout_input,
    text_block,
    train_clip_clap_lora,
)
from omnisearch.types import EncoderInput, Modality  # noqa: E402

MODS = ("text", "video", "audio")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from tiny_checkpoints import build_clip_clap

    return build_clip_clap(tmp_path_factory.mktemp("cc-lora-base"))


def _items() -> list[EncoderInput]:
    full, audio_only = synth_row(30), synth_row(31, ("audio",), seconds=12.0)  # > 10 s: two CLAP windows
    v, a = full.media()["v"], full.media()["a"]
    return [
        EncoderInput(text="a dog barks", frames=v, audio=a),
        EncoderInput(text="  rain on a roof "),
        EncoderInput(frames=v[:3]),
        EncoderInput(audio=audio_only.media()["a"]),
        EncoderInput(text="a dog barks", audio=a),  # a repeated caption and audio array
    ]


# ---- the torch layout ----------------------------------------------------------------------------
def test_torch_layout_equals_the_numpy_one():
    from omnisearch.models.fusion import blocks_vector

    g = np.random.default_rng(0)
    lay = ClipClapLayout(clip_dim=5, clap_dim=3)
    frames, windows = g.normal(size=(4, 5)).astype(np.float32), g.normal(size=(2, 3)).astype(np.float32)
    for m, rows in (("video", frames), ("audio", windows), ("video", frames[:1])):
        want = lay.modality_input(m, {"video_frames": rows, "audio_windows": rows})
        got = layout_input(lay, m, torch.from_numpy(rows)).numpy()
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert got.shape == (lay.base_dim,)
    clip, clap = g.normal(size=(2, 5)).astype(np.float32), g.normal(size=(2, 3)).astype(np.float32)
    block = text_block(torch.from_numpy(clip), torch.from_numpy(clap))
    for i in range(2):  # what ClipClap.features stores as text_sem
        want = blocks_vector([(clip[i], 0.5, 5), (clap[i], 0.5, 3)])
        got = layout_input(lay, "text", block[i]).numpy()
        np.testing.assert_allclose(got, lay.modality_input("text", {"text_sem": want}), atol=1e-6)


def test_training_head_inputs_equal_the_encoders(folder):
    """Before training (LoRA B = 0) the grad-enabled path gives the head inputs inference gives."""
    task = ClipClapLoraTask(ClipClapLoraConfig(), 1, folder, device="cpu")
    items = _items()
    plain = load_encoder(str(folder))
    want, want_masks = head_inputs(plain.features(items), plain.feature_layout)
    got, masks = task.module.head_inputs(items)
    for m in MODS:
        assert masks[m].tolist() == want_masks[m].tolist()
        np.testing.assert_allclose(got[m].detach().numpy(), want[m], atol=2e-5)
    assert got["text"].requires_grad and got["audio"].requires_grad


# ---- what trains ---------------------------------------------------------------------------------
def test_only_lora_and_heads_train_and_the_loss_falls(folder):
    from omnisearch.models.heads import HeadsConfig

    torch.manual_seed(0)
    heads = HeadsConfig.for_layout(ClipClapLayout(16, 16), dropout=0.0)
    task = ClipClapLoraTask(ClipClapLoraConfig(lora_dropout=0.0, heads=heads), 1, folder, device="cpu")
    module = task.module
    trainable = {n for n, p in module.named_parameters() if p.requires_grad}
    lora = {n for n in trainable if ".lora_" in n}
    assert trainable - lora == {n for n, _ in module.heads.named_parameters(prefix="heads")}
    clip = {n for n in lora if n.startswith("clip.") and ".lora_A" in n}
    clap = {n for n in lora if n.startswith("clap.") and ".lora_A" in n}
    for tower in ("text_model", "vision_model"):  # 2 layers x q/k/v/out_proj
        assert sum(f".{tower}.encoder.layers." in n for n in clip) == 8
    assert sum(".text_model.encoder.layer." in n for n in clap) == 8  # query/key/value/output.dense
    assert sum(".audio_model.audio_encoder.layers." in n for n in clap) == 8
    assert len(lora) == 2 * (len(clip) + len(clap))
    assert not module.clip.training and not module.clap.training  # the towers stay in eval mode
    params = {n: p.detach().clone() for n, p in module.named_parameters()}
    buffers = {n: b.detach().clone() for n, b in module.named_buffers()}
    losses = fit_one_batch(task, steps=5)
    assert losses[-1] < losses[0]
    for n, p in module.named_parameters():
        changed = not torch.equal(p.detach(), params[n])
        if n in trainable and "lora_B" in n:
            assert changed, n  # every LoRA B moved off zero
        if n not in trainable:
            assert not changed, n  # the frozen towers are bitwise unchanged
    assert all(torch.equal(b, buffers[n]) for n, b in module.named_buffers())  # CLAP BatchNorm stats too
    assert len(module.state_dict()) == len(trainable)  # checkpoints hold the trainable tensors only


def test_modality_dropout_in_the_augmented_view(folder):
    cfg = ClipClapLoraConfig(augment=AugmentConfig(drop_modality=1.0))
    task = ClipClapLoraTask(cfg, 1, folder, device="cpu")
    rows = [synth_row(i) for i in range(3)] + [synth_row(3, ("audio",))]
    batch = task.make_batch(rows, np.random.default_rng(0), step=0)
    assert [len(a.modalities()) for a in batch.aug] == [2, 2, 2, 1]
    assert [len(c.modalities()) for c in batch.clean] == [3, 3, 3, 1]


# ---- resume and the model folder -----------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(folder, tmp_path_factory):
    return short_runs(
        train_clip_clap_lora, ClipClapLoraConfig, folder, tmp_path_factory.mktemp("cc-lora-runs")
    )


def test_resumed_run_matches_uninterrupted(runs):
    adapters = tuple(f"{tower}_lora/adapter_model.safetensors" for tower in ("clip", "clap"))
    assert_short_runs_equal(runs, (*adapters, "heads.safetensors"))


def test_model_folder_loads_with_merged_adapters_and_heads(runs, folder):
    root, full, _ = runs
    out = root / "full"
    meta = json.loads((out / "omnisearch.json").read_text())
    assert meta["encoder"] == "clip-clap" and meta["layout"]["name"] == "clip-clap" and meta["alpha"] == 0.0
    assert meta["clip"] == str((folder / "clip").resolve()) and meta["clap_adapter"] == "clap_lora"
    assert meta["train"]["steps"] == 4 and meta["train"]["rank"] == 8
    assert len(full.history) == 2 and meta["validation"]["avg_all"] == full.history[-1]["avg_all"]
    adapter = json.loads((out / "clip_lora" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == meta["clip"] and adapter["r"] == 8

    tuned, plain = load_encoder(str(out)), load_encoder(str(folder))
    assert tuned.name == "clip-clap+lora" and tuned.dim == plain.dim  # alpha 0: the heads' space
    assert "+lora-" in tuned.version and tuned.feature_key != plain.feature_key
    items = _items()
    module = full.module.eval()
    with torch.no_grad():
        mine = {m: v.numpy() for m, v in module.embed(items).items()}
    loaded, untrained = tuned.encode(items), plain.encode(items)
    for i, (x, y) in enumerate(zip(loaded, untrained, strict=True)):
        assert set(x.vectors) == set(y.vectors) == {*items[i].modalities(), Modality.FUSED}
        for m, vec in x.vectors.items():
            np.testing.assert_allclose(vec, mine[m.value][i], atol=2e-5)
            assert float(np.abs(vec - y.vectors[m]).max()) > 1e-3
    # the towers themselves changed (the adapters are merged), not only the heads on top of them
    f_tuned, f_plain = tuned.features(items[:1])[0], plain.features(items[:1])[0]
    for key in ("text_sem", "video_frames", "audio_windows"):
        assert float(np.abs(f_tuned[key] - f_plain[key]).max()) > 1e-4, key
