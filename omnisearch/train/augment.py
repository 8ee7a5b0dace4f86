"""Augmentations that make L_T's augmented view of a (text, video, audio) tuple. Pure numpy.

Every random function takes an `np.random.Generator` and draws only from it, so a seed fixes the output;
inputs are never modified. Two levels:
- raw media: frames (N, H, W, 3) -> `augment_video` (temporal crop resampled to N, frame jitter,
  brightness); mono waveform -> `augment_audio` (random crop keeping >= 70 %, gain +-6 dB, Gaussian noise
  at an SNR); captions -> `augment_caption` (choice among captions, word dropout that never empties it).
- cached frozen features (what the trainer sees): per-frame features (N, d) -> `augment_frame_features`,
  per-window audio features (W, d) -> `augment_audio_features` (both keep their shape), and several
  captions or caption features (K, d) -> `augment_text_choice`; `augment_feature_tuple` does all three.
Gain and SNR only make sense on waveforms; on features the optional `noise_std` adds Gaussian noise.

Example:
    >>> rng = np.random.default_rng(0)
    >>> augment_frame_features(np.zeros((8, 4), np.float32), rng).shape
    (8, 4)
    >>> word_dropout("a", rng, p=1.0)
    'a'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


@dataclass
class AugmentConfig:
    """Strengths of every augmentation; `snr_db=None` or `brightness=0` switch that one off."""

    video_min_keep: float = 0.5  # temporal crop keeps at least this fraction of the frames
    frame_max_shift: int = 1  # frame jitter: each index moves by at most this many frames
    brightness: float = 0.2  # brightness factor drawn from [1 - b, 1 + b]
    audio_min_keep: float = 0.7  # audio crop keeps at least this fraction of the samples / windows
    max_gain_db: float = 6.0
    snr_db: tuple[float, float] | None = (10.0, 30.0)  # SNR drawn uniformly from this range
    word_dropout: float = 0.1
    feature_noise_std: float = 0.0  # Gaussian noise added to cached features (0 = off)
    drop_modality: float = 0.0  # L_T's view of a 2+ modality tuple loses one modality with this probability


# ---- indices -------------------------------------------------------------------------------------


def _min_len(n: int, min_keep: float) -> int:
    """ceil(min_keep * n), robust to float error (0.7 * 10 is 7.000000000000001), at most n."""
    if not 0 < min_keep <= 1:
        raise ValueError(f"min_keep must be in (0, 1], got {min_keep}")
    return min(n, math.ceil(min_keep * n - 1e-9))


def crop_indices(n: int, rng: np.random.Generator, min_keep: float, n_out: int | None = None) -> np.ndarray:
    """Indices of a random contiguous span of length in [ceil(min_keep * n), n], resampled to `n_out` (n).

    Example:
        >>> crop_indices(4, np.random.default_rng(0), 1.0).tolist()
        [0, 1, 2, 3]
    """
    if n < 1:
        raise ValueError("crop_indices needs n >= 1")
    n_out = n if n_out is None else n_out
    length = int(rng.integers(_min_len(n, min_keep), n + 1))
    start = int(rng.integers(0, n - length + 1))
    return start + np.rint(np.linspace(0, length - 1, n_out)).astype(np.int64)


def jitter_indices(idx: np.ndarray, rng: np.random.Generator, max_shift: int, n: int) -> np.ndarray:
    """Shift each index by an integer in [-max_shift, max_shift], clip to [0, n - 1], keep temporal order."""
    shifts = rng.integers(-max_shift, max_shift + 1, size=len(idx)) if max_shift > 0 else 0
    return np.sort(np.clip(np.asarray(idx) + shifts, 0, n - 1))


# ---- video ---------------------------------------------------------------------------------------


def temporal_crop(frames: np.ndarray, rng: np.random.Generator, min_keep: float = 0.5) -> np.ndarray:
    """Keep a contiguous run of frames (>= min_keep of them) and resample it back to N frames."""
    return frames[crop_indices(len(frames), rng, min_keep)]


def frame_jitter(frames: np.ndarray, rng: np.random.Generator, max_shift: int = 1) -> np.ndarray:
    """Replace each frame by a neighbour at most `max_shift` frames away (order kept, N kept)."""
    return frames[jitter_indices(np.arange(len(frames)), rng, max_shift, len(frames))]


def brightness_jitter(frames: np.ndarray, rng: np.random.Generator, max_delta: float = 0.2) -> np.ndarray:
    """Scale intensities by one factor in [1 - max_delta, 1 + max_delta]; uint8 stays uint8 (clipped)."""
    factor = 1.0 + rng.uniform(-max_delta, max_delta)
    out = frames.astype(np.float32) * factor
    if np.issubdtype(frames.dtype, np.integer):
        return np.clip(np.rint(out), 0, 255).astype(frames.dtype)
    return out.astype(frames.dtype)


def augment_video(
    frames: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig | None = None
) -> np.ndarray:
    """Temporal crop + frame jitter + brightness on frames (N, H, W, 3); shape and dtype kept."""
    cfg = cfg or AugmentConfig()
    n = len(frames)
    idx = jitter_indices(crop_indices(n, rng, cfg.video_min_keep), rng, cfg.frame_max_shift, n)
    out = frames[idx]
    return brightness_jitter(out, rng, cfg.brightness) if cfg.brightness > 0 else out


# ---- audio ---------------------------------------------------------------------------------------


def random_crop(wave: np.ndarray, rng: np.random.Generator, min_keep: float = 0.7) -> np.ndarray:
    """A contiguous random segment of at least ceil(min_keep * len) samples (no resampling)."""
    n = len(wave)
    if n == 0:
        return wave.copy()
    length = int(rng.integers(_min_len(n, min_keep), n + 1))
    start = int(rng.integers(0, n - length + 1))
    return wave[start : start + length].copy()


def apply_gain(wave: np.ndarray, gain_db: float) -> np.ndarray:
    """Multiply by 10 ** (gain_db / 20): +6 dB is about x2 in amplitude."""
    return (wave * 10.0 ** (gain_db / 20.0)).astype(np.float32)


def random_gain(wave: np.ndarray, rng: np.random.Generator, max_db: float = 6.0) -> np.ndarray:
    """`apply_gain` with a gain drawn uniformly from [-max_db, max_db]."""
    return apply_gain(wave, float(rng.uniform(-max_db, max_db)))


def add_noise(wave: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise scaled so that mean(s^2) / mean(noise^2) is exactly 10 ** (snr_db / 10).

    Silence (zero power) is returned unchanged, as float32.
    """
    x = wave.astype(np.float64)
    p_signal = float(np.mean(x**2)) if x.size else 0.0
    if p_signal == 0.0:
        return wave.astype(np.float32)
    noise = rng.standard_normal(x.shape)
    noise *= math.sqrt(p_signal / 10.0 ** (snr_db / 10.0) / float(np.mean(noise**2)))
    return (x + noise).astype(np.float32)


