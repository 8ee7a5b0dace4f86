"""clip-clap on tiny random CLIP + CLAP checkpoints built here with save_pretrained."""

from __future__ import annotations

import numpy as np
import pytest
from media_cases import assert_fused_follows_each_modality, modality_cases, random_media, text_vectors

from omnisearch.types import EncoderInput, Modality

T, V, A, F = Modality.TEXT, Modality.VIDEO, Modality.AUDIO, Modality.FUSED


@pytest.fixture(scope="module")
def enc(tmp_path_factory):
    from tiny_checkpoints import build_clip_clap

    from omnisearch.models.registry import load_encoder

    return load_encoder(str(build_clip_clap(tmp_path_factory.mktemp("clip_clap"))))


def _media(seed=0, seconds=3.0):
    return random_media(seed, seconds)


def test_keys_shapes_norms_and_blocks(enc):
    fr, au = _media()
    cases = modality_cases(fr, au)
    embs = enc.encode(list(cases.values()))
    assert enc.dim == enc.clip_dim + enc.clap_dim == 32
    for mods, emb in zip(cases, embs, strict=True):
        assert set(emb.vectors) == {*mods, F}
        for vec in emb.vectors.values():
            assert vec.shape == (enc.dim,) and vec.dtype == np.float32
            assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5
    c = enc.clip_dim
    text, video, audio = embs[0].vectors[T], embs[1].vectors[V], embs[2].vectors[A]
    assert np.allclose(video[c:], 0) and np.allclose(audio[:c], 0)  # one block each
    assert abs(float(np.linalg.norm(text[:c])) ** 2 - 0.5) < 1e-5  # text: half CLIP, half CLAP
    assert float(video @ audio) == 0.0  # nothing links CLIP images to CLAP sounds (documented)


def test_text_block_is_the_clip_text_embedding(enc):
    import torch

    model, tok, _ = enc.clip
    with torch.inference_mode():
        ref = model.get_text_features(**tok(["a dog barks"], return_tensors="pt"))
    ref = (ref if hasattr(ref, "shape") else ref.pooler_output)[0].numpy()
    got = text_vectors(enc, ["a dog barks"])[0][: enc.clip_dim]
    np.testing.assert_allclose(got / np.linalg.norm(got), ref / np.linalg.norm(ref), atol=1e-5)


def test_deterministic_and_batch_invariant(enc):
    fr, au = _media(0, seconds=21.0)  # > 10 s: windows, never a random crop
    items = [EncoderInput(text="a"), EncoderInput(text="a much longer caption about a barking dog"),
             EncoderInput(frames=fr, audio=au)]  # fmt: skip
    both = enc.encode(items)
    again = enc.encode(items)
    alone = [enc.encode([it])[0] for it in items]
    for x, y, z in zip(both, again, alone, strict=True):
        for m in x.vectors:
            np.testing.assert_array_equal(x.vectors[m], y.vectors[m])
            np.testing.assert_allclose(x.vectors[m], z.vectors[m], atol=1e-5)


def test_fused_changes_when_any_single_modality_changes(enc):
    (fr, au), (fr2, _) = _media(0), _media(1)
    assert_fused_follows_each_modality(enc, fr, au, fr2)


def test_fusion_hook_is_replaceable(enc):
    fr, _ = _media()
    item = EncoderInput(text="a dog", frames=fr)
    default = enc.encode([item])[0].vectors[F]
    enc.fusion = lambda vecs: vecs["video"]
    try:
        e = enc.encode([item])[0]
        np.testing.assert_array_equal(e.vectors[F], e.vectors[V])
        assert not np.allclose(default, e.vectors[F])
    finally:
        from omnisearch.models.fusion import weighted_mean_fusion

        enc.fusion = weighted_mean_fusion


def test_audio_windows_and_missing_weights_error(monkeypatch):
    from omnisearch.models.clip_clap import ClipClap, audio_windows

    assert [len(w) for w in audio_windows(np.zeros(480_000 * 2 + 100), 480_000, 48_000)] == [480_000] * 2
    assert [len(w) for w in audio_windows(np.zeros(1000), 480_000, 48_000)] == [1000]
    monkeypatch.delenv("OMNISEARCH_CLIP", raising=False)
    monkeypatch.delenv("OMNISEARCH_CLAP", raising=False)
    with pytest.raises(ValueError, match="OMNISEARCH_CLIP"):
        ClipClap()
