"""Augmentations: shapes kept, seeded determinism, gain / SNR exact, captions never empty."""

from __future__ import annotations

import math

import numpy as np
import pytest

from omnisearch.train import augment as A


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def frames(n: int = 8) -> np.ndarray:
    """Frame i is filled with value 10 * i + 5, so a frame's index can be read back."""
    return (np.arange(n, dtype=np.uint8)[:, None, None, None] * 10 + 5) * np.ones((1, 6, 5, 3), np.uint8)


def test_crop_indices_contiguous_span_and_bounds() -> None:
    for seed in range(200):
        idx = A.crop_indices(10, rng(seed), 0.7, n_out=8)
        assert len(idx) == 8 and np.all(np.diff(idx) >= 0)
        assert idx.min() >= 0 and idx.max() <= 9
        assert idx.max() - idx.min() + 1 >= 7  # float-safe ceil(0.7 * 10) = 7
    assert A.crop_indices(5, rng(), 1.0).tolist() == [0, 1, 2, 3, 4]
    assert A.crop_indices(1, rng(), 0.5).tolist() == [0]
    with pytest.raises(ValueError):
        A.crop_indices(5, rng(), 0.0)


def test_jitter_indices_small_shifts_sorted() -> None:
    base = np.arange(16)
    for seed in range(50):
        j = A.jitter_indices(base, rng(seed), 2, 16)
        assert np.all(np.diff(j) >= 0) and j.min() >= 0 and j.max() <= 15
        # sorting a +-2 jitter of 0..15 moves no element by more than 2
        assert np.abs(j - base).max() <= 2
    assert A.jitter_indices(base, rng(), 0, 16).tolist() == base.tolist()


def test_video_shapes_dtype_order_and_determinism() -> None:
    f = frames()
    for fn in (A.temporal_crop, A.frame_jitter, A.brightness_jitter, A.augment_video):
        out = fn(f, rng(3))
        assert out.shape == f.shape and out.dtype == np.uint8
        assert np.array_equal(out, fn(f, rng(3)))
    assert np.array_equal(f, frames())  # input untouched
    src = A.temporal_crop(f, rng(4))[:, 0, 0, 0].astype(int)
    assert np.all(np.diff(src) >= 0)  # temporal order kept
    assert len({tuple(A.augment_video(f, rng(s))[:, 0, 0, 0]) for s in range(20)}) > 1


def test_brightness_factor_and_clipping() -> None:
    f = np.full((2, 2, 2, 3), 200, np.uint8)
    factor = 1.0 + rng(5).uniform(-0.5, 0.5)
    out = A.brightness_jitter(f, rng(5), 0.5)
    assert int(out[0, 0, 0, 0]) == min(255, round(200 * factor))
    assert out.max() <= 255
    g = np.full((1, 2, 2, 3), 0.5, np.float32)
    assert A.brightness_jitter(g, rng(1), 0.0).tolist() == g.tolist()


def test_random_crop_keeps_at_least_70_percent() -> None:
    wave = np.arange(1000, dtype=np.float32)
    for seed in range(100):
        c = A.random_crop(wave, rng(seed))
        assert len(c) >= 700
        assert np.array_equal(c, wave[int(c[0]) : int(c[0]) + len(c)])  # contiguous
    assert np.array_equal(A.random_crop(wave, rng(9)), A.random_crop(wave, rng(9)))
    assert len(A.random_crop(np.zeros(0, np.float32), rng())) == 0


@pytest.mark.parametrize("db", [-6.0, -3.0, 0.0, 6.0])
def test_gain_is_exact(db: float) -> None:
    wave = np.random.default_rng(1).standard_normal(4000).astype(np.float32)
    out = A.apply_gain(wave, db)
    measured = 10 * math.log10(
        float(np.mean(out.astype(np.float64) ** 2) / np.mean(wave.astype(np.float64) ** 2))
    )
    assert measured == pytest.approx(db, abs=1e-4)
    assert out.dtype == np.float32


def test_random_gain_within_6db() -> None:
    wave = np.ones(100, np.float32)
    for seed in range(100):
        amp = float(A.random_gain(wave, rng(seed))[0])
        assert 10 ** (-6 / 20) - 1e-6 <= amp <= 10 ** (6 / 20) + 1e-6


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0, 35.0])
def test_add_noise_snr_exact(snr: float) -> None:
    t = np.arange(16000) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    out = A.add_noise(wave, snr, rng(2))
    noise = out.astype(np.float64) - wave.astype(np.float64)
    measured = 10 * math.log10(float(np.mean(wave.astype(np.float64) ** 2) / np.mean(noise**2)))
    assert measured == pytest.approx(snr, abs=1e-3)
    assert out.shape == wave.shape and out.dtype == np.float32
    assert np.array_equal(out, A.add_noise(wave, snr, rng(2)))
    silent = np.zeros(100, np.float32)
    assert np.array_equal(A.add_noise(silent, snr, rng()), silent)