def augment_audio(wave: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig | None = None) -> np.ndarray:
    """Random crop (>= 70 % kept, so the length shrinks) + gain +-6 dB + noise at an SNR from `cfg.snr_db`."""
    cfg = cfg or AugmentConfig()
    out = random_gain(random_crop(wave, rng, cfg.audio_min_keep), rng, cfg.max_gain_db)
    if cfg.snr_db is not None:
        out = add_noise(out, float(rng.uniform(*cfg.snr_db)), rng)
    return out


# ---- text ----------------------------------------------------------------------------------------


def augment_text_choice(options: Sequence[T] | np.ndarray, rng: np.random.Generator) -> T | np.ndarray:
    """One of several captions (strings) or caption features (rows of a (K, d) array), uniformly.

    Example:
        >>> augment_text_choice(["only one"], np.random.default_rng(0))
        'only one'
    """
    if len(options) == 0:
        raise ValueError("augment_text_choice needs at least one caption")
    return options[int(rng.integers(len(options)))]


def word_dropout(text: str, rng: np.random.Generator, p: float = 0.1) -> str:
    """Drop each whitespace-separated word with probability p; if all would go, keep one at random.

    Words kept are joined with single spaces. A text with no words is returned unchanged.
    """
    words = text.split()
    if not words:
        return text
    keep = rng.random(len(words)) >= p
    if not keep.any():
        keep[int(rng.integers(len(words)))] = True
    return " ".join(w for w, k in zip(words, keep, strict=True) if k)


def augment_caption(captions: Sequence[str] | str, rng: np.random.Generator, p: float = 0.1) -> str:
    """Choose one caption of several (or take the single string), then `word_dropout`."""
    text = captions if isinstance(captions, str) else augment_text_choice(captions, rng)
    return word_dropout(text, rng, p)


# ---- cached features -----------------------------------------------------------------------------


def _feature_noise(x: np.ndarray, rng: np.random.Generator, std: float) -> np.ndarray:
    if std <= 0:
        return x
    return (x + rng.normal(0.0, std, size=x.shape)).astype(x.dtype)


def augment_frame_features(
    feats: np.ndarray,
    rng: np.random.Generator,
    min_keep: float = 0.5,
    max_shift: int = 1,
    noise_std: float = 0.0,
) -> np.ndarray:
    """Temporal crop + frame jitter on per-frame features (N, d) -> (N, d), one gather, dtype kept."""
    n = len(feats)
    idx = jitter_indices(crop_indices(n, rng, min_keep), rng, max_shift, n)
    return _feature_noise(feats[idx], rng, noise_std)


def augment_audio_features(
    feats: np.ndarray, rng: np.random.Generator, min_keep: float = 0.7, noise_std: float = 0.0
) -> np.ndarray:
    """Random crop keeping >= min_keep of the windows, resampled back to W: (W, d) -> (W, d)."""
    return _feature_noise(feats[crop_indices(len(feats), rng, min_keep)], rng, noise_std)


def augment_feature_tuple(
    item: Mapping[str, Any], rng: np.random.Generator, cfg: AugmentConfig | None = None
) -> dict[str, Any]:
    """The augmented view of one cached tuple: {"video": (N, d), "audio": (W, d), "text": captions}.

    "text" may be a list of caption strings (one chosen, then word dropout), a (K, d) array of caption
    features (one row chosen) or a (d,) vector (kept). Missing keys stay missing; other keys are copied.

    Example:
        >>> item = {"video": np.ones((8, 3)), "audio": np.ones((5, 3)), "text": ["a dog", "a barking dog"]}
        >>> view = augment_feature_tuple(item, np.random.default_rng(0))
        >>> view["video"].shape, view["audio"].shape, isinstance(view["text"], str)
        ((8, 3), (5, 3), True)
    """
    cfg = cfg or AugmentConfig()
    out = dict(item)
    if "video" in item:
        out["video"] = augment_frame_features(
            item["video"], rng, cfg.video_min_keep, cfg.frame_max_shift, cfg.feature_noise_std
        )
    if "audio" in item:
        out["audio"] = augment_audio_features(item["audio"], rng, cfg.audio_min_keep, cfg.feature_noise_std)
    text = item.get("text")
    if isinstance(text, str) or (isinstance(text, Sequence) and text and isinstance(text[0], str)):
        out["text"] = augment_caption(text, rng, cfg.word_dropout)
    elif isinstance(text, np.ndarray) and text.ndim == 2:
        out["text"] = augment_text_choice(text, rng)
    return out
