"""Heads training over clip-clap's frozen features, on tiny random CLIP + CLAP checkpoints (save_pretrained).

Covers: features/project reproduce encode; the layout's base part is clip-clap's own block vector; the
`omnisearch train --model CLIP_CLAP_FOLDER` command end to end on generated media; the model folder it
writes loads with load_encoder and links CLIP frames to CLAP sounds (v2a is no longer a constant 0).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import synth
from media_cases import random_media

from omnisearch.types import EncoderInput, Modality

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")
T, V, A, F = Modality.TEXT, Modality.VIDEO, Modality.AUDIO, Modality.FUSED


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from tiny_checkpoints import build_clip_clap

    return build_clip_clap(tmp_path_factory.mktemp("clip_clap"))


@pytest.fixture(scope="module")
def enc(folder):
    from omnisearch.models.registry import load_encoder

    return load_encoder(str(folder))


def _media(seed: int, seconds: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    return random_media(seed, seconds, frames=4)


def test_project_of_features_equals_encode(enc):
    fr, au = _media(0)
    items = [EncoderInput(text="a dog barks"), EncoderInput(frames=fr, audio=au),
             EncoderInput(text="rain", frames=fr, audio=au)]  # fmt: skip
    feats = enc.features(items)
    assert feats[1]["video_frames"].shape == (4, enc.clip_dim)
    assert np.allclose(np.linalg.norm(feats[1]["audio_windows"], axis=1), 1.0, atol=1e-5)
    for a, b in zip(enc.project(feats), enc.encode(items), strict=True):
        assert set(a.vectors) == set(b.vectors)
        for m in a.vectors:
            np.testing.assert_allclose(a.vectors[m], b.vectors[m], atol=1e-6)


def test_layout_base_is_the_block_vector(enc):
    fr, au = _media(1)
    feat = enc.features([EncoderInput(text="a bell", frames=fr, audio=au)])[0]
    block = enc.project([feat])[0].vectors
    layout = enc.feature_layout
    assert layout.input_dims == {"text": enc.dim, "video": enc.dim, "audio": enc.dim}
    for mod in (T, V, A):
        np.testing.assert_allclose(layout.modality_input(mod.value, feat), block[mod], atol=1e-6)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    if not synth.have_tools("ffmpeg"):
        pytest.skip("needs ffmpeg")
    root = tmp_path_factory.mktemp("cc_media")
    colours = ["red", "green", "blue", "yellow", "white", "purple"]
    lines = []
    for i, colour in enumerate(colours):
        synth.make_video(root / f"v{i}.mp4", seconds=1.5, color=colour, tone_hz=300 + 150 * i, size=(64, 48))
        lines.append({"id": f"c{i}", "video": f"v{i}.mp4", "text": [f"a {colour} box", f"{colour} square"]})
    path = root / "train.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_cli_trains_clip_clap_heads_into_a_loadable_folder(folder, manifest, tmp_path):
    from typer.testing import CliRunner

    from omnisearch.cli.main import app
    from omnisearch.models.registry import load_encoder

    out = tmp_path / "run"
    args = ["train", str(manifest), "--out", str(out), "--model", str(folder), "--val", str(manifest)]
    args += ["--epochs", "2", "--batch-size", "4", "--lr", "3e-3", "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "val R@1" in result.output
    meta = json.loads((out / "omnisearch.json").read_text())
    assert meta["encoder"] == "clip-clap" and meta["layout"]["name"] == "clip-clap"
    assert meta["train"]["steps"] == 2 and len(meta["heads"]["input_dims"]) == 3

    tuned = load_encoder(str(out))
    plain = load_encoder(str(folder))
    assert tuned.name == "clip-clap+heads" and tuned.dim == plain.dim * 2  # alpha 0.5: block + head
    fr, au = _media(2)
    e_video, e_audio = tuned.encode([EncoderInput(frames=fr), EncoderInput(audio=au)])
    p_video, p_audio = plain.encode([EncoderInput(frames=fr), EncoderInput(audio=au)])
    assert float(p_video.vectors[V] @ p_audio.vectors[A]) == 0.0  # the block space cannot link them
    assert abs(float(e_video.vectors[V] @ e_audio.vectors[A])) > 1e-4  # the heads' space does
    for vec in (*e_video.vectors.values(), *e_audio.vectors.values()):
        assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5

    from omnisearch.eval.manifest import read_manifest
    from omnisearch.train.features import extract_features

    def no_decoding(*a, **k):
        raise AssertionError("decoded although the features are cached")

    cached = extract_features(read_manifest(manifest), plain, tmp_path / "cache", decoder=no_decoding)
    assert [f.failed for f in cached] == [""] * 6 and all("video_frames" in f.media for f in cached)
    again = CliRunner().invoke(app, [*args, "--steps", "1", "--out", str(tmp_path / "run2")])
    assert again.exit_code == 0 and "failed to decode" not in again.output, again.output


def test_heads_that_do_not_match_the_features_are_refused(enc):
    from omnisearch.models.heads import HeadsBlend, HeadsConfig, OmniHeads

    with pytest.raises(ValueError, match="clip-clap features"):
        HeadsBlend(OmniHeads(HeadsConfig(dim=16, hidden=8, residual=False)), 0.0, layout=enc.feature_layout)


def test_cli_lora_mode_trains_towers_and_heads(folder, manifest, tmp_path):
    from typer.testing import CliRunner

    from omnisearch.cli.main import app
    from omnisearch.models.registry import load_encoder

    out = tmp_path / "run"
    args = ["train", str(manifest), "--out", str(out), "--model", str(folder), "--lora", "--device", "cpu"]
    args += ["--steps", "2", "--batch-size", "3", "--lr", "1e-3", "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "omnisearch.json").read_text())
    assert meta["clip_adapter"] and meta["clap_adapter"] and meta["train"]["steps"] == 2
    tuned, plain = load_encoder(str(out)), load_encoder(str(folder))
    fr, _ = _media(3)
    a = tuned.features([EncoderInput(frames=fr)])[0]["video_frames"]
    b = plain.features([EncoderInput(frames=fr)])[0]["video_frames"]
    assert not np.allclose(a, b)  # the merged LoRA changed the CLIP tower itself
    bad = CliRunner().invoke(app, ["train", str(manifest), "--out", str(tmp_path / "x"), "--lora"])
    assert bad.exit_code == 2 and "--lora is for clip-clap" in bad.output
