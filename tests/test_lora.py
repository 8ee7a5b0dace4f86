"""LoRA training of omniretriever-7b on a tiny random thinker: what trains, the batches' hard negatives,
resume, the model folder (load_encoder gives the trained vectors) and the decoded-media cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

from lora_cases import RATE, assert_short_runs_equal, fit_one_batch, mixed_rows, short_runs, synth_row  # noqa: E402

from omnisearch.models.registry import load_encoder  # noqa: E402
from omnisearch.train.lora import LoraTask, LoraTrainConfig, train_lora  # noqa: E402
from omnisearch.train.media import make_media_batch, media_rows  # noqa: E402
from omnisearch.types import EncoderInput, Modality  # noqa: E402


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from tiny_checkpoints import build_omniretriever

    return build_omniretriever(tmp_path_factory.mktemp("lora-base"), head="file")


# ---- batches -------------------------------------------------------------------------------------
def test_batch_views_and_hard_negative_fallback_for_partial_tuples():
    rows = [synth_row(i) for i in range(3)] + [synth_row(i, ("text", "audio")) for i in (3, 4)]
    b = make_media_batch(rows, np.random.default_rng(0), step=2)  # step 2: shuffle the video
    assert b.masks["video"].tolist() == [True] * 3 + [False] * 2 and b.masks["text"].all()
    assert b.hardneg_kinds == ["video"] * 3 + ["text"] * 2 and b.hardneg_mask.all()
    for i in range(3):  # video deranged among rows 0-2, text and audio kept
        hn, c = b.hardneg[i], b.clean[i]
        src = [j for j in range(3) if np.array_equal(hn.frames, rows[j].media()["v"])]
        assert src and src[0] != i and hn.text == c.text and hn.audio is c.audio
    for i, j in ((3, 4), (4, 3)):  # no video: falls back to swapping the text (the next kind they have)
        hn = b.hardneg[i]
        assert hn.text == b.clean[j].text != b.clean[i].text and hn.audio is b.clean[i].audio
        assert hn.frames is None
    for i, (row, c, a) in enumerate(zip(rows, b.clean, b.aug, strict=True)):
        assert c.text in row.captions and set(a.text.split()) <= set(" ".join(row.captions).split())
        assert len(a.audio) <= len(c.audio) and not np.allclose(a.audio[:100], c.audio[:100])
        if i < 3:
            assert a.frames.shape == c.frames.shape and a.frames.dtype == np.uint8
    # a row left alone with the only kind it has gets no hard negative
    lone = [synth_row(0, ("video",))] + [synth_row(i, ("text", "audio")) for i in (1, 2)]
    b0 = make_media_batch(lone, np.random.default_rng(1), step=0)
    assert b0.hardneg_kinds == ["", "text", "text"] and b0.hardneg[0] is None
    again = make_media_batch(rows, np.random.default_rng(0), step=2)  # one seed fixes everything
    assert [x.text for x in again.aug] == [x.text for x in b.aug]
    assert all(np.array_equal(x.audio, y.audio) for x, y in zip(again.aug, b.aug, strict=True))


def test_long_audio_is_cut_to_max_audio_s():
    row = synth_row(0, ("audio",), seconds=5.0)
    b = make_media_batch([row, synth_row(1, ("audio",))], np.random.default_rng(0), 0, max_audio_s=2.0)
    assert len(b.clean[0].audio) == 2 * RATE and len(b.clean[1].audio) == int(1.5 * RATE)


# ---- what trains ---------------------------------------------------------------------------------
@pytest.mark.parametrize("train_head,checkpointing", [(True, False), (False, True)])
def test_only_lora_and_head_train_and_the_loss_falls(base, train_head, checkpointing):
    torch.manual_seed(0)
    cfg = LoraTrainConfig(lora_dropout=0.0, train_head=train_head, gradient_checkpointing=checkpointing)
    task = LoraTask(cfg, 1, base, device="cpu")
    module = task.module
    trainable = {n for n, p in module.named_parameters() if p.requires_grad}
    lora = {n for n in trainable if ".lora_" in n}
    assert trainable - lora == (
        {"head.0.weight", "head.0.bias", "head.2.weight", "head.2.bias"} if train_head else set()
    )
    layers = module.enc.layers
    for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):  # every language-model layer, nothing else
        assert sum(f"self_attn.{proj}.lora_A" in n for n in lora) == layers
    assert all("language_model.layers" in n for n in lora) and len(lora) == 2 * 4 * layers
    assert any(getattr(m, "gradient_checkpointing", False) for m in module.modules()) == checkpointing
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    module.train()
    losses = fit_one_batch(task, steps=6)
    assert losses[-1] < losses[0]
    for n, p in module.named_parameters():
        changed = not torch.equal(p.detach(), before[n])
        assert changed == (n in trainable), n  # trained tensors moved, the frozen base did not
    assert len(module.state_dict()) == len(trainable)  # checkpoints hold the trainable tensors only


def test_an_adapter_folder_is_continued_unmerged(tmp_path):
    from tiny_checkpoints import build_omniretriever

    ad = build_omniretriever(tmp_path / "ad", adapter=True, head="adapter")
    task = LoraTask(LoraTrainConfig(rank=8), 1, ad, device="cpu")
    lora = [n for n, p in task.module.named_parameters() if p.requires_grad and ".lora_" in n]
    assert task.module.enc.peft is task.module.peft and len(lora) == 2 * 3 * 2  # its q/k/v, 2 layers
    assert all(p.shape[0] == 4 for n, p in task.module.named_parameters() if ".lora_A" in n)  # its r=4
    items = [EncoderInput(text="a dog barks"), EncoderInput(audio=synth_row(1, ("audio",)).media()["a"])]
    merged = load_encoder(str(ad)).encode(items)
    unmerged = task.module.eval().enc.encode(items)
    for x, y in zip(merged, unmerged, strict=True):
        for m in x.vectors:
            np.testing.assert_allclose(y.vectors[m], x.vectors[m], atol=2e-5)
    loss, _ = task.module.train()(task.make_batch(mixed_rows(4), np.random.default_rng(0), 1), 1)
    loss.backward()
    assert all(p.grad is not None for n, p in task.module.named_parameters() if n in lora)


# ---- resume and the model folder -----------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(base, tmp_path_factory):
    return short_runs(train_lora, LoraTrainConfig, base, tmp_path_factory.mktemp("lora-runs"))


def test_resumed_run_matches_uninterrupted(runs):
    assert_short_runs_equal(runs, ("adapter_model.safetensors", "head.safetensors"))


def test_model_folder_loads_and_gives_the_trained_vectors(runs, base):
    root, full, _ = runs
    meta = json.loads((root / "full" / "omnisearch.json").read_text())
    assert meta["encoder"] == "omniretriever-7b" and meta["base"] == str(base.resolve())
    assert meta["train"]["steps"] == 4 and meta["train"]["rank"] == 8
    assert len(full.history) == 2 and set(full.history[-1]["r1"]) >= {"t2v", "a2t", "t2av", "at2v"}
    assert meta["validation"]["avg_all"] == full.history[-1]["avg_all"]
    g = np.random.default_rng(7)
    frames = g.integers(0, 255, (8, 36, 64, 3), dtype=np.uint8)
    audio = (0.1 * g.standard_normal(RATE * 2)).astype(np.float32)
    items = [EncoderInput(text="a dog barks", frames=frames, audio=audio), EncoderInput(audio=audio)]
    module = full.module.eval()
    mine = module.enc.encode(items)
    loaded = load_encoder(str(root / "full")).encode(items)
    untrained = load_encoder(str(base)).encode(items)
    for x, y, z in zip(mine, loaded, untrained, strict=True):
        assert set(x.vectors) == set(y.vectors)
        for m in x.vectors:
            np.testing.assert_allclose(y.vectors[m], x.vectors[m], atol=2e-5)
            assert float(np.abs(z.vectors[m] - x.vectors[m]).max()) > 1e-3  # training changed them
    with torch.no_grad():  # the training path gives the encoder's vectors
        t = module.enc.embed_tensor([EncoderInput(text="a dog barks")]).numpy()[0]
    np.testing.assert_allclose(t, mine[0].vectors[Modality.TEXT], atol=1e-5)


# ---- the decoded-media cache ---------------------------------------------------------------------
def test_media_rows_decode_once_and_are_reused(tmp_path):
    sf = pytest.importorskip("soundfile")
    from PIL import Image

    from omnisearch.eval.manifest import read_manifest
    from omnisearch.media.item_decode import decode_item

    sf.write(tmp_path / "a.wav", synth_row(0, ("audio",)).media()["a"], RATE)
    Image.fromarray(np.full((48, 64, 3), 120, np.uint8)).save(tmp_path / "p.png")
    lines = [
        {"id": "a", "audio": "a.wav", "text": ["a tone", "a beep"]},
        {"id": "p", "image": "p.png", "text": "grey"},
        {"id": "gone", "audio": "missing.wav", "text": "nothing"},
    ]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    items = read_manifest(tmp_path / "m.jsonl", on_missing="ignore")
    calls: list[str] = []

    def counting(it, *a):
        calls.append(it.id)
        return decode_item(it, *a)

    rows = media_rows(items, tmp_path / "cache", decoder=counting)
    assert calls == ["a", "p", "gone"]
    assert [r.present for r in rows] == [("text", "audio"), ("text", "video"), ("text",)]
    assert rows[2].failed.startswith("audio: file not found") and rows[2].path is None
    a, p = rows[0].media(), rows[1].media()
    assert a["a"].dtype == np.float32 and abs(len(a["a"]) - 1.5 * RATE) < 10
    assert p["v"].dtype == np.uint8 and p["v"].shape[0] == 1 and rows[0].path.is_file()

    def fail(*_a):
        raise AssertionError("decoded again")

    rows2 = media_rows(items[:2], tmp_path / "cache", decoder=fail)
    assert np.array_equal(rows2[0].media()["a"], a["a"]) and np.array_equal(rows2[1].media()["v"], p["v"])
    sf.write(tmp_path / "a.wav", np.zeros(RATE, np.float32), RATE)  # new content: a new key, decoded again
    with pytest.raises(AssertionError, match="decoded again"):
        media_rows(items[:1], tmp_path / "cache", decoder=fail)


def test_cli_train_runs_lora_for_omniretriever(base, tmp_path):
    import synth
    from typer.testing import CliRunner

    from omnisearch.cli.main import app

    if not synth.have_tools("ffmpeg"):
        pytest.skip("needs ffmpeg")
    lines = []
    for i, colour in enumerate(["red", "green", "blue", "white"]):
        video = tmp_path / f"v{i}.mp4"
        synth.make_video(video, seconds=1.2, color=colour, tone_hz=300 + 200 * i, size=(64, 48))
        lines.append(json.dumps({"id": f"c{i}", "video": f"v{i}.mp4", "text": [f"a {colour} box"]}))
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    args = ["train", str(tmp_path / "m.jsonl"), "--model", str(base), "--out", str(out), "--device", "cpu"]
    args += ["--steps", "2", "--batch-size", "2", "--val", str(tmp_path / "m.jsonl")]
    result = CliRunner().invoke(app, [*args, "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    assert "LoRA model folder" in result.output and "val R@1" in result.output
    meta = json.loads((out / "omnisearch.json").read_text())
    assert meta["encoder"] == "omniretriever-7b" and meta["train"]["lr"] == 1e-5  # LoRA's default
    assert (out / "adapter_config.json").is_file() and (out / "head.safetensors").is_file()
    emb = load_encoder(str(out)).encode([EncoderInput(text="a red box")])[0]
    assert abs(float(np.linalg.norm(emb.vectors[Modality.TEXT])) - 1.0) < 1e-4