def test_augment_audio_deterministic_and_bounded() -> None:
    wave = np.random.default_rng(3).standard_normal(16000).astype(np.float32)
    a, b = A.augment_audio(wave, rng(7)), A.augment_audio(wave, rng(7))
    assert np.array_equal(a, b) and a.dtype == np.float32
    assert 0.7 * 16000 <= len(a) <= 16000
    clean = A.augment_audio(wave, rng(7), A.AugmentConfig(snr_db=None, max_gain_db=0.0))
    start = int(np.flatnonzero(wave == clean[0])[0])
    assert len(clean) == len(a) and np.array_equal(clean, wave[start : start + len(clean)])  # a pure crop


def test_word_dropout_never_empty() -> None:
    for seed in range(300):
        out = A.word_dropout("one two three", rng(seed), p=0.9)
        assert out and set(out.split()) <= {"one", "two", "three"}
        assert A.word_dropout("solo", rng(seed), p=1.0) == "solo"
    assert len(A.word_dropout("a b c d", rng(0), p=1.0).split()) == 1
    assert A.word_dropout("a  dog   barks", rng(0), p=0.0) == "a dog barks"
    assert A.word_dropout("", rng(0)) == ""


def test_word_dropout_rate() -> None:
    text = " ".join(f"w{i}" for i in range(20000))
    kept = len(A.word_dropout(text, rng(4), p=0.1).split()) / 20000
    assert kept == pytest.approx(0.9, abs=0.01)


def test_text_choice_and_caption() -> None:
    caps = ["a dog barks", "a dog is barking loudly", "barking"]
    picks = {A.augment_text_choice(caps, rng(s)) for s in range(50)}
    assert picks == set(caps)
    feats = np.arange(12, dtype=np.float32).reshape(3, 4)
    row = A.augment_text_choice(feats, rng(1))
    assert row.shape == (4,) and any(np.array_equal(row, f) for f in feats)
    assert A.augment_caption(caps, rng(5)) == A.augment_caption(caps, rng(5))
    assert A.augment_caption("just one", rng(0), p=0.0) == "just one"
    with pytest.raises(ValueError):
        A.augment_text_choice([], rng())


def test_feature_augmentations_shapes_and_determinism() -> None:
    vid = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)
    aud = np.random.default_rng(1).standard_normal((5, 16)).astype(np.float32)
    v = A.augment_frame_features(vid, rng(3))
    a = A.augment_audio_features(aud, rng(3))
    assert v.shape == vid.shape and a.shape == aud.shape and v.dtype == a.dtype == np.float32
    assert np.array_equal(v, A.augment_frame_features(vid, rng(3)))
    # rows are original rows (no noise by default), in temporal order
    src = [int(np.flatnonzero((vid == r).all(axis=1))[0]) for r in v]
    assert src == sorted(src)
    src_a = [int(np.flatnonzero((aud == r).all(axis=1))[0]) for r in a]
    assert max(src_a) - min(src_a) + 1 >= math.ceil(0.7 * 5)
    noisy = A.augment_audio_features(aud, rng(3), noise_std=0.1)
    assert noisy.shape == aud.shape and not np.array_equal(noisy, a)


def test_augment_feature_tuple() -> None:
    item = {
        "video": np.ones((8, 4), np.float32),
        "audio": np.ones((6, 4), np.float32),
        "text": np.eye(3, 4, dtype=np.float32),
        "id": "clip-1",
    }
    view = A.augment_feature_tuple(item, rng(0))
    assert view["video"].shape == (8, 4) and view["audio"].shape == (6, 4)
    assert view["text"].shape == (4,) and view["id"] == "clip-1"
    caps = A.augment_feature_tuple({"text": ["a red car", "a car"]}, rng(1))
    assert set(caps) == {"text"} and caps["text"]
    one = A.augment_feature_tuple({"text": "a car drives"}, rng(1), A.AugmentConfig(word_dropout=0.0))
    assert one["text"] == "a car drives"
    x = A.augment_feature_tuple(item, rng(11))
    y = A.augment_feature_tuple(item, rng(11))
    assert all(np.array_equal(x[k], y[k]) for k in ("video", "audio", "text"))
